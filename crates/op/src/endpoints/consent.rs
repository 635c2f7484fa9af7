//! `/consent` (POST): the answer to the consent page. The form must come from the session it was shown to; the
//! pending request is consumed once; "allow" records the union of what was consented before and now and
//! issues the response, anything else is `access_denied`.
//!
//! Must not: issue anything for a session other than the one the page was bound to.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_oidc::ErrorCode;

use super::authorize::PENDING_LIFETIME;
use super::authorize::consent::remembered;
use super::authorize::issue::issue_authorization;
use super::interaction::pending_from_form;
use crate::http::client_addr::ClientIp;
use crate::http::{self, HttpResult, csrf, db};
use crate::provider::Provider;

/// The consent form's answer.
pub async fn consent(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    consent_inner(&p, ip, &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn consent_inner(
    p: &Provider,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let form = http::read_form(p.cfg.max_request_bytes, headers, body).await?;
    let (row, v) = pending_from_form(p, &form, &["consent"], headers).await?;
    let Some((_, session)) = p.current_session(headers).await? else {
        return Err(http::error_page(
            StatusCode::FORBIDDEN,
            "login_required",
            "no session",
        ));
    };
    if !csrf::is_bound_to_session(&row.csrf, &session.sid) {
        return Err(http::error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "this consent request belongs to another session",
        ));
    }
    if !p.store.take_pending(&row.id).await.map_err(db)? {
        return Err(http::error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "request already completed",
        ));
    }
    let allowed = form.get("decision") == Some("allow");
    crate::audit::Audit {
        kind: "consent",
        outcome: if allowed { "given" } else { "refused" },
        user_id: Some(&session.user_id),
        client_id: Some(&v.client.id),
        address: Some(ip),
        detail: &v.req.scope.iter().collect::<Vec<_>>().join(" "),
    }
    .record(&p.store)
    .await;
    if !allowed {
        // The authorization completes (denied): a pushed request it came from is used up.
        v.complete_pushed(p).await?;
        let target = v.error_target();
        return Ok(p.auth_error(&target, ErrorCode::AccessDenied, "the user denied access"));
    }
    // Remember the union of what was consented before and what the page showed now.
    let before = p
        .store
        .consent(&session.user_id, &v.client.id)
        .await
        .map_err(db)?;
    let consent = remembered(before, &v);
    p.store
        .put_consent(&session.user_id, &v.client.id, &consent)
        .await
        .map_err(db)?;
    // When the request arrived: its pending row expires PENDING_LIFETIME after.
    let arrival = row.expires_at - PENDING_LIFETIME;
    issue_authorization(p, &v, &session, None, arrival, headers).await
}
