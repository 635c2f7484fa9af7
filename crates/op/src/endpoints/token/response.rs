//! What every grant answers (RFC 6749 §5.1): the new access token, a refresh token for clients allowed the
//! refresh grant, and an ID token when the scope has `openid` (OIDC Core §3.1.3.3, §12.2).
//!
//! Must not: check the grant (the grant modules do).

use axum::http::StatusCode;
use axum::response::Response;
use portcullis_oidc::{OidcError, Scope};
use serde_json::json;

use crate::clients::Client;
use crate::http::{self, HttpResult, db, oerr};
use crate::provider::Provider;
use crate::store::{CodeTokens, GrantRow, TokenKey, UserRow, grant_access_token};
use crate::{new_token, now};

/// The access token and, for clients allowed the refresh grant, the refresh token of one token response:
/// the secrets handed out and what the store keeps of them.
pub(crate) struct NewTokens {
    pub(crate) access: String,
    pub(crate) refresh: Option<String>,
    pub(crate) stored: CodeTokens,
}

impl NewTokens {
    /// With `on_grant`, the access token names that grant and is kept on its row (a sealed code's first
    /// redemption, see [`Store::redeem_sealed_code`]); otherwise it gets a row of its own.
    pub(crate) fn for_client(
        p: &Provider,
        client: &Client,
        t: i64,
        cnf: Option<&str>,
        on_grant: Option<&str>,
    ) -> NewTokens {
        let access = on_grant.map_or_else(new_token, grant_access_token);
        let access_key = TokenKey::of(&access);
        let refresh = client
            .perms
            .grant_types
            .contains(&portcullis_oidc::GrantType::RefreshToken)
            .then(new_token);
        let stored = CodeTokens {
            access_key: match (on_grant, access_key.grant) {
                (Some(_), Some((_, hash))) => hash,
                _ => access_key.key,
            },
            access_expires_at: t + p.cfg.access_token_lifetime as i64,
            cnf: cnf.map(str::to_owned),
            refresh: refresh
                .as_deref()
                .map(|r| (TokenKey::of(r).key, t + p.cfg.refresh_token_lifetime as i64)),
            access_in_grant: on_grant.is_some(),
        };
        NewTokens {
            access,
            refresh,
            stored,
        }
    }

    /// Stores the tokens on `grant_id` with `scope`.
    pub(crate) async fn store(&self, p: &Provider, grant_id: &str, scope: &str) -> HttpResult<()> {
        let s = &self.stored;
        p.store
            .add_tokens(
                grant_id,
                Some((&s.access_key, scope, s.access_expires_at, s.cnf.as_deref())),
                s.refresh.as_ref().map(|(k, e)| (k.as_str(), scope, *e)),
            )
            .await
            .map_err(db)
    }
}

/// Issues an access token (and a rotated refresh token, and an ID token for `openid`) on a grant.
pub(crate) async fn issue_tokens(
    p: &Provider,
    client: &Client,
    grant: &GrantRow,
    scope: &str,
    from_code: bool,
    cnf: Option<&str>,
    known_user: Option<UserRow>,
) -> HttpResult<Response> {
    let tokens = NewTokens::for_client(p, client, now(), cnf, None);
    tokens.store(p, &grant.id, scope).await?;
    token_response(p, client, grant, scope, from_code, tokens, known_user).await
}

/// The token response for tokens already stored on `grant`, with an ID token for `openid`.
pub(crate) async fn token_response(
    p: &Provider,
    client: &Client,
    grant: &GrantRow,
    scope: &str,
    from_code: bool,
    tokens: NewTokens,
    known_user: Option<UserRow>,
) -> HttpResult<Response> {
    let NewTokens {
        access: at,
        refresh: rt,
        ..
    } = tokens;
    let mut body = json!({
        "access_token": at,
        "token_type": "Bearer",
        "expires_in": p.cfg.access_token_lifetime,
        "scope": scope,
    });
    if let Some(r) = rt {
        body["refresh_token"] = json!(r);
    }
    if Scope::parse(scope).unwrap_or_default().contains("openid")
        && let Some(user_id) = &grant.user_id
    {
        let user = match known_user.filter(|u| &u.id == user_id) {
            Some(u) => Some(u),
            None => p.store.user(user_id).await.map_err(db)?,
        };
        let Some(user) = user else {
            return Err(oerr(OidcError::InvalidGrant("the user no longer exists")));
        };
        // On refresh, the nonce is not repeated (OIDC Core §12.2).
        let mut g = grant.clone();
        if !from_code {
            g.nonce = None;
        }
        let idt = p
            .id_token(client, &user, &g, Some(&at), None, None, false)
            .map_err(|e| {
                tracing::error!("signing an ID token: {e}");
                http::unavailable()
            })?;
        body["id_token"] = json!(idt);
    }
    Ok(http::json_response(StatusCode::OK, &body, true))
}
