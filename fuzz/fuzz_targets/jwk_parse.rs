//! JWK and JWK Set parsing, plus everything done with a parsed key: serialization round trip, thumbprint, public
//! export, building verification and signing keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_jose::{Jwk, JwkSet};

fuzz_target!(|data: &[u8]| {
    if let Ok(jwk) = Jwk::from_json(data) {
        let json = jwk.to_json();
        let again = Jwk::from_json(json.as_bytes()).expect("a serialized JWK parses again");
        assert_eq!(again.to_json(), json);
        assert_eq!(again.thumbprint(), jwk.thumbprint());
        if let Some(public) = jwk.to_public() {
            assert!(!public.is_private());
            assert_eq!(public.thumbprint(), jwk.thumbprint());
        }
        let _ = jwk.verifying_key();
        let _ = jwk.signing_key();
        let _ = jwk.to_pkcs8_der();
    }
    if let Ok(set) = JwkSet::from_json(data) {
        let _ = set.to_public().to_json();
    }
    let _ = JwkSet::from_json_or_single(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Jwk::from_pkcs8_pem(text);
    }
    let _ = Jwk::from_pkcs8_der(data);
});
