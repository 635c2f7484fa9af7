//! The success responses every endpoint shares: JSON with the right caching headers, HTML pages with their
//! security headers and Content-Security-Policy, and 303 redirects.
//!
//! Must not: render page content (that is [`crate::pages`] and the templates) or choose error codes.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::Value;

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
    form_page_csp_to(redirect_uri, &[])
}

/// [`form_page_csp`] for a page whose forms may also lead (through a redirect) to `targets` (origins; anything
/// that is not a plain origin is left out).
pub fn form_page_csp_to(redirect_uri: &str, targets: &[String]) -> String {
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
    form_page_csp_with(&source, targets)
}

fn form_page_csp_with(source: &str, targets: &[String]) -> String {
    let mut sources = source.to_owned();
    for t in targets {
        let plain = (t.starts_with("https://") || t.starts_with("http://"))
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || ":/.-[]".contains(c));
        if plain {
            sources.push(' ');
            sources.push_str(t);
        }
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; form-action 'self' {sources}; frame-ancestors 'none'; base-uri 'none'"
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

/// A 303 redirect; a location that cannot be a header value (a control character) is a 400 error page, never a
/// panic.
pub fn redirect(location: &str) -> Response {
    let Ok(location) = header::HeaderValue::from_str(location) else {
        return super::error::error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the redirect URI cannot be sent",
        );
    };
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut().insert(header::LOCATION, location);
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_to_an_unsendable_location_is_a_400_page() {
        let ok = redirect("https://rp.example/bye?state=s");
        assert_eq!(ok.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            ok.headers()[header::LOCATION],
            "https://rp.example/bye?state=s"
        );
        for bad in [
            "https://rp.example/\u{7f}",
            "https://rp.example/\n",
            "https://rp.example/\0",
        ] {
            let r = redirect(bad);
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad:?}");
            assert!(r.headers().get(header::LOCATION).is_none());
        }
    }
}
