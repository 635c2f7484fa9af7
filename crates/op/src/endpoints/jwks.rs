//! `/jwks`: the provider's public signing keys as a JWK Set (RFC 7517 §5), current and recently retired ones.
//!
//! Must not: ever serialise private key material (the key ring only hands out public JWKs here).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::provider::Provider;

/// The JWK Set (cacheable for a minute, so a rotation reaches clients quickly).
pub async fn jwks(State(p): State<Arc<Provider>>) -> Response {
    let mut r = Response::new(Body::from(p.keys().jwks_json().to_owned()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=60"),
    );
    r
}
