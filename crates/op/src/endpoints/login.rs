//! `/login` (POST): the answer to the login page, for one of the methods it offered.
//!
//! - A pending request of kind `authorize` waits for a full login: every method is offered; the proven user
//!   gets a new session recording that method.
//! - One of kind `stepup` waits for a further step of the session's user (its CSRF token is bound to the
//!   session): only the methods that add what the request lacks are offered, the proven user must be the
//!   session's, and the session (under a new cookie) records the method next to those passed before.
//! - A multi-step method posts twice: `step=begin` (the method's state is kept server-side under a ceremony
//!   id, and the browser's step is shown), then the `ceremony` id with the browser's answer.
//!
//! The pending request is consumed once a method proved the user. If the request still lacks a step, the next
//! page asks for it; otherwise the flow goes on to consent. A failed attempt shows the page again (401).
//!
//! Guessing is limited three ways: the per-account and per-address back-off of [`crate::authn::throttle`]
//! (429 with `Retry-After`, checked before any verification work), at most [`MAX_ATTEMPTS`] failures and begun
//! ceremonies per pending request (then it is used up), and the bounded verification queue of
//! [`crate::authn::throttle::Throttle::admit`] (503 with `Retry-After` when full).
//!
//! Must not: accept a method the page did not offer, a form whose pending request or CSRF token does not check
//! out (see [`super::interaction`]), or a step-up by another user.

use std::sync::Arc;

pub use super::attempts::MAX_ATTEMPTS;
use super::attempts::{Attempt, Outcome, as_user, attempt, next_step};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_oidc::{ErrorCode, Params, Prompt};

use super::authorize::consent::{Known, after_login, pending_for, remembered};
use super::authorize::prompt::names_another_user;
use super::authorize::request::Validated;
use super::authorize::{MAX_STORED_REQUEST, PENDING_LIFETIME};
use super::interaction::pending_from_form;
use crate::authn::{AuthRecord, LoginMethod, LoginPage, PasskeyLogin, ceremony, policy};
use crate::http::binding::BrowserBinding;
use crate::http::client_addr::ClientIp;
use crate::http::{self, HttpResult, csrf, db, error_page};
use crate::pages::{self, MethodSection};
use crate::provider::Provider;
use crate::store::{PendingRow, SessionRow, UserRow};
use crate::{now, random_token};

/// What the login page is for.
pub(crate) enum Phase {
    /// A full login: every method.
    Login,
    /// A further step of the session's user.
    StepUp {
        /// The session's cookie hash.
        hash: String,
        /// The session.
        session: SessionRow,
    },
}

/// Stores `v` as a pending request waiting for a full login and shows the login page for it.
pub(crate) async fn first_page(
    p: &Provider,
    v: &Validated,
    headers: &HeaderMap,
    t: i64,
) -> HttpResult<Response> {
    let browser = BrowserBinding::of(headers, p.secure_cookies());
    let pending = pending_for(v, t, &browser);
    if pending.params.len() > MAX_STORED_REQUEST {
        return Ok(p.auth_error(
            &v.error_target(),
            ErrorCode::InvalidRequest,
            "the request is too large to keep while the user signs in",
        ));
    }
    p.store.put_pending(&pending).await.map_err(db)?;
    // `idp_id` (the identity-provider selector's choice) names a login-bridge site or an upstream provider: the
    // browser goes straight there.
    if let Some(mut resp) = super::federation::shortcut(p, &pending, v).await? {
        browser.set_cookie(&mut resp, p.secure_cookies());
        return Ok(resp);
    }
    let named = second_factor_user(p, v).await?;
    let offered = login_methods(p, v, named.as_ref()).await?;
    for m in &offered {
        m.refresh_page(&p.store, t).await.map_err(db)?;
    }
    let hint = v.req.login_hint.as_deref();
    let autofill = match (&p.passkeys, &v.second_factor) {
        (Some(passkeys), None) => conditional(p, passkeys, &pending).await?,
        _ => None,
    };
    let mut resp = page_with(
        v,
        &pending,
        (&offered, autofill),
        (hint, named.as_ref()),
        None,
        StatusCode::OK,
    );
    browser.set_cookie(&mut resp, p.secure_cookies());
    Ok(resp)
}

