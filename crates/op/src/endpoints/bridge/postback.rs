//! `POST /bridge/postback`: an authenticating website's backend says who signed in for a bridge request.
//!
//! The body is JSON ([`portcullis_oidc::Postback`]); the site authenticates with its API key as a bearer token
//! (`Authorization: Bearer <key>`), compared by hash in constant time. A site registered with a signing key
//! posts the same JSON as the payload of a compact JWS instead (`Content-Type: application/jwt`, `typ`
//! [`crate::bridge_sites::POSTBACK_TYP`]), signed with that key, on top of the API key. Answers are plain
//! text, not for end users:
//!
//! - 200: accepted (also for a retry of the same answer: the post is idempotent by request id), with
//!   `{"return_code": "..."}`: a one-time code the site adds to the return URL in its redirect of the browser it
//!   signed in (a retry gets a new code, which replaces the first). Without it the browser's return is refused:
//!   the sign-in completes only for the browser the site authenticated, not for whoever started the request;
//! - 400 (malformed body or claims), 401 (no or wrong key), 404 (unknown request), 409 (another answer was
//!   posted before: the request is now failed), 410 (expired, completed or failed), 413, 415: give up;
//! - 503 with `Retry-After`: the provider could not store the answer; retry.
//!
//! Must not: accept an answer without the key of the site the request was sent to, change an accepted answer,
//! accept a claim outside the site's list and the provider's scopes, keep an unverified site's `*_verified`
//! claims, or say anything about a request to a caller without a site's key.

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
use crate::{hash, now, random_token};

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

/// The algorithms a signed postback may use (the site's key picks among them by its type).
const SIGNED_POSTBACK_ALGS: [portcullis_jose::Algorithm; 6] = [
    portcullis_jose::Algorithm::Es256,
    portcullis_jose::Algorithm::Es384,
    portcullis_jose::Algorithm::Rs256,
    portcullis_jose::Algorithm::Ps256,
    portcullis_jose::Algorithm::Ps384,
    portcullis_jose::Algorithm::EdDsa,
];

/// A stored signing key that no longer parses: nothing the site can fix by retrying.
fn unavailable_key() -> Response {
    tracing::error!("bridge site signing key does not parse");
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "the provider cannot check signatures for this site now",
    )
}

/// The 200 answer: the one-time code the site adds to the return URL (only in its redirect of the browser it
/// signed in), as JSON.
fn returned(code: &str) -> Response {
    let mut r = Response::new(Body::from(
        serde_json::json!({ "return_code": code }).to_string(),
    ));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
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
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let signed = match media.as_deref() {
        Some("application/json") => false,
        Some("application/jwt") => true,
        _ => {
            return Err(text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be application/json (or application/jwt, signed)",
            ));
        }
    };
    let bytes = read_body(body, MAX_POSTBACK)
        .await
        .map_err(|_| text(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"))?;
    // A signed answer is read (for its request id) before its signature is checked against the site's key; it
    // is used only once that check passed, below.
    let payload = if signed {
        let token = std::str::from_utf8(&bytes)
            .map_err(|_| text(StatusCode::BAD_REQUEST, "not a compact JWS"))?;
        portcullis_jose::jws::decode_unverified(token.trim())
            .map_err(|_| text(StatusCode::BAD_REQUEST, "not a compact JWS"))?
            .payload
    } else {
        bytes.to_vec()
    };
    let post =
        Postback::parse(&payload).map_err(|e| text(StatusCode::BAD_REQUEST, &e.to_string()))?;
    // The site first, by its key: nothing about a request is said to a caller without a site's key.
    let presented = hash(key);
    let site = p
        .store
        .bridge_site_by_key(&presented)
        .await
        .map_err(unavailable)?
        .filter(|s| tokens_match(&s.api_key_hash, &presented));
    let Some(site) = site else {
        return Err(text(StatusCode::UNAUTHORIZED, "wrong API key"));
    };
    let request = p
        .store
        .bridge_request(&post.request_id)
        .await
        .map_err(unavailable)?
        .filter(|r| r.site_id == site.id);
    if request.is_none() {
        return Err(text(StatusCode::NOT_FOUND, "unknown request"));
    }
    // A stored key that does not parse is the provider's fault (503), not the site's.
    let site_key = site
        .signing_key
        .as_deref()
        .map(crate::bridge_sites::signing_key);
    match (site_key, signed) {
        (None, false) => {}
        (None, true) => {
            return Err(text(
                StatusCode::BAD_REQUEST,
                "this site has no signing key: post application/json",
            ));
        }
        (Some(_), false) => {
            return Err(text(
                StatusCode::UNAUTHORIZED,
                "this site signs its answers: post application/jwt",
            ));
        }
        (Some(keys), true) => {
            let Some(keys) = keys else {
                return Err(unavailable_key());
            };
            let token = std::str::from_utf8(&bytes).unwrap_or("").trim();
            let opts = portcullis_jose::jws::VerifyOptions::new(SIGNED_POSTBACK_ALGS)
                .typ(crate::bridge_sites::POSTBACK_TYP)
                .max_token_len(MAX_POSTBACK);
            if portcullis_jose::jws::verify(token, &keys, &opts).is_err() {
                return Err(text(StatusCode::UNAUTHORIZED, "bad signature"));
            }
        }
    }
    let mut post = post;
    let released = p.scope_claims.all_claims();
    let allowed = crate::bridge_sites::allowed_claims(&site);
    if let Some(name) =
        post.first_claim_outside(|n| released.contains(n) && allowed.iter().any(|a| a == n))
    {
        return Err(text(
            StatusCode::BAD_REQUEST,
            &format!("claim {name:?} is not one this site may release"),
        ));
    }
    // A site not trusted for verification says an address, not that it was verified.
    if !site.trust_verified {
        for c in portcullis_oidc::VERIFIED_CLAIMS {
            post.claims.remove(*c);
        }
    }
    let code = random_token();
    let outcome = p
        .store
        .post_bridge_answer(&post.request_id, &post.canonical(), &hash(&code), now())
        .await
        .map_err(unavailable)?;
    crate::audit::Audit {
        kind: "bridge_postback",
        outcome: match outcome {
            Posted::Accepted => "accepted",
            Posted::Repeated => "repeated",
            Posted::Conflict => "conflict",
            Posted::Unknown => "unknown",
            Posted::Expired => "expired",
            Posted::Finished => "finished",
        },
        detail: &format!("site={} identifier={}", site.id, post.identifier),
        ..Default::default()
    }
    .record(&p.store)
    .await;
    Ok(match outcome {
        Posted::Accepted | Posted::Repeated => returned(&code),
        Posted::Conflict => text(
            StatusCode::CONFLICT,
            "another answer was posted for this request; the request is cancelled",
        ),
        Posted::Unknown => text(StatusCode::NOT_FOUND, "unknown request"),
        Posted::Expired => text(StatusCode::GONE, "the request expired"),
        Posted::Finished => text(StatusCode::GONE, "the request is completed or cancelled"),
    })
}
