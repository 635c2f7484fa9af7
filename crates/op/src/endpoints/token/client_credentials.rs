//! The `client_credentials` grant (RFC 6749 §4.4): confidential clients only, no user, so never `openid` or
//! `offline_access`.
//!
//! Must not: issue an ID token or a refresh token.

use axum::http::StatusCode;
use axum::response::Response;
use portcullis_oidc::{OidcError, Scope};
use serde_json::json;

use crate::clients::Client;
use crate::http::{self, HttpResult, db, oerr};
use crate::provider::Provider;
use crate::store::{GrantRow, TokenKey};
use crate::{new_token, time_ordered_id};

/// Issues an access token to `client` itself.
pub(crate) async fn issue(
    p: &Provider,
    client: &Client,
    scope: Option<&Scope>,
    cnf: Option<&str>,
    t: i64,
) -> HttpResult<Response> {
    if !client.is_confidential() {
        return Err(oerr(OidcError::UnauthorizedClient(
            "public clients cannot use client_credentials",
        )));
    }
    client
        .perms
        .check_grant(portcullis_oidc::GrantType::ClientCredentials)
        .map_err(oerr)?;
    let granted = client
        .perms
        .grant_scope(scope, &Scope::default())
        .map_err(oerr)?;
    if granted.contains("openid") || granted.contains("offline_access") {
        return Err(oerr(OidcError::InvalidScope));
    }
    let grant = GrantRow {
        id: time_ordered_id(),
        client_id: client.id.clone(),
        user_id: None,
        scope: granted.to_string(),
        claims: None,
        auth_time: None,
        nonce: None,
        sid: None,
        cnf: None,
        revoked: false,
        authn: None,
    };
    let at = new_token();
    p.store
        .issue(
            &grant,
            None,
            Some((
                &TokenKey::of(&at).key,
                &grant.scope,
                t + p.cfg.access_token_lifetime as i64,
                cnf,
            )),
            None,
            t,
        )
        .await
        .map_err(db)?;
    let mut body = json!({"access_token": at, "token_type": "Bearer", "expires_in": p.cfg.access_token_lifetime});
    if !granted.is_empty() {
        body["scope"] = json!(grant.scope);
    }
    Ok(http::json_response(StatusCode::OK, &body, true))
}
