//! `/Factor/step` (POST): the answer to a step-up page of `/Factor/Authenticate` — a sign-in first when the
//! browser had no session, then one asked-for factor at a time; or `cancel`.
//!
//! The checks are the login form's (`super::super::login`): a form posted from this site, the pending
//! request's CSRF token and browser binding, a step bound to the session it was shown to, only the method the
//! page offered, the per-account and per-address back-off, at most `MAX_ATTEMPTS` failures and begun
//! ceremonies per request, the bounded verification queue. A pass is recorded in the session (a new cookie;
//! the old one stops working); once every factor asked for was passed while answering this request, the
//! browser goes back with the Auth Token.
//!
//! Must not: accept a pass by another user than the session's, or answer a request twice.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_oidc::Params;

use super::token::{back, issue};
use super::{Ask, KIND, Next, Target, next, next_page, page, store_pending};
use crate::authn::{AuthRecord, LoginMethod, LoginPage, ceremony};
use crate::endpoints::attempts::{Attempt, Outcome, as_user, attempt};
use crate::factor_pages::MethodSection;
use crate::http::binding::{BrowserBinding, same_site_form};
use crate::http::client_addr::ClientIp;
use crate::http::{self, HttpResult, csrf, db, error_page};
use crate::now;
use crate::provider::Provider;
use crate::store::{PendingRow, SessionRow, UserRow};

/// `POST /Factor/step`.
pub async fn step(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    step_inner(&p, ip, &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

/// The pending step the form names, from this browser, with its CSRF token checked.
async fn pending(p: &Provider, form: &Params, headers: &HeaderMap) -> HttpResult<PendingRow> {
    same_site_form(headers, &p.issuer_origin())?;
    let bad = |d: &str| error_page(StatusCode::BAD_REQUEST, "invalid_request", d);
    let id = form.get("pending").ok_or_else(|| bad("missing request"))?;
    let token = form.get("csrf").ok_or_else(|| bad("missing CSRF token"))?;
    let row = p
        .store
        .pending(id, KIND, now())
        .await
        .map_err(db)?
        .ok_or_else(|| bad("the request expired; start again from the application"))?;
    csrf::check(&row.csrf, token)?;
    let same_browser = BrowserBinding::existing(headers, p.secure_cookies())
        .is_some_and(|b| b.matches(&row.browser));
    if !same_browser {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "this request was started in another browser; start again from the application",
        ));
    }
    Ok(row)
}

/// The signed-in side of a step: the session (and its cookie hash) the step was shown to, and its user.
struct Signed {
    hash: String,
    session: SessionRow,
    user: UserRow,
}

/// The session `row` was shown to (`None` for a request that began without one), or a 403.
async fn signed(
    p: &Provider,
    headers: &HeaderMap,
    row: &PendingRow,
    login: bool,
) -> HttpResult<Option<Signed>> {
    if login {
        return Ok(None);
    }
    let other = || {
        error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "this request belongs to another session",
        )
    };
    let Some((hash, session)) = p.current_session(headers).await? else {
        return Err(other());
    };
    if !csrf::is_bound_to_session(&row.csrf, &session.sid) {
        return Err(other());
    }
    let user = p
        .store
        .user(&session.user_id)
        .await
        .map_err(db)?
        .ok_or_else(other)?;
    Ok(Some(Signed {
        hash,
        session,
        user,
    }))
}

