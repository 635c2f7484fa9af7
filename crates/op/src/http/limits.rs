//! Reading requests safely: bodies under the configured limit, strict forms (content type, UTF-8, no repeated
//! parameters), single-valued visible-ASCII headers, and the size of a request's header block.
//!
//! Must not: interpret the parameters (the protocol crates and the endpoints do).

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use portcullis_oidc::{OidcError, Params};

use super::error::{error_page, oauth_error};

/// The longest a client may take to send a request's header block, or its body, or to start its next request
/// on a kept-alive connection: after that the request is refused (408) or the connection closed, so slow
/// clients cannot hold connections.
pub const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads a body under `limit` within [`READ_TIMEOUT`]: `Err` is the 413 or 408 response.
pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, Response> {
    match tokio::time::timeout(READ_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(oauth_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "request body too large",
        )),
        Err(_) => {
            let mut r = oauth_error(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request",
                "request body too slow",
            );
            r.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            Err(r)
        }
    }
}

/// Whether the request's content type is `application/x-www-form-urlencoded` (parameters allowed).
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// A strict form from a POST body: right content type, UTF-8, no repeated parameters.
pub fn form_body(headers: &HeaderMap, body: &[u8]) -> Result<Params, OidcError> {
    if !is_form(headers) {
        return Err(OidcError::InvalidParameter("content-type"));
    }
    let text = std::str::from_utf8(body).map_err(|_| OidcError::MalformedForm)?;
    Params::parse(text)
}

/// A header as text (refusing non-visible-ASCII values).
pub fn header_str(
    headers: &HeaderMap,
    name: header::HeaderName,
) -> Result<Option<&str>, OidcError> {
    match headers.get_all(&name).iter().count() {
        0 => Ok(None),
        1 => headers
            .get(&name)
            .expect("one value")
            .to_str()
            .map(Some)
            .map_err(|_| OidcError::InvalidParameter("header")),
        _ => Err(OidcError::InvalidParameter("header")),
    }
}

/// A form posted by a browser (login, consent, logout): an error page, never JSON, when it is not one. A NUL
/// anywhere is refused here (no field of these forms may carry one, and PostgreSQL stores no NUL in text).
pub async fn read_form(limit: usize, headers: &HeaderMap, body: Body) -> Result<Params, Response> {
    let bytes = read_body(body, limit).await?;
    let bad = |d: &str| error_page(StatusCode::BAD_REQUEST, "invalid_request", d);
    let form = form_body(headers, &bytes).map_err(|e| bad(&e.to_string()))?;
    if form
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(bad("a form field holds a NUL character"));
    }
    Ok(form)
}

/// The size of a request's header block as the front middleware counts it: each header's name and value plus
/// 4 (`: ` and CRLF), and the request target.
pub fn header_block_len(req: &axum::extract::Request) -> usize {
    let uri = req.uri();
    let target = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri
            .path_and_query()
            .map_or(uri.path().len(), |pq| pq.as_str().len());
    req.headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + target
}
