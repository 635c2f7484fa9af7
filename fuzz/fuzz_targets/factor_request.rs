//! The `/Factor/Authenticate` query string: parsed into typed values or refused, never a panic; what parses
//! names each factor once and every required parameter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_factor::FactorRequest;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = FactorRequest::parse(query) {
        assert!(!r.redirect_url.is_empty() && !r.client_id.is_empty());
        assert!(!r.factors.is_empty());
        let mut keys: Vec<_> = r.factors.iter().map(|f| f.key()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), r.factors.len(), "a factor twice");
        assert!(!r.redirect_url.chars().any(char::is_control));
    }
});
