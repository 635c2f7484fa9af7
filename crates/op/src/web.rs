//! HTTP plumbing shared by the endpoints: reading bodies under a limit, strict forms, cookies, and the
//! responses (JSON errors with the right status, error pages, redirects, security headers).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_oidc::{ErrorCode, OidcError, Params, sanitize_description};
use serde_json::{Value, json};

use crate::pages;

/// Name of the login session cookie.
pub const SESSION_COOKIE: &str = "portcullis_session";

/// A JSON response.
pub fn json_response(status: StatusCode, body: &Value, no_store: bool) -> Response {
    let mut r = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json");
    if no_store {
        r = r
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::PRAGMA, "no-cache");
    }
    r.body(Body::from(body.to_string()))
        .expect("valid response")
}

/// An OAuth JSON error (`error`, `error_description`), status 400 unless given.
pub fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut r = json_response(
        status,
        &json!({"error": code, "error_description": sanitize_description(description)}),
        true,
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"portcullis\""),
        );
    }
    r
}

/// The token-endpoint style error for an [`OidcError`] (401 for `invalid_client`).
pub fn oidc_error(e: &OidcError) -> Response {
    let code = e.code();
    let status = if code == ErrorCode::InvalidClient {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    oauth_error(status, code.as_str(), &e.to_string())
}

/// Storage unavailable: 503, never a 500 and never details.
pub fn unavailable() -> Response {
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "storage is unavailable, try again",
    )
}

fn html_headers(r: axum::http::response::Builder, csp: &str) -> axum::http::response::Builder {
    r.header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::X_FRAME_OPTIONS, "DENY")
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header(header::CONTENT_SECURITY_POLICY, csp)
}

/// CSP of the provider's own pages.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// CSP of the auto-submitting form_post page (inline script, posts to the client).
pub const FORM_POST_CSP: &str =
    "default-src 'none'; script-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

/// CSP of the login and consent pages of one authorization request. Their forms POST to us and we answer
/// with a 303 to the client's redirect URI; browsers apply `form-action` to that redirect too (Chromium does),
/// so the redirect URI's origin is allowed next to `'self'` — that origin only, nothing wider. (Found by the
/// Chromium end-to-end test: with `form-action 'self'` alone the consent answer never reached the client.)
pub fn form_page_csp(redirect_uri: &str) -> String {
    let source = match url::Url::parse(redirect_uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u.origin().ascii_serialization(),
        // A private-use scheme of a native app (RFC 8252 §7.1): its scheme is its origin.
        Ok(u) => format!("{}:", u.scheme()),
        Err(_) => String::new(),
    };
    // ascii_serialization never yields spaces, quotes or semicolons; refuse anything odd anyway.
    let source = if source
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ":/.-+[]".contains(c))
    {
        source
    } else {
        String::new()
    };
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {source}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// An HTML page with a per-request CSP (see [`form_page_csp`]).
pub fn html_csp(status: StatusCode, body: String, csp: &str) -> Response {
    html_headers(Response::builder().status(status), csp)
        .body(Body::from(body))
        .expect("valid response")
}

/// An HTML page.
pub fn html(status: StatusCode, body: String, csp: &'static str) -> Response {
    html_headers(Response::builder().status(status), csp)
        .body(Body::from(body))
        .expect("valid response")
}

/// The error page for requests whose redirect target cannot be trusted.
pub fn error_page(status: StatusCode, code: &str, description: &str) -> Response {
    html(status, pages::error(code, description), PAGE_CSP)
}

/// A 303 redirect.
pub fn redirect(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::empty())
        .expect("valid response")
}

/// Reads a body under `limit`: `Err` is the 413 response.
pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        oauth_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "request body too large",
        )
    })
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

/// A cookie's value.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for the session (or its removal when `value` is empty).
pub fn session_cookie(value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    if value.is_empty() {
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
    } else {
        format!(
            "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
        )
    }
}
