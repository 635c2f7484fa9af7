//! The `refresh_token` grant (RFC 6749 §6): rotation on every use; the reuse of a rotated token revokes the
//! whole grant (OAuth 2.0 Security BCP §4.14); the scope may only narrow.
//!
//! Must not: accept a refresh token of another client or of a revoked grant.

use axum::response::Response;
use portcullis_oidc::{OidcError, Scope};

use super::response::issue_tokens;
use crate::clients::Client;
use crate::http::{HttpResult, db, oerr};
use crate::provider::Provider;
use crate::store::{Consumed, TokenKey};

/// Exchanges `refresh_token` for new tokens.
pub(crate) async fn refresh(
    p: &Provider,
    client: &Client,
    refresh_token: &str,
    (scope, cnf, ip): (Option<&Scope>, Option<&str>, std::net::IpAddr),
    t: i64,
) -> HttpResult<Response> {
    client
        .perms
        .check_grant(portcullis_oidc::GrantType::RefreshToken)
        .map_err(oerr)?;
    // RFC 8705 §4: a public client's bound refresh token is good only with the certificate its grant was bound
    // to (checked before anything is consumed, so a thief's attempt costs the owner nothing). A used or unknown
    // token goes on to the consumption below (reuse detection).
    if client.bind_tokens && !client.is_confidential() {
        let live = p
            .store
            .refresh_token_grant(&TokenKey::of(refresh_token), t)
            .await
            .map_err(db)?;
        if let Some((g, _, _)) = live
            && g.client_id == client.id
            && (g.cnf.is_none() || g.cnf.as_deref() != cnf)
        {
            return Err(oerr(OidcError::InvalidGrant(
                "the refresh token is bound to another certificate",
            )));
        }
    }
    let (grant, token_scope) = match p
        .store
        .consume_refresh(&TokenKey::of(refresh_token), &client.id, t)
        .await
        .map_err(db)?
    {
        Consumed::Fresh(x) => x,
        Consumed::Replayed(grant_id) => {
            // Reuse of a rotated refresh token: revoke the whole family.
            p.store.revoke_grant(&grant_id).await.map_err(db)?;
            p.metrics.refresh_reuse.inc();
            crate::audit::Audit {
                kind: "refresh_reuse",
                outcome: "grant_revoked",
                client_id: Some(&client.id),
                address: Some(ip),
                detail: &grant_id,
                ..Default::default()
            }
            .record(&p.store)
            .await;
            return Err(oerr(OidcError::InvalidGrant(
                "refresh token reused; grant revoked",
            )));
        }
        Consumed::Unknown => {
            return Err(oerr(OidcError::InvalidGrant("unknown refresh token")));
        }
    };
    if grant.client_id != client.id {
        return Err(oerr(OidcError::InvalidGrant(
            "refresh token was issued to another client",
        )));
    }
    if grant.revoked {
        return Err(oerr(OidcError::InvalidGrant("grant revoked")));
    }
    let original = Scope::parse(&token_scope).unwrap_or_default();
    let narrowed = original.narrow(scope).map_err(oerr)?;
    issue_tokens(p, client, &grant, &narrowed.to_string(), false, cnf, None).await
}
