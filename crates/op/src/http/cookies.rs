//! Cookies: reading one from the request, and the login session cookie (`HttpOnly`, `SameSite=Lax`, `Secure`
//! when the issuer is HTTPS).
//!
//! Must not: look sessions up (that is [`crate::authn::session`]).

use axum::http::{HeaderMap, header};

/// Name of the login session cookie.
pub const SESSION_COOKIE: &str = "portcullis_session";

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
