//! Token requests from an arbitrary form body and Authorization header: no panic; every accepted request names
//! its client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_oidc::{ClientAuthentication, TokenRequest};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (body, header) = match text.split_once('\n') {
        Some((b, h)) => (b, Some(h)),
        None => (text, None),
    };
    if let Ok(t) = TokenRequest::parse(body, header) {
        match &t.client {
            ClientAuthentication::JwtAssertion { assertion, .. } => assert!(!assertion.is_empty()),
            other => assert!(!other.client_id().unwrap_or_default().is_empty()),
        }
    }
});
