//! The one layer in front of every endpoint: the header-block limit, request logging, HSTS over HTTPS.
//!
//! Must not: read bodies or do per-endpoint work (each layer costs a boxed future per request).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::error::oauth_error;
use super::limits::header_block_len;
use crate::provider::Provider;

/// `Strict-Transport-Security` of HTTPS answers: a year (RFC 6797).
pub const HSTS: &str = "max-age=31536000";

/// In front of every endpoint (one layer, not two: each costs a boxed future per request):
/// - refuses header blocks larger than the configured limit (431), whatever the transport's buffering did;
/// - logs each request (method, path — never the query, which may carry codes or tokens — status, time) at
///   `debug` level, and every 5xx at `warn`;
/// - over HTTPS (served, or an `https` issuer behind a proxy), adds `Strict-Transport-Security` to every answer.
pub async fn front(
    State(p): State<Arc<Provider>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    // (A clone of the URI shares its bytes; the path is only formatted if something is logged.)
    let uri = req.uri().clone();
    let resp = if header_block_len(&req) > p.cfg.max_request_bytes {
        oauth_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "invalid_request",
            "request headers too large",
        )
    } else {
        next.run(req).await
    };
    let mut resp = resp;
    if p.tls.is_some() || p.secure_cookies() {
        resp.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    let status = resp.status();
    if status.is_server_error() {
        let micros = started.elapsed().as_micros();
        tracing::warn!(%method, path = uri.path(), status = status.as_u16(), micros, "request");
    } else if tracing::enabled!(tracing::Level::DEBUG) {
        let micros = started.elapsed().as_micros();
        tracing::debug!(%method, path = uri.path(), status = status.as_u16(), micros, "request");
    }
    resp
}
