//! `/par` (RFC 9126): a pushed authorization request, from an authenticated client, as parameters or a signed
//! request object (RFC 9101), checked like the authorization endpoint checks it and kept for 60 seconds under a
//! single-use `request_uri`.
//!
//! Must not: accept a request for another client or an unregistered redirect URI.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use portcullis_oidc::{
    OidcError, Params, Prompt, PushedAuthorizationRequest, client_authentication,
};
use serde_json::json;

use super::authorize::request::{
    PAR_SIGNED, Source, Validated, check_second_factor, verify_request_object_of,
};
use super::authorize::{MAX_STORED_REQUEST, checks};
use crate::authn::policy;
use crate::http::{self, HttpResult, db, oerr};
use crate::provider::{Provider, pkce_policy};
use crate::store::PendingRow;
use crate::tls::PeerCertificate;
use crate::{now, random_token};

/// How long a pushed request lives.
const PAR_LIFETIME: i64 = 60;

/// The pushed authorization request endpoint.
pub async fn par(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<PeerCertificate>>,
    body: Body,
) -> Response {
    par_inner(&p, super::peer_der(peer), &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn par_inner(
    p: &Provider,
    peer: Option<Arc<Vec<u8>>>,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let bytes = http::read_body(body, p.cfg.max_request_bytes).await?;
    if !http::is_form(headers) {
        return Err(oerr(OidcError::InvalidParameter("content-type")));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| oerr(OidcError::MalformedForm))?;
    let auth = http::header_str(headers, header::AUTHORIZATION).map_err(oerr)?;
    // RFC 9126 §3: the pushed parameters may themselves be a signed request object (RFC 9101); it then carries
    // the whole request and is verified with the authenticated client's keys.
    let outer = Params::parse(text).map_err(oerr)?;
    // A signed request object with a `jti` (accepted once by `verify_request_object_of`) is kept as such, so
    // that what needs one (prompt=create, a second-factor request) can come through PAR.
    let signed_once = outer
        .get("request")
        .and_then(|r| portcullis_jose::jws::decode_unverified(r).ok())
        .and_then(|u| serde_json::from_slice::<serde_json::Value>(&u.payload).ok())
        .is_some_and(|c| c["jti"].is_string());
    let (pushed, client) = match outer.get("request") {
        None => {
            let pushed =
                PushedAuthorizationRequest::parse(text, auth, &pkce_policy()).map_err(oerr)?;
            let client = p
                .authenticate(&pushed.client, peer.as_deref().map(Vec::as_slice))
                .await
                .map_err(oerr)?;
            (pushed, client)
        }
        Some(obj) => {
            if outer.get("request_uri").is_some() {
                return Err(oerr(OidcError::InvalidParameter("request_uri")));
            }
            let client_auth = client_authentication(&outer, auth).map_err(oerr)?;
            let client = p
                .authenticate(&client_auth, peer.as_deref().map(Vec::as_slice))
                .await
                .map_err(oerr)?;
            let request = verify_request_object_of(p, &client, obj)
                .await?
                .map_err(oerr)?;
            let pushed = PushedAuthorizationRequest {
                request,
                client: client_auth,
            };
            (pushed, client)
        }
    };
    if pushed.request.client_id != client.id {
        return Err(oerr(OidcError::ClientAuthentication(
            "client_id differs from the authenticated client",
        )));
    }
    let redirect_ok = pushed
        .request
        .redirect_uri
        .as_deref()
        .is_some_and(|r| client.redirect_rule.matches(&client.meta.redirect_uris, r));
    if !redirect_ok {
        return Err(oerr(OidcError::InvalidParameter("redirect_uri")));
    }
    let redirect_uri = pushed.request.redirect_uri.clone().unwrap_or_default();
    let v = Validated::new(p, client, pushed.request, redirect_uri, Source::Pushing);
    let mut v = v;
    checks::run(p, &v, &checks::REQUEST_CHECKS).map_err(checks::Refusal::into_json)?;
    // What needs a signed, single-use request (a registration, a second factor) is refused here already.
    v.signed = outer.get("request").is_some();
    v.single_use = signed_once;
    if policy::is_second_factor(&v.req) {
        v.second_factor = Some(None);
    }
    check_second_factor(p, &v).map_err(checks::Refusal::into_json)?;
    if v.req.prompt.contains(&Prompt::Create) && !signed_once {
        return Err(oerr(OidcError::InvalidParameter(
            "prompt=create: a registration must be a signed request object with a jti",
        )));
    }
    if v.stored_form().len() > MAX_STORED_REQUEST {
        return Err(oerr(OidcError::InvalidParameter(
            "request: too large to keep",
        )));
    }
    let id = random_token();
    let row = PendingRow {
        id: id.clone(),
        kind: if signed_once { PAR_SIGNED } else { "par" }.into(),
        client_id: v.client.id.clone(),
        params: v.stored_form(),
        csrf: String::new(),
        expires_at: now() + PAR_LIFETIME,
        browser: String::new(),
    };
    p.store.put_pending(&row).await.map_err(db)?;
    Ok(http::json_response(
        StatusCode::CREATED,
        &json!({"request_uri": format!("{}{id}", portcullis_oidc::PAR_REQUEST_URI_PREFIX), "expires_in": PAR_LIFETIME}),
        true,
    ))
}
