//! `POST /bridge/postback`: an authenticating website's backend says who signed in for a bridge request.
//!
//! The body is JSON ([`portcullis_oidc::Postback`]); the site authenticates with its API key as a bearer token
//! (`Authorization: Bearer <key>`), compared by hash in constant time. Answers are plain text, not for end
//! users:
//!
//! - 200: accepted (also for a retry of the same answer: the post is idempotent by request id);
//! - 400 (malformed body or claims), 401 (no or wrong key), 404 (unknown request), 409 (another answer was
//!   posted before: the request is now failed), 410 (expired, completed or failed), 413, 415: give up;
//! - 503 with `Retry-After`: the provider could not store the answer; retry.
//!
//! Must not: accept an answer without the key of the site the request was sent to, change an accepted answer,
//! or accept a claim outside the provider's scopes.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_oidc::{MAX_POSTBACK, Postback};

use crate::http::csrf::tokens_match;
use crate::http::limits::read_body;
use crate::provider::Provider;
use crate::store::{Posted, StoreError};
use crate::{hash, now};

fn text(status: StatusCode, message: &str) -> Response {
    let mut r = Response::new(Body::from(format!("{message}\n")));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"bridge\""),
        );
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

fn unavailable(e: StoreError) -> Response {
    tracing::error!("storage: {e}");
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "could not record the answer; retry",
    )
}

/// The bearer token of `Authorization`, if well-formed.
fn api_key(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty() && key.len() <= 256).then_some(key)
}

/// The handler.
pub async fn postback(State(p): State<Arc<Provider>>, headers: HeaderMap, body: Body) -> Response {
    inner(&p, &headers, body).await.unwrap_or_else(|r| r)
}

async fn inner(p: &Provider, headers: &HeaderMap, body: Body) -> Result<Response, Response> {
    let Some(key) = api_key(headers) else {
        return Err(text(StatusCode::UNAUTHORIZED, "missing API key"));
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json",
        ));
    }
    let bytes = read_body(body, MAX_POSTBACK)
        .await
        .map_err(|_| text(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"))?;
    let post =
        Postback::parse(&bytes).map_err(|e| text(StatusCode::BAD_REQUEST, &e.to_string()))?;
    let presented = hash(key);
    let request = p
        .store
        .bridge_request(&post.request_id)
        .await
        .map_err(unavailable)?;
    let site = match &request {
        Some(r) => p.store.bridge_site(&r.site_id).await.map_err(unavailable)?,
        None => None,
    };
    // The key is compared even when there is nothing to compare it with, so that the answer's time does not
    // say whether a request id exists.
    let stored = site.as_ref().map_or("", |s| s.api_key_hash.as_str());
    let key_ok = tokens_match(&presented, stored) && site.is_some();
    if request.is_none() {
        return Err(text(StatusCode::NOT_FOUND, "unknown request"));
    }
    if !key_ok {
        return Err(text(StatusCode::UNAUTHORIZED, "wrong API key"));
    }
    let allowed = p.scope_claims.all_claims();
    if let Some(name) = post.first_claim_outside(|n| allowed.contains(n)) {
        return Err(text(
            StatusCode::BAD_REQUEST,
            &format!("claim {name:?} is not one this provider releases"),
        ));
    }
    let outcome = p
        .store
        .post_bridge_answer(&post.request_id, &post.canonical(), now())
        .await
        .map_err(unavailable)?;
    Ok(match outcome {
        Posted::Accepted | Posted::Repeated => text(StatusCode::OK, "OK"),
        Posted::Conflict => text(
            StatusCode::CONFLICT,
            "another answer was posted for this request; the request is cancelled",
        ),
        Posted::Unknown => text(StatusCode::NOT_FOUND, "unknown request"),
        Posted::Expired => text(StatusCode::GONE, "the request expired"),
        Posted::Finished => text(StatusCode::GONE, "the request is completed or cancelled"),
    })
}
