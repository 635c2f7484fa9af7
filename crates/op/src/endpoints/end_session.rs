//! `/end_session` (OpenID Connect RP-Initiated Logout 1.0): ends the browser's session and, when the client
//! is known (`id_token_hint` or `client_id`, which must agree), redirects to a registered
//! `post_logout_redirect_uri`; otherwise shows the signed-out page.
//!
//! Must not: redirect to an unregistered URI, or trust an `id_token_hint` that is not ours.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use portcullis_oidc::{Params, ResponseMode, redirect_with};
use serde_json::{Map, Value};

use crate::http::{self, HttpResult, PAGE_CSP, db};
use crate::pages;
use crate::provider::Provider;

/// The end-session endpoint, GET or POST.
pub async fn end_session(
    State(p): State<Arc<Provider>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    end_session_inner(&p, method, &headers, query, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn end_session_inner(
    p: &Provider,
    method: Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: Body,
) -> HttpResult<Response> {
    let bad = |d: &str| http::error_page(StatusCode::BAD_REQUEST, "invalid_request", d);
    let params = if method == Method::POST {
        http::read_form(p.cfg.max_request_bytes, headers, body).await?
    } else {
        Params::parse(query.as_deref().unwrap_or("")).map_err(|e| bad(&e.to_string()))?
    };
    // Which client? From id_token_hint's aud, or client_id; they must agree.
    let mut client_id = params.get("client_id").map(str::to_owned);
    if let Some(hint) = params.get("id_token_hint") {
        let aud = portcullis_jose::jws::decode_unverified(hint)
            .ok()
            .and_then(|u| serde_json::from_slice::<Map<String, Value>>(&u.payload).ok())
            .and_then(|m| m.get("aud").and_then(|a| a.as_str().map(str::to_owned)));
        let Some(aud) = aud else {
            return Err(bad("id_token_hint is not an ID token from this provider"));
        };
        if client_id.as_deref().is_some_and(|c| c != aud) {
            return Err(bad("client_id differs from the id_token_hint audience"));
        }
        let client = p.client(&aud).await?.ok_or_else(|| bad("unknown client"))?;
        if p.hint_subject(hint, &client).is_none() {
            return Err(bad("id_token_hint is not an ID token from this provider"));
        }
        client_id = Some(aud);
    }
    if let Some((h, _)) = p.current_session(headers).await? {
        p.store.delete_session(&h).await.map_err(db)?;
    }
    let clear = http::session_cookie("", 0, p.secure_cookies());
    let mut resp = match (params.get("post_logout_redirect_uri"), client_id) {
        (Some(uri), Some(cid)) => {
            let client = p.client(&cid).await?.ok_or_else(|| bad("unknown client"))?;
            if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return Err(bad("post_logout_redirect_uri is not registered"));
            }
            let mut pairs: Vec<(&str, std::borrow::Cow<'_, str>)> = Vec::new();
            if let Some(s) = params.get("state") {
                pairs.push(("state", s.into()));
            }
            match redirect_with(uri, ResponseMode::Query, &Params::from_pairs(pairs)) {
                Ok(u) => http::redirect(&u),
                Err(_) => return Err(bad("bad post_logout_redirect_uri")),
            }
        }
        (Some(_), None) => {
            return Err(bad(
                "post_logout_redirect_uri needs id_token_hint or client_id",
            ));
        }
        _ => http::html(StatusCode::OK, pages::logged_out(), PAGE_CSP),
    };
    if let Ok(h) = HeaderValue::from_str(&clear) {
        resp.headers_mut().append(header::SET_COOKIE, h);
    }
    Ok(resp)
}