/// The methods a full login for `v` offers: those that sign a user in on their own, or for a second-factor
/// request those of another factor than the password the relying party checked that its `named` user enrolled.
async fn login_methods<'p>(
    p: &'p Provider,
    v: &Validated,
    named: Option<&UserRow>,
) -> HttpResult<Vec<&'p dyn LoginMethod>> {
    if v.second_factor.is_some() {
        let step = policy::missing_step(&p.methods, &v.req, &AuthRecord::default());
        return super::attempts::enrolled(p, named, step.unwrap_or_default()).await;
    }
    Ok(p.methods.iter().filter(|m| m.first_factor()).collect())
}

/// The user a second-factor request names, when it is one and names somebody (only that user's passkeys are
/// offered, and only that user may answer).
async fn second_factor_user(p: &Provider, v: &Validated) -> HttpResult<Option<UserRow>> {
    match &v.second_factor {
        Some(Some(id)) => p.store.user(id).await.map_err(db),
        _ => Ok(None),
    }
}

/// Stores `v` as a pending request waiting for a further step of `session`'s user, and shows the page
/// offering `offered`.
pub(crate) async fn step_up_page(
    p: &Provider,
    v: &Validated,
    headers: &HeaderMap,
    (session, user): (&SessionRow, Option<&UserRow>),
    offered: &[&dyn LoginMethod],
    t: i64,
) -> HttpResult<Response> {
    let browser = BrowserBinding::of(headers, p.secure_cookies());
    let pending = PendingRow {
        kind: "stepup".into(),
        csrf: csrf::bound_to_session(&random_token(), &session.sid),
        ..pending_for(v, t, &browser)
    };
    if pending.params.len() > MAX_STORED_REQUEST {
        return Ok(p.auth_error(
            &v.error_target(),
            ErrorCode::InvalidRequest,
            "the request is too large to keep while the user signs in",
        ));
    }
    p.store.put_pending(&pending).await.map_err(db)?;
    let hint = user.map(|u| u.username.as_str());
    let mut resp = page(v, &pending, offered, hint, user, None, StatusCode::OK);
    browser.set_cookie(&mut resp, p.secure_cookies());
    Ok(resp)
}

/// Passkey autofill for the first login page of `row`: a discoverable passkey ceremony begun with the page
/// (kept server-side like any other), as a hidden section of the page.
async fn conditional(
    p: &Provider,
    passkeys: &PasskeyLogin,
    row: &PendingRow,
) -> HttpResult<Option<(String, String)>> {
    let challenge = passkeys.begin_conditional().map_err(db)?;
    Ok(
        ceremony::begin(&p.store, row, passkeys.id(), &challenge.state)
            .await
            .map_err(db)?
            .ok()
            .map(|id| (id, challenge.form)),
    )
}

/// The login page offering `offered` for `row`.
#[allow(clippy::too_many_arguments)]
fn page(
    v: &Validated,
    row: &PendingRow,
    offered: &[&dyn LoginMethod],
    login_hint: Option<&str>,
    user: Option<&UserRow>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    page_with(v, row, (offered, None), (login_hint, user), error, status)
}

/// [`page`], with passkey autofill's hidden section (its ceremony id and inputs) when given.
fn page_with(
    v: &Validated,
    row: &PendingRow,
    (offered, autofill): (&[&dyn LoginMethod], Option<(String, String)>),
    (login_hint, user): (Option<&str>, Option<&UserRow>),
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let ctx = LoginPage {
        pending: &row.id,
        csrf: &row.csrf,
        client_name: &v.client.name,
        login_hint,
        error,
        user,
    };
    let mut sections: Vec<MethodSection<'_>> = offered
        .iter()
        .map(|m| MethodSection {
            method: m.id(),
            begin: m.multi_step(),
            ceremony: None,
            inputs: m.form(&ctx),
        })
        // A method with nothing to show (the login bridge without sites) gets no form.
        .filter(|section| !section.inputs.is_empty())
        .collect();
    let targets: Vec<String> = offered.iter().flat_map(|m| m.form_targets()).collect();
    let autofill = autofill.as_ref();
    if let Some((id, inputs)) = autofill {
        sections.push(MethodSection {
            method: "passkey",
            begin: false,
            ceremony: Some(id),
            inputs: inputs.clone(),
        });
    }
    http::html_csp(
        status,
        pages::login(&row.id, &row.csrf, &v.client.name, error, &sections),
        &http::form_page_csp_to(&v.redirect_uri, &targets),
    )
}

