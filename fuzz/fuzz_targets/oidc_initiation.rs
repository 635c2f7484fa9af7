//! A third-party initiated login query (OIDC Core §4), as a relying party's `initiate_login_uri` receives it:
//! parsed or refused, never a panic; what parses has an issuer and a well-formed `idp_id` and `login_hint`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_oidc::{LoginInitiation, MAX_IDP_ID, MAX_LOGIN_HINT};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(i) = LoginInitiation::parse(query) {
        assert!(!i.issuer.is_empty());
        assert!(i.idp_id.as_ref().is_none_or(|d| !d.is_empty() && d.len() <= MAX_IDP_ID));
        assert!(i.login_hint.as_ref().is_none_or(|h| h.len() <= MAX_LOGIN_HINT && !h.chars().any(char::is_control)));
    }
});
