//! Binding a pending authorization request to the browser it was shown to, against login CSRF (a `pending` +
//! `csrf` pair fetched by an attacker and posted from the victim's browser, which would sign the victim in as
//! the attacker): each browser gets a random binding cookie (`HttpOnly`, `SameSite=Lax`; `__Host-` and `Secure`
//! over HTTPS) the first time a login, step-up or consent page is shown; the pending request stores its hash;
//! `/login` and `/consent` accept a form only with that cookie. And cross-site form posts are refused outright
//! (`Sec-Fetch-Site`, `Origin`).
//!
//! Must not: accept a form without the cookie of the browser its page was shown to, or keep the cookie's value
//! anywhere but in the browser (only its hash is stored).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::cookies::cookie;
use super::csrf::tokens_match;
use super::error::error_page;
use crate::{hash, random_token};

/// The binding cookie's name over plain HTTP (development on loopback).
pub const BROWSER_COOKIE: &str = "portcullis_browser";
/// Its name over HTTPS: a `__Host-` cookie (Secure, `Path=/`, no `Domain`), which no subdomain can set.
pub const BROWSER_COOKIE_SECURE: &str = "__Host-portcullis_browser";

/// How long a browser keeps its binding cookie (a day; a page older than that has long expired).
pub const BROWSER_COOKIE_LIFETIME: u64 = 86_400;

/// A browser's binding: its cookie's value, and whether it was made for this response.
pub struct BrowserBinding {
    value: String,
    new: bool,
}

fn name(secure: bool) -> &'static str {
    if secure {
        BROWSER_COOKIE_SECURE
    } else {
        BROWSER_COOKIE
    }
}

/// A well-formed binding value: what [`random_token`] makes (43 base64url characters).
fn well_formed(v: &str) -> bool {
    v.len() == 43
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl BrowserBinding {
    /// The browser's binding cookie, if it sent a well-formed one.
    pub fn existing(headers: &HeaderMap, secure: bool) -> Option<BrowserBinding> {
        cookie(headers, name(secure))
            .filter(|v| well_formed(v))
            .map(|v| BrowserBinding {
                value: v.to_owned(),
                new: false,
            })
    }

    /// The browser's binding, or a new one (to be set with [`set_cookie`](Self::set_cookie)).
    pub fn of(headers: &HeaderMap, secure: bool) -> BrowserBinding {
        Self::existing(headers, secure).unwrap_or_else(|| BrowserBinding {
            value: random_token(),
            new: true,
        })
    }

    /// What a pending request stores of it.
    pub fn hash(&self) -> String {
        hash(&self.value)
    }

    /// Whether this browser is the one a pending request storing `stored` was shown to (constant time; an
    /// empty `stored` matches no browser).
    pub fn matches(&self, stored: &str) -> bool {
        !stored.is_empty() && tokens_match(stored, &self.hash())
    }

    /// Adds the `Set-Cookie` of a new binding to `resp`.
    pub fn set_cookie(&self, resp: &mut Response, secure: bool) {
        if !self.new {
            return;
        }
        let attrs = if secure { "; Secure" } else { "" };
        let v = format!(
            "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={BROWSER_COOKIE_LIFETIME}{attrs}",
            name(secure),
            self.value
        );
        if let Ok(h) = HeaderValue::from_str(&v) {
            resp.headers_mut().append(header::SET_COOKIE, h);
        }
    }
}

/// Refuses a form posted from another site: `Sec-Fetch-Site` other than `same-origin` (or `none`: typed or
/// bookmarked), or an `Origin` other than the provider's (`null` passes: the provider's own pages send no
/// referrer, so browsers send `Origin: null` for their forms).
#[allow(clippy::result_large_err)] // the error is the response, built once per request
pub fn same_site_form(headers: &HeaderMap, issuer_origin: &str) -> Result<(), Response> {
    let refuse = || {
        Err(error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "a sign-in form was posted from another site",
        ))
    };
    // Every value of each header counts (a second `Sec-Fetch-Site` or `Origin` cannot hide behind a first).
    let all = |n: &str| {
        headers
            .get_all(n)
            .iter()
            .map(|v| v.to_str().unwrap_or("\u{0}"))
            .collect::<Vec<_>>()
    };
    if all("sec-fetch-site")
        .iter()
        .any(|site| !matches!(*site, "same-origin" | "none"))
    {
        return refuse();
    }
    if all("origin")
        .iter()
        .any(|origin| *origin != "null" && *origin != issuer_origin)
    {
        return refuse();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_binding_matches_only_its_own_hash() {
        let b = BrowserBinding::of(&HeaderMap::new(), false);
        assert!(b.new);
        assert!(b.matches(&b.hash()));
        assert!(!b.matches(""));
        let other = BrowserBinding::of(&HeaderMap::new(), false);
        assert!(!other.matches(&b.hash()));
        let again = BrowserBinding::existing(
            &headers(&[("cookie", &format!("{BROWSER_COOKIE}={}", b.value))]),
            false,
        )
        .unwrap();
        assert!(!again.new && again.matches(&b.hash()));
    }

    #[test]
    fn malformed_or_misnamed_cookies_are_no_binding() {
        for c in [
            format!("{BROWSER_COOKIE}=short"),
            format!("{BROWSER_COOKIE}={}", "a".repeat(44)),
            format!("{BROWSER_COOKIE}={}", "a;".repeat(21)),
            format!("other={}", "a".repeat(43)),
        ] {
            assert!(
                BrowserBinding::existing(&headers(&[("cookie", &c)]), false).is_none(),
                "{c}"
            );
        }
        let c = format!("{BROWSER_COOKIE}={}", "a".repeat(43));
        assert!(
            BrowserBinding::existing(&headers(&[("cookie", &c)]), true).is_none(),
            "HTTPS wants __Host-"
        );
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let me = "https://op.example";
        for ok in [
            vec![],
            vec![("sec-fetch-site", "same-origin")],
            vec![("sec-fetch-site", "none")],
            vec![("origin", "null")],
            vec![("origin", me), ("sec-fetch-site", "same-origin")],
        ] {
            assert!(same_site_form(&headers(&ok), me).is_ok(), "{ok:?}");
        }
        for bad in [
            vec![("sec-fetch-site", "cross-site")],
            vec![("sec-fetch-site", "same-site")],
            vec![("origin", "https://evil.example")],
            vec![("origin", "https://op.example.evil")],
            vec![("origin", "null"), ("sec-fetch-site", "cross-site")],
            vec![
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-site", "cross-site"),
            ],
            vec![("origin", "null"), ("origin", "https://evil.example")],
        ] {
            assert!(same_site_form(&headers(&bad), me).is_err(), "{bad:?}");
        }
    }
}
