//! `/introspect` (RFC 7662): whether a token is active, for the confidential client it was issued to only;
//! everyone else learns `{"active": false}`.
//!
//! Must not: describe a token to any client but its own.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_oidc::OidcError;
use serde_json::json;

use super::token::client_auth::authenticated_form;
use crate::http::{self, HttpResult, db, oerr};
use crate::now;
use crate::provider::Provider;
use crate::store::{GrantRow, TokenKey};
use crate::tls::PeerCertificate;

/// The introspection endpoint.
pub async fn introspect(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<PeerCertificate>>,
    body: Body,
) -> Response {
    introspect_inner(&p, super::peer_der(peer), &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn introspect_inner(
    p: &Provider,
    peer: Option<Arc<Vec<u8>>>,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let (form, client) = authenticated_form(p, peer, headers, body).await?;
    if !client.is_confidential() {
        return Err(oerr(OidcError::ClientAuthentication(
            "introspection needs an authenticated client",
        )));
    }
    let token = form.require("token").map_err(oerr)?;
    let h = TokenKey::of(token);
    let t = now();
    let describe = |g: &GrantRow, scope: &str, exp: i64, kind: &str, sub: Option<String>| {
        let mut v = json!({"active": true, "scope": scope, "client_id": g.client_id, "exp": exp,
                           "iss": p.cfg.issuer, "token_type": kind});
        if let Some(s) = sub {
            v["sub"] = json!(s);
        }
        v
    };
    // Only the client the token was issued to learns about it.
    let body = if let Some(at) = p.store.access_token(&h, t).await.map_err(db)?
        && at.grant.client_id == client.id
    {
        let sub = at.grant.user_id.as_deref().map(|u| p.subject(&client, u));
        let mut v = describe(&at.grant, &at.scope, at.expires_at, "Bearer", sub);
        if let Some(c) = &at.cnf {
            v["cnf"] = json!({ "x5t#S256": c });
        }
        v
    } else if let Some((g, scope, exp)) = p.store.refresh_token_grant(&h, t).await.map_err(db)?
        && g.client_id == client.id
    {
        let sub = g.user_id.as_deref().map(|u| p.subject(&client, u));
        describe(&g, &scope, exp, "refresh_token", sub)
    } else {
        json!({"active": false})
    };
    Ok(http::json_response(StatusCode::OK, &body, true))
}
