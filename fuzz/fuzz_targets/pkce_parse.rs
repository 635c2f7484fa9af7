//! PKCE verifier and challenge parsing, and the token-endpoint check, on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_pkce::{CodeChallenge, CodeVerifier, Policy, check_token_request};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (a, b) = text.split_at(text.find('|').unwrap_or(text.len()));
    let b = b.strip_prefix('|').unwrap_or(b);
    if let Ok(v) = CodeVerifier::parse(a) {
        // Anything that parses is 43..=128 unreserved characters and verifies against its own S256 challenge.
        assert!((43..=128).contains(&v.as_str().len()));
        assert!(CodeChallenge::s256(&v).verify(&v).is_ok());
    }
    for policy in [Policy::s256_only(), Policy::allowing_plain()] {
        for method in [None, Some("S256"), Some("plain"), Some(b)] {
            if let Ok(c) = CodeChallenge::parse(a, method, &policy) {
                let _ = check_token_request(Some(&c), Some(b), &policy);
            }
        }
    }
});
