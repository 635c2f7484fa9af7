//! `/revoke` (RFC 7009): revokes an access token, or a refresh token and its whole grant, of the authenticated
//! client. Unknown tokens and other clients' tokens get 200 too: nothing is revealed.
//!
//! Must not: revoke another client's tokens.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::token::client_auth::authenticated_form;
use crate::http::{self, HttpResult, db, oerr};
use crate::now;
use crate::provider::Provider;
use crate::store::TokenKey;
use crate::tls::PeerCertificate;

/// The revocation endpoint.
pub async fn revoke(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<PeerCertificate>>,
    body: Body,
) -> Response {
    revoke_inner(&p, super::peer_der(peer), &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn revoke_inner(
    p: &Provider,
    peer: Option<Arc<Vec<u8>>>,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let (form, client) = authenticated_form(p, peer, headers, body).await?;
    let token = form.require("token").map_err(oerr)?;
    let h = TokenKey::of(token);
    let t = now();
    // RFC 7009 §2.2: unknown tokens and tokens of other clients get 200 too (nothing to reveal).
    if let Some(at) = p.store.access_token(&h, t).await.map_err(db)?
        && at.grant.client_id == client.id
    {
        p.store.delete_access_token(&h).await.map_err(db)?;
    } else if let Some((g, _, _)) = p.store.refresh_token_grant(&h, t).await.map_err(db)?
        && g.client_id == client.id
    {
        p.store.revoke_grant(&g.id).await.map_err(db)?;
    }
    Ok(http::json_response(StatusCode::OK, &json!({}), true))
}
