//! Compact JWS parsing and verification against a fixed trusted set (ES256, ES384, RS256, EdDSA keys, and an
//! HMAC secret). Nothing may panic; nothing signed by another key may verify.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use portcullis_jose::{Algorithm, HmacKey, JwkSet, VerifyOptions, jws};

fn keys() -> &'static (JwkSet, HmacKey) {
    static K: OnceLock<(JwkSet, HmacKey)> = OnceLock::new();
    K.get_or_init(|| {
        let set = JwkSet::from_json(include_bytes!("../keys.json")).unwrap().to_public();
        (set, HmacKey::new(&[7u8; 64]).unwrap())
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let (set, hmac) = keys();
    let opts = VerifyOptions::new(Algorithm::ALL).understand_critical("b64");
    // A fuzzer cannot forge signatures: acceptance means a bug.
    assert!(jws::verify(token, set, &opts).is_err());
    let _ = jws::verify(token, hmac, &VerifyOptions::new(Algorithm::Hs256).typ("JWT"));
    if let Ok(d) = jws::decode_unverified(token) {
        // Whatever decodes re-serializes to a header with the same algorithm.
        assert_eq!(d.header.to_map()["alg"], d.header.alg.as_str());
    }
});
