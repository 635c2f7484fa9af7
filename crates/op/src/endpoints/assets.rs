//! Scripts the provider's pages load (their CSP allows scripts from the provider's own origin only, never
//! inline): `/passkey.js`, the browser's side of a passkey sign-in.
//!
//! Must not: serve anything but these fixed files.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// `/passkey.js`.
pub async fn passkey_js() -> Response {
    let mut r = include_str!("../../static/passkey.js").into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}
