//! The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3): redeems a sealed or
//! stored code once, in the transaction that stores the new tokens; a code used twice revokes everything
//! issued from it. The code's client, redirect URI, PKCE verifier, expiry and live grant are checked after the
//! consumption, and the stored tokens are revoked if any check fails — or if the user withdrew consent from the
//! client since the code was issued.
//!
//! Must not: hand out a token before every check passed.

use portcullis_oidc::{IssuedCode, OidcError};
use portcullis_pkce::CodeChallenge;

use super::response::{NewTokens, token_response};
use crate::clients::Client;
use crate::http::{HttpResult, db, oerr};
use crate::provider::{Provider, pkce_policy};
use crate::sealing::{CodeContents, CodeSealer};
use crate::store::{CodeGrant, CodeRow, Consumed, GrantRow, TokenKey};
use axum::response::Response;

/// Redeems `code` for `client`.
pub(crate) async fn redeem(
    p: &Provider,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    cnf: Option<&str>,
    t: i64,
) -> HttpResult<Response> {
    client
        .perms
        .check_grant(portcullis_oidc::GrantType::AuthorizationCode)
        .map_err(oerr)?;
    // The tokens are made first and stored in the transaction that consumes the code (one round
    // trip to the database); they are handed out only if every check below passes, and revoked with
    // the grant if one fails.
    let opened = if CodeSealer::is_sealed(code) {
        // Only this provider's database key opens it; a code that does not open was never issued.
        let Some(c) = p.codes.open(code) else {
            return Err(oerr(OidcError::InvalidGrant("unknown code")));
        };
        Some(c)
    } else {
        None
    };
    let tokens = NewTokens::for_client(
        p,
        client,
        t,
        cnf,
        opened.as_ref().map(|c| c.grant_id.as_str()),
    );
    let consumed = if let Some(c) = opened {
        redeem_sealed(p, c, &tokens, t).await?
    } else {
        p.store
            .consume_code_and_store(&TokenKey::of(code), &tokens.stored)
            .await
            .map_err(db)?
    };
    let row = match consumed {
        Consumed::Fresh(r) => r,
        Consumed::Replayed(grant_id) => {
            // A code used twice: revoke everything issued from it (RFC 6749 §4.1.2).
            p.store.revoke_grant(&grant_id).await.map_err(db)?;
            return Err(oerr(OidcError::InvalidGrant(
                "code already used; tokens revoked",
            )));
        }
        Consumed::Unknown => return Err(oerr(OidcError::InvalidGrant("unknown code"))),
    };
    let checked = check_code(&row, client, redirect_uri, code_verifier, t);
    let grant = match checked {
        Ok(g) => g,
        Err(e) => {
            if row.tokens_stored {
                // Refused: the tokens stored with the consumption never become usable.
                p.store.revoke_grant(&row.code.grant_id).await.map_err(db)?;
            }
            return Err(oerr(e));
        }
    };
    if consent_withdrawn(p, &row, &grant).await? {
        // The user took consent back after this code was issued: nothing issued from it stays usable.
        p.store.revoke_grant(&grant.id).await.map_err(db)?;
        return Err(oerr(OidcError::InvalidGrant("consent was withdrawn")));
    }
    if !row.tokens_stored {
        // Not reached while the store keeps its promise (a live grant gets the tokens); stored
        // here rather than answered without them.
        tokens.store(p, &grant.id, &grant.scope).await?;
    }
    // A grant made before its tokens were bound (a stored code) learns its certificate now (RFC 8705 §4).
    let mut grant = grant;
    if let (None, Some(c)) = (&grant.cnf, &tokens.stored.cnf) {
        p.store.bind_grant(&grant.id, c).await.map_err(db)?;
        grant.cnf = Some(c.clone());
    }
    token_response(
        p,
        client,
        &grant,
        &grant.scope.clone(),
        true,
        tokens,
        row.user,
    )
    .await
}

/// Whether the code's user withdrew consent from its client at or after the second the code was issued
/// ([`crate::store::Store::consent_withdrawn_since`], asked after the redemption committed: a withdrawal racing it
/// is either seen here or revokes the grant it stored).
async fn consent_withdrawn(p: &Provider, row: &CodeGrant, grant: &GrantRow) -> HttpResult<bool> {
    let Some(user) = &row.user else {
        return Ok(false);
    };
    let lifetime = i64::try_from(p.cfg.code_lifetime).unwrap_or(i64::MAX);
    let issued = row.code.expires_at.saturating_sub(lifetime);
    p.store
        .consent_withdrawn_since(user, &grant.client_id, issued)
        .await
        .map_err(db)
}

/// Redeems an opened sealed code: its grant and `tokens` are stored unless the code was redeemed before. The
/// answer has the shape of a stored code's consumption, so both kinds go through the same checks.
async fn redeem_sealed(
    p: &Provider,
    c: CodeContents,
    tokens: &NewTokens,
    t: i64,
) -> HttpResult<Consumed<CodeGrant>> {
    let grant = GrantRow {
        id: c.grant_id,
        client_id: c.client_id,
        user_id: Some(c.user_id),
        scope: c.scope,
        claims: c.claims,
        auth_time: Some(c.auth_time),
        nonce: c.nonce,
        sid: Some(c.sid),
        // The certificate its tokens are bound to, if any (a public client's refresh token needs it again).
        cnf: tokens.stored.cnf.clone(),
        revoked: false,
        authn: c.authn,
    };
    let redeemed = p
        .store
        .redeem_sealed_code(&grant, &tokens.stored, t)
        .await
        .map_err(db)?;
    Ok(match redeemed {
        Consumed::Fresh(user) => {
            let (code_challenge, code_challenge_method) = c.code_challenge.unzip();
            Consumed::Fresh(CodeGrant {
                code: CodeRow {
                    grant_id: grant.id.clone(),
                    client_id: grant.client_id.clone(),
                    redirect_uri: Some(c.redirect_uri),
                    code_challenge,
                    code_challenge_method,
                    expires_at: c.expires_at,
                },
                grant: Some(grant),
                user,
                tokens_stored: true,
            })
        }
        Consumed::Replayed(g) => Consumed::Replayed(g),
        Consumed::Unknown => Consumed::Unknown,
    })
}

/// A code's checks at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6): the client it was issued to, the
/// redirect URI, the PKCE verifier, expiry, and a live grant.
fn check_code(
    row: &CodeGrant,
    client: &Client,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    t: i64,
) -> Result<GrantRow, OidcError> {
    let challenge = match (
        &row.code.code_challenge,
        row.code.code_challenge_method.as_deref(),
    ) {
        (Some(c), m) => Some(
            CodeChallenge::parse(c, m, &pkce_policy())
                .map_err(|_| OidcError::InvalidGrant("stored challenge"))?,
        ),
        (None, _) => None,
    };
    let issued = IssuedCode {
        client_id: row.code.client_id.clone(),
        redirect_uri: row.code.redirect_uri.clone(),
        code_challenge: challenge,
        expires_at: row.code.expires_at.max(0) as u64,
    };
    issued.check_redemption(
        &client.id,
        redirect_uri,
        code_verifier,
        &pkce_policy(),
        t as u64,
    )?;
    if client.require_pkce && issued.code_challenge.is_none() {
        return Err(OidcError::InvalidGrant("PKCE required"));
    }
    row.grant
        .clone()
        .filter(|g| !g.revoked)
        .ok_or(OidcError::InvalidGrant("grant revoked"))
}