/// The login form's answer.
pub async fn login(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    login_inner(&p, ip, &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn login_inner(
    p: &Provider,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let form = http::read_form(p.cfg.max_request_bytes, headers, body).await?;
    let (row, v) = pending_from_form(p, &form, &["authorize", "stepup"], headers).await?;
    let t = now();
    // When the request arrived: its pending row expires PENDING_LIFETIME after.
    let arrival = row.expires_at - PENDING_LIFETIME;
    let phase = phase_of(p, headers, &row).await?;
    let (record, user) = match &phase {
        Phase::Login => (AuthRecord::default(), second_factor_user(p, &v).await?),
        Phase::StepUp { session, .. } => (
            p.session_record(session),
            p.store.user(&session.user_id).await.map_err(db)?,
        ),
    };
    let offered: Vec<&dyn LoginMethod> = match &phase {
        Phase::Login => login_methods(p, &v, user.as_ref()).await?,
        Phase::StepUp { .. } => next_step(
            p,
            &v,
            &policy::counted(&v.req, &record, arrival),
            user.as_ref(),
        )
        .await?
        .unwrap_or_default(),
    };
    let method = match form.get("method") {
        None => Some(p.methods.primary()),
        Some(id) => offered.iter().copied().find(|m| m.id() == id),
    };
    let Some(method) = method.filter(|m| offered.iter().any(|o| o.id() == m.id()) && !m.external())
    else {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "this sign-in method is not offered here",
        ));
    };
    // A known user (step-up, or a second-factor request's) answers, whatever name the form carries.
    let form = as_user(&form, user.as_ref());
    let hint = form.get("username");
    let shown = |message: &str, status: StatusCode| {
        page(
            &v,
            &row,
            &offered,
            hint,
            user.as_ref(),
            Some(message),
            status,
        )
    };
    let outcome = attempt(
        Attempt {
            p,
            row: &row,
            method,
            form: &form,
            ip,
            user: user.as_ref(),
            t,
        },
        // During step-up only the session's user may add a step, and a second-factor request is answered only
        // by the user it names; anyone else is a failed attempt.
        |u: &UserRow| match &phase {
            Phase::Login => v
                .second_factor
                .as_ref()
                .is_none_or(|named| named.as_deref() == Some(u.id.as_str())),
            Phase::StepUp { session, .. } => u.id == session.user_id,
        },
        shown,
    )
    .await?;
    let (proven, recorded_as) = match outcome {
        Outcome::Begin => {
            return begin(p, &v, &row, (method, &offered), &form, hint, user.as_ref()).await;
        }
        Outcome::Shown(page) => return Ok(page),
        Outcome::Proven(u, recorded_as) => (u, recorded_as),
    };
    complete(
        p,
        (v, row, phase, record),
        SignedIn {
            proven,
            recorded_as,
            skip_consent: false,
            at: t,
        },
        (t, arrival),
        headers,
    )
    .await
}

/// What a sign-in proved, to complete its pending request with.
pub(crate) struct SignedIn {
    /// The user.
    pub(crate) proven: UserRow,
    /// The method id the pass is recorded under.
    pub(crate) recorded_as: &'static str,
    /// Whether the consent page is skipped (a trusted bridge site said `no_prompt`; a request with
    /// `prompt=consent` shows it anyway).
    pub(crate) skip_consent: bool,
    /// When the user authenticated (seconds): now for a method passed here, or what a site or upstream said
    /// (never later than now) — the ID token's `auth_time`, and what `max_age` is checked against.
    pub(crate) at: i64,
}

