//! Consent, after the user is known: consent remembered for this client covers the request, or the consent
//! page is shown (bound to the session that will answer it). Then the response is issued.
//!
//! Must not: record consent (that happens when the user answers, at [`crate::endpoints::consent`]).

use axum::http::StatusCode;
use axum::response::Response;
use portcullis_oidc::{ErrorCode, Prompt, Scope, ScopeClaims};

use super::PENDING_LIFETIME;
use super::issue::issue_authorization;
use super::request::Validated;
use axum::http::HeaderMap;

use crate::http::binding::BrowserBinding;
use crate::http::{self, HttpResult, csrf, db};
use crate::provider::Provider;
use crate::store::{ConsentRow, PendingRow, SessionRow, UserRow};
use crate::{now, pages, random_token};

/// The stored form of an authorization request that waits for the user (login or consent), with fresh ids.
/// Built only when a page is shown: the hot path (a session that satisfies the request) needs none.
/// `browser` is the browser it is shown to (see [`BrowserBinding`]).
pub(crate) fn pending_for(v: &Validated, t: i64, browser: &BrowserBinding) -> PendingRow {
    PendingRow {
        id: random_token(),
        kind: "authorize".into(),
        client_id: v.client.id.clone(),
        params: v.stored_form(),
        csrf: random_token(),
        expires_at: t + PENDING_LIFETIME,
        browser: browser.hash(),
    }
}

/// What the session lookup read next to the session, so the hot path does not read it again.
pub(crate) struct Known {
    pub(crate) user: Option<UserRow>,
    pub(crate) consent: Option<ConsentRow>,
}

/// The user claims `v` asks for by name (its `claims` request, already limited to what the client may get).
pub(crate) fn claims_asked(v: &Validated) -> Vec<&str> {
    v.req
        .claims
        .as_ref()
        .map(|c| c.user_claim_names().into_iter().collect())
        .unwrap_or_default()
}

/// Whether remembered consent covers the request: every scope it asks for was consented to, and every claim
/// it asks for by name was either consented to by name or is released by a consented scope.
pub(crate) fn covers(scope_claims: &ScopeClaims, consent: &ConsentRow, v: &Validated) -> bool {
    let scopes = Scope::parse(&consent.scope).unwrap_or_default();
    if !v.req.scope.iter().all(|s| scopes.contains(s)) {
        return false;
    }
    let by_scope = scope_claims.claims_for(&scopes);
    claims_asked(v)
        .into_iter()
        .all(|c| by_scope.contains(c) || consent.claims.split(' ').any(|x| x == c))
}

/// What is remembered after the user allows `v`: the union of what was consented before and what the page
/// showed now (its scopes and its claims by name), nothing else.
pub(crate) fn remembered(before: Option<ConsentRow>, v: &Validated) -> ConsentRow {
    let mut c = before.unwrap_or_default();
    let add = |list: &mut String, item: &str| {
        if !list.split(' ').any(|x| x == item) {
            if !list.is_empty() {
                list.push(' ');
            }
            list.push_str(item);
        }
    };
    for s in v.req.scope.iter() {
        add(&mut c.scope, s);
    }
    for claim in claims_asked(v) {
        add(&mut c.claims, claim);
    }
    c
}

/// After the user is known: consent, then the response. `pending` is the request's stored form if it has one
/// (after a login); otherwise one is made from `v` should the consent page be needed. `arrival` is when the
/// request arrived; a consent page keeps it (its row expires [`PENDING_LIFETIME`] after it).
pub(crate) async fn after_login(
    p: &Provider,
    v: Validated,
    session: SessionRow,
    known: Option<Known>,
    pending: Option<PendingRow>,
    arrival: i64,
    headers: &HeaderMap,
) -> HttpResult<Response> {
    let target = v.error_target();
    let (user, consent) = match known {
        Some(k) => (k.user, k.consent),
        None => (
            None,
            p.store
                .consent(&session.user_id, &v.client.id)
                .await
                .map_err(db)?,
        ),
    };
    let covered = consent.is_some_and(|c| covers(&p.scope_claims, &c, &v));
    if !covered || v.req.prompt.contains(&Prompt::Consent) {
        if v.req.prompt.contains(&Prompt::None) {
            return Ok(p.auth_error(
                &target,
                ErrorCode::ConsentRequired,
                "prompt=none but consent is needed",
            ));
        }
        // The consent form is bound to the session that will answer it: a consent page obtained by someone
        // else cannot be submitted from the victim's browser (the session id is the CSRF token's suffix).
        // And to this browser (login CSRF).
        let browser = BrowserBinding::of(headers, p.secure_cookies());
        let pending = PendingRow {
            kind: "consent".into(),
            csrf: csrf::bound_to_session(&random_token(), &session.sid),
            browser: browser.hash(),
            ..pending.unwrap_or_else(|| pending_for(&v, now(), &browser))
        };
        if pending.params.len() > super::MAX_STORED_REQUEST {
            return Ok(p.auth_error(
                &target,
                ErrorCode::InvalidRequest,
                "the request is too large to keep while the user consents",
            ));
        }
        p.store.put_pending(&pending).await.map_err(db)?;
        let scopes: Vec<&str> = v.req.scope.iter().collect();
        let mut resp = http::html_csp(
            StatusCode::OK,
            pages::consent(
                &pending.id,
                &pending.csrf,
                &v.client.name,
                &scopes,
                &claims_asked(&v),
            ),
            &http::form_page_csp(&v.redirect_uri),
        );
        browser.set_cookie(&mut resp, p.secure_cookies());
        return Ok(resp);
    }
    issue_authorization(p, &v, &session, user, arrival, headers).await
}