async fn step_inner(
    p: &Provider,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let form = http::read_form(p.cfg.max_request_bytes, headers, body).await?;
    let row = pending(p, &form, headers).await?;
    let (ask, arrival, login, done) = super::from_stored(p, &row).await?;
    if form.get("cancel").is_some() {
        if !p.store.take_pending(&row.id).await.map_err(db)? {
            return Err(done_already());
        }
        return back(
            &ask,
            &[
                ("error", "access_denied"),
                ("error_description", "the user cancelled"),
            ],
        );
    }
    let t = now();
    let who = signed(p, headers, &row, login).await?;
    let record = who
        .as_ref()
        .map_or_else(AuthRecord::default, |w| p.session_record(&w.session));
    let user = who.as_ref().map(|w| &w.user);
    let need = next(p, &ask, user, &done).await?;
    let offered: Vec<&dyn LoginMethod> = match &need {
        Next::Login(list) => list.clone(),
        Next::Factors(list) => list.clone(),
        Next::NotEnrolled(_) | Next::Done => Vec::new(),
    };
    let Some(method) = form
        .get("method")
        .and_then(|id| offered.iter().copied().find(|m| m.id() == id))
    else {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "this method is not offered here",
        ));
    };
    // Signed in: the session's user answers, whatever name the form carries.
    let form = as_user(&form, user);
    let shown = |message: &str, status: StatusCode| {
        next_page(&ask, &row, (&need, &done), user, (Some(message), status))
    };
    let outcome = attempt(
        Attempt {
            p,
            row: &row,
            method,
            form: &form,
            ip,
            user,
            t,
        },
        // Only the session's user may add a step.
        |u: &UserRow| user.is_none_or(|s| s.id == u.id),
        shown,
    )
    .await?;
    let (proven, recorded_as) = match outcome {
        Outcome::Begin => return begin(p, (&ask, &row), (method, &done), &form, user).await,
        Outcome::Shown(page) => return Ok(page),
        Outcome::Proven(u, recorded_as) => (u, recorded_as),
    };
    if !p.store.take_pending(&row.id).await.map_err(db)? {
        return Err(done_already());
    }
    // A sign-in starts a session (ending any other of this browser); a factor is added to the session, under a
    // new cookie.
    let (record, sid, expires_at, old) = match who {
        None => (
            AuthRecord::single(recorded_as, t),
            crate::random_token(),
            None,
            p.current_session(headers).await?.map(|(hash, _)| hash),
        ),
        Some(w) => (
            record.with(recorded_as, t),
            w.session.sid,
            Some(w.session.expires_at),
            Some(w.hash),
        ),
    };
    let (cookie, session) = p
        .start_session(&proven.id, &record, sid, expires_at, t)
        .await?;
    if let Some(old) = old {
        p.store.delete_session(&old).await.map_err(db)?;
    }
    // What this request has now: the factor the method proves, when it was asked for (a passkey used to sign in
    // counts when a passkey was asked).
    let mut now_passed = done.clone();
    if let Some(f) = portcullis_factor::Factor::from_key(method.id())
        && ask.factors.contains(&f)
        && !now_passed.contains(&f)
    {
        now_passed.push(f);
    }
    let mut resp = match next(p, &ask, Some(&proven), &now_passed).await? {
        Next::Done => match &ask.target {
            Target::App(client) => {
                let token = issue(p, client, &proven.id, (&now_passed, ask.nonce.as_deref()))?;
                back(&ask, &[("auth_token", &token)])?
            }
            // The account page: the pass is in the session now.
            Target::Account => back(&ask, &[])?,
        },
        need => {
            let browser = BrowserBinding::of(headers, p.secure_cookies());
            let fresh =
                store_pending(p, (&ask, arrival, &now_passed), &browser, Some(&session)).await?;
            next_page(
                &ask,
                &fresh,
                (&need, &now_passed),
                Some(&proven),
                (None, StatusCode::OK),
            )
        }
    };
    if let Ok(h) = HeaderValue::from_str(&http::session_cookie(
        &cookie,
        p.cfg.session_lifetime,
        p.secure_cookies(),
    )) {
        resp.headers_mut().append(header::SET_COOKIE, h);
    }
    Ok(resp)
}

fn done_already() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "request already completed",
    )
}

/// The first step of a multi-step method: its state kept under a fresh ceremony id, and its browser step shown.
async fn begin(
    p: &Provider,
    (ask, row): (&Ask, &PendingRow),
    (method, done): (&dyn LoginMethod, &[portcullis_factor::Factor]),
    form: &Params,
    user: Option<&UserRow>,
) -> HttpResult<Response> {
    let ctx = LoginPage {
        pending: &row.id,
        csrf: &row.csrf,
        client_name: ask.client_name(),
        login_hint: user.map(|u| u.username.as_str()),
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
        let sections = super::sections(&[method], row, ask.client_name(), user);
        return Ok(page(
            ask,
            row,
            (done, &sections),
            Some(method.failure_message()),
            StatusCode::UNAUTHORIZED,
        ));
    };
    let section = MethodSection {
        method: method.id(),
        begin: false,
        ceremony: Some(&id),
        inputs,
    };
    Ok(page(ask, row, (done, &[section]), None, StatusCode::OK))
}