/// Completes pending request `row` (of `v`, in `phase`, with the session's `record` so far) once a method proved
/// its user: the pending request is consumed, the session started or stepped up, and the flow goes on to the
/// next step, consent or the response. `t` is now, `arrival` when the request arrived.
pub(crate) async fn complete(
    p: &Provider,
    (v, row, phase, record): (Validated, PendingRow, Phase, AuthRecord),
    SignedIn {
        proven,
        recorded_as,
        skip_consent,
        at,
    }: SignedIn,
    (t, arrival): (i64, i64),
    headers: &HeaderMap,
) -> HttpResult<Response> {
    // The pending request is answered once.
    if !p.store.take_pending(&row.id).await.map_err(db)? {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "request already completed",
        ));
    }
    // A full login starts a session; a step-up keeps the session's id and expiry under a new cookie.
    let (record, sid, expires_at, old) = match phase {
        // A full login replaces any session this browser had: that one ends.
        Phase::Login => (
            AuthRecord::single(recorded_as, at.min(t)),
            random_token(),
            None,
            p.current_session(headers).await?.map(|(hash, _)| hash),
        ),
        Phase::StepUp { hash, session } => (
            record.with(recorded_as, at.min(t)),
            session.sid,
            Some(session.expires_at),
            Some(hash),
        ),
    };
    let (token, session) = p
        .start_session(&proven.id, &record, sid, expires_at, t)
        .await?;
    if let Some(old) = old {
        // A new cookie for the new or stronger session; the old one no longer works.
        p.store.delete_session(&old).await.map_err(db)?;
    }
    let counted = policy::counted(&v.req, &record, arrival);
    // A registration request (prompt=create) for an identifier that has an account is answered only for that
    // account.
    let other_account = match (v.req.prompt.contains(&Prompt::Create), &v.req.login_hint) {
        (true, Some(hint)) => p
            .store
            .rp_account(&v.client.id, hint)
            .await
            .map_err(db)?
            .is_some_and(|account| account != session.user_id),
        _ => false,
    };
    let mut resp = if names_another_user(p, &v, &session) || other_account {
        // OIDC Core §3.1.2.1, §5.5.1: a request naming a user is answered only for that user.
        p.auth_error(
            &v.error_target(),
            ErrorCode::LoginRequired,
            "the user who signed in is not the one the request names",
        )
    } else if let Some(next) = next_step(p, &v, &counted, Some(&proven)).await? {
        step_up_page(p, &v, headers, (&session, Some(&proven)), &next, t).await?
    } else {
        let fresh = PendingRow {
            id: random_token(),
            csrf: random_token(),
            ..row
        };
        let known = skip_consent.then(|| Known {
            user: None,
            consent: Some(remembered(None, &v)),
        });
        after_login(p, v, session, known, Some(fresh), arrival, headers).await?
    };
    if let Ok(h) = HeaderValue::from_str(&http::session_cookie(
        &token,
        p.cfg.session_lifetime,
        p.secure_cookies(),
    )) {
        resp.headers_mut().append(header::SET_COOKIE, h);
    }
    Ok(resp)
}

/// The phase a pending request is in; a step-up request must be answered from the session it was shown to.
async fn phase_of(p: &Provider, headers: &HeaderMap, row: &PendingRow) -> HttpResult<Phase> {
    if row.kind != "stepup" {
        return Ok(Phase::Login);
    }
    match p.current_session(headers).await? {
        Some((hash, session)) if csrf::is_bound_to_session(&row.csrf, &session.sid) => {
            Ok(Phase::StepUp { hash, session })
        }
        _ => Err(error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "this sign-in request belongs to another session",
        )),
    }
}

/// The first step of a multi-step method: its state kept under a fresh ceremony id, and its browser step shown.
#[allow(clippy::too_many_arguments)]
async fn begin(
    p: &Provider,
    v: &Validated,
    row: &PendingRow,
    (method, offered): (&dyn LoginMethod, &[&dyn LoginMethod]),
    form: &Params,
    hint: Option<&str>,
    user: Option<&UserRow>,
) -> HttpResult<Response> {
    let ctx = LoginPage {
        pending: &row.id,
        csrf: &row.csrf,
        client_name: &v.client.name,
        login_hint: hint,
        error: None,
        user,
    };
    let challenge = method.begin(&p.store, &ctx, form).await.map_err(db)?;
    let begun = match challenge {
        Some(c) => ceremony::begin(&p.store, row, method.id(), &c.state)
            .await
            .map_err(db)?
            .ok()
            .map(|id| (id, c.form)),
        None => None,
    };
    let Some((id, inputs)) = begun else {
        let message = Some(method.failure_message());
        return Ok(page(
            v,
            row,
            offered,
            hint,
            user,
            message,
            StatusCode::UNAUTHORIZED,
        ));
    };
    let section = MethodSection {
        method: method.id(),
        begin: false,
        ceremony: Some(&id),
        inputs,
    };
    Ok(http::html_csp(
        StatusCode::OK,
        pages::login(&row.id, &row.csrf, &v.client.name, None, &[section]),
        &http::form_page_csp(&v.redirect_uri),
    ))
}
