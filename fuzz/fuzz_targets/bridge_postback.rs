//! The login bridge's postback body: parsed into a checked postback or refused, never a panic; what parses has
//! a well-formed request id and identifier, and every claim within its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_oidc::{MAX_IDENTIFIER, MAX_POSTBACK_CLAIMS, Postback};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Postback::parse(data) {
        assert!((16..=64).contains(&p.request_id.len()));
        assert!(!p.identifier.is_empty() && p.identifier.len() <= MAX_IDENTIFIER);
        assert!(p.claims.len() <= MAX_POSTBACK_CLAIMS);
        assert!(!p.claims.contains_key("sub") && !p.claims.contains_key("iss"));
        // The canonical form is a pure function of the content.
        assert_eq!(p.canonical(), p.clone().canonical());
    }
});
