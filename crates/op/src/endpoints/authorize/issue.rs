//! Issuing a successful authorization: the grant, the authorization code (sealed, so nothing is written until
//! it is redeemed, or stored when an access token comes with it), front-channel tokens, the ID token, sent in
//! the client's response mode.
//!
//! Must not: check anything about the request or the user's consent (every check ran before).

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_oidc::{AuthorizationResponse, ClaimsRequest};

use super::request::Validated;
use crate::authn::policy;
use crate::http::{self, HttpResult, db};
use crate::provider::Provider;
use crate::sealing::CodeContents;
use crate::store::{CodeRow, GrantRow, SessionRow, TokenKey, UserRow};
use crate::{new_token, now, time_ordered_id};

/// Issues the code / tokens of a successful authorization and sends them.
/// `arrival` is when the request arrived (see [`policy::max_age_since`]).
pub(crate) async fn issue_authorization(
    p: &Provider,
    v: &Validated,
    session: &SessionRow,
    known_user: Option<UserRow>,
    arrival: i64,
    headers: &HeaderMap,
) -> HttpResult<Response> {
    let t = now();
    // `max_age` still holds now (a page answered slowly), or the user logs in again.
    if !policy::fresh_at_issue(&v.req, session.auth_time, arrival, t) {
        return crate::endpoints::login::first_page(p, v, headers, t).await;
    }
    let req = &v.req;
    let client = &v.client;
    let user = match known_user.filter(|u| u.id == session.user_id) {
        Some(u) => Some(u),
        None => p.store.user(&session.user_id).await.map_err(db)?,
    };
    let Some(user) = user else {
        return Err(http::error_page(
            StatusCode::BAD_REQUEST,
            "login_required",
            "the user no longer exists",
        ));
    };
    // A pushed request is consumed by the first authorization made from it that completes.
    if !v.complete_pushed(p).await? {
        return Ok(p.auth_error(
            &v.error_target(),
            portcullis_oidc::ErrorCode::InvalidRequestUri,
            "request_uri already used",
        ));
    }
    let rt = req.response_type;
    // What the ID tokens of this grant say of the authentication (`acr`, `amr`).
    let authn = p.methods.grant_summary_of(
        &session.authn,
        session.auth_time,
        &policy::wanted_acr(req).0,
        policy::max_age_since(req, arrival),
    );
    let grant_id = time_ordered_id();
    let access = rt.has_token().then(new_token);
    let grant = GrantRow {
        id: grant_id.clone(),
        client_id: client.id.clone(),
        user_id: Some(user.id.clone()),
        scope: req.scope.to_string(),
        claims: req.claims.as_ref().map(ClaimsRequest::to_json),
        auth_time: Some(session.auth_time),
        nonce: req.nonce.clone(),
        sid: Some(session.sid.clone()),
        cnf: None,
        revoked: false,
        authn,
    };
    let code_row = rt.has_code().then(|| CodeRow {
        grant_id: grant_id.clone(),
        client_id: client.id.clone(),
        redirect_uri: Some(v.redirect_uri.clone()),
        code_challenge: req.code_challenge.as_ref().map(|c| c.as_str().to_owned()),
        code_challenge_method: req
            .code_challenge
            .as_ref()
            .map(|c| c.method().as_str().to_owned()),
        expires_at: t + p.cfg.code_lifetime as i64,
    });
    // A code without an access token beside it carries its grant, sealed: nothing is written until it is
    // redeemed. (With an access token the grant must exist now; an oversized grant is stored too.)
    let sealed = code_row
        .as_ref()
        .filter(|_| access.is_none())
        .and_then(|c| {
            p.codes.seal(&CodeContents {
                grant_id: grant_id.clone(),
                client_id: client.id.clone(),
                user_id: user.id.clone(),
                scope: grant.scope.clone(),
                claims: grant.claims.clone(),
                auth_time: session.auth_time,
                nonce: grant.nonce.clone(),
                sid: session.sid.clone(),
                authn: grant.authn.clone(),
                redirect_uri: v.redirect_uri.clone(),
                code_challenge: c
                    .code_challenge
                    .clone()
                    .zip(c.code_challenge_method.clone()),
                expires_at: c.expires_at,
            })
        });
    let stateless = sealed.is_some();
    // A stored code is a random handle (only its hash is kept).
    let code = sealed.or_else(|| rt.has_code().then(new_token));
    let code_hash = code
        .as_deref()
        .filter(|_| !stateless)
        .map(|c| TokenKey::of(c).key);
    let at_hash = access.as_deref().map(|a| TokenKey::of(a).key);
    let scope_text = req.scope.to_string();
    if !stateless {
        p.store
            .issue(
                &grant,
                code_hash.as_deref().zip(code_row.as_ref()),
                at_hash.as_deref().map(|h| {
                    (
                        h,
                        scope_text.as_str(),
                        t + p.cfg.access_token_lifetime as i64,
                        // Front-channel tokens cannot be bound (RFC 8705 §6.4).
                        None,
                    )
                }),
                None,
                t,
            )
            .await
            .map_err(db)?;
        // What is handed out here with a stored grant (tokens, an ID token, a stored code) is held against a
        // consent withdrawal that raced this authorization (a sealed code is held against it when redeemed): the
        // withdrawal's time covers what read the consent before.
        if p.store
            .consent_withdrawn_at(&user.id, &client.id)
            .await
            .map_err(db)?
            .is_some_and(|w| w >= t)
        {
            p.store.revoke_grant(&grant.id).await.map_err(db)?;
            return Ok(p.auth_error(
                &v.error_target(),
                portcullis_oidc::ErrorCode::AccessDenied,
                "consent was withdrawn; ask again",
            ));
        }
    }
    let id_token = if rt.has_id_token() {
        Some(
            p.id_token(
                client,
                &user,
                &grant,
                access.as_deref(),
                code.as_deref(),
                req.state.as_deref(),
                !rt.has_token() && !rt.has_code(),
            )
            .map_err(|e| http::error_page(StatusCode::BAD_REQUEST, "server_error", &e))?,
        )
    } else {
        None
    };
    let resp = AuthorizationResponse::Success {
        code,
        id_token,
        access_token: access,
        expires_in: rt.has_token().then_some(p.cfg.access_token_lifetime),
        state: req.state.clone(),
        iss: p.cfg.issuer.clone(),
    };
    Ok(p.deliver(client, &v.redirect_uri, v.mode, &resp))
}
