//! Cross-site request forgery defences of the provider's own forms (login, consent): each form carries the
//! unguessable token of the pending request it answers, compared in constant time; a consent form's token also
//! names the session that may answer it.
//!
//! Must not: load pending requests or sessions (the endpoints do), or accept a form whose token is missing.

use axum::http::StatusCode;
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::error::error_page;

/// Whether the token a form carries is the one expected, in constant time.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// [`tokens_match`], or the 403 error page.
#[allow(clippy::result_large_err)] // the error is the response, built once per request
pub fn check(expected: &str, given: &str) -> Result<(), Response> {
    if tokens_match(expected, given) {
        Ok(())
    } else {
        Err(error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "CSRF token mismatch",
        ))
    }
}

/// A consent form's token: random, then `.` and the session id it is bound to. A consent page obtained by
/// someone else cannot be submitted from the victim's browser.
pub fn bound_to_session(random: &str, sid: &str) -> String {
    format!("{random}.{sid}")
}

/// Whether a consent form's token was bound to the session `sid`.
pub fn is_bound_to_session(token: &str, sid: &str) -> bool {
    token
        .strip_suffix(sid)
        .is_some_and(|rest| rest.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_must_match_exactly() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("abc", "ab"));
        assert!(!tokens_match("abc", ""));
    }

    #[test]
    fn consent_token_names_its_session() {
        let t = bound_to_session("r4nd", "sid1");
        assert!(is_bound_to_session(&t, "sid1"));
        assert!(!is_bound_to_session(&t, "id1"));
        assert!(!is_bound_to_session(&t, "sid2"));
        assert!(!is_bound_to_session("r4ndsid1", "sid1"));
    }
}
