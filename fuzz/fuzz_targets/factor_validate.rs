//! Factor token validation on arbitrary text (as a token), and the same bytes as the claims of a correctly signed
//! factor token, so that the factor, audience and replay rules run too.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use portcullis_factor::{FactorTokenValidator, InMemoryReplayGuard, RegisteredCallback, TOKEN_TYPE};
use portcullis_jose::{Algorithm, HmacKey, JwkSet, jws};

fn fixtures() -> &'static (FactorTokenValidator<JwkSet>, FactorTokenValidator<HmacKey>, HmacKey) {
    static F: OnceLock<(FactorTokenValidator<JwkSet>, FactorTokenValidator<HmacKey>, HmacKey)> = OnceLock::new();
    F.get_or_init(|| {
        let set = JwkSet::from_json(include_bytes!("../keys.json")).unwrap().to_public();
        let hmac = HmacKey::new(&[5u8; 32]).unwrap();
        (
            FactorTokenValidator::new("https://op.example", "shop", set, Algorithm::ALL).at_time(1_800_000_000),
            FactorTokenValidator::new("https://op.example", "shop", hmac.clone(), Algorithm::Hs256).at_time(1_800_000_000),
            hmac,
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let (asym, sym, key) = fixtures();
    let guard = InMemoryReplayGuard::default();
    if let Ok(text) = std::str::from_utf8(data) {
        // No forged token may pass.
        assert!(asym.validate(text, &[], None, &guard).is_err());
        let _ = RegisteredCallback::new("https://app.com/Auth/Callback").map(|cb| cb.matches(text));
    }
    let header = jws::Header::new(Algorithm::Hs256).with_typ(TOKEN_TYPE);
    if let Ok(token) = jws::sign(&header, data, key)
        && let Ok(claims) = sym.validate(&token, &[], Some(600), &guard)
    {
        assert_eq!(claims.aud, "shop");
        assert!(!claims.auth_factor.is_empty());
        // Single use.
        assert!(sym.validate(&token, &[], Some(600), &guard).is_err());
    }
});
