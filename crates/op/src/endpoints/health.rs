//! `/health` (the process answers) and `/ready` (it can serve: the database answers and signing keys are
//! loaded), for load balancers and orchestrators.
//!
//! Must not: do more than one cheap query, or say more than ready or not (no versions, no errors' text).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_jose::Algorithm;

use crate::provider::Provider;

/// `GET /health`: 200 while the process runs.
pub async fn health() -> &'static str {
    "ok"
}

/// `GET /ready`: 200 `ready` when the database answers and an ES256 signing key is loaded; else 503 `not ready`
/// with `Retry-After`.
pub async fn ready(State(p): State<Arc<Provider>>) -> Response {
    let keys = p.keys().signer(Algorithm::Es256).is_some();
    let db = p.store.ping().await.is_ok();
    if keys && db {
        return (StatusCode::OK, "ready").into_response();
    }
    let mut r = (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}
