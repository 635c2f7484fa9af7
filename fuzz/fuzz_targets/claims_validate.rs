//! Claims parsing and validation: the input is the payload of a correctly signed token, so everything after the
//! signature check (strict JSON, claim types, time, issuer and audience rules) is exercised.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use portcullis_jose::{Algorithm, Error, HmacKey, Validation, jws, jwt};

fn key() -> &'static HmacKey {
    static K: OnceLock<HmacKey> = OnceLock::new();
    K.get_or_init(|| HmacKey::new(&[9u8; 32]).unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = jws::sign(&jws::Header::new(Algorithm::Hs256), data, key()) else { return };
    let validations = [
        Validation::new(Algorithm::Hs256).issuer("https://op.example").audience("rp").at_time(1_700_000_000),
        Validation::new(Algorithm::Hs256).any_issuer().any_audience().without_time_checks(),
        Validation::new(Algorithm::Hs256).any_issuer().audience("rp").max_age(60).leeway(u64::MAX),
    ];
    for v in &validations {
        match jwt::decode::<serde_json::Value>(&token, key(), v) {
            Ok(t) => {
                // Accepted claims really are what the rules say.
                if let Some(exp) = t.claims.registered.exp {
                    assert!(exp.as_secs() <= jwt::NumericDate::MAX);
                }
                assert!(t.claims.custom.is_object());
            }
            Err(Error::TokenTooLarge { .. }) => {}
            Err(_) => {}
        }
    }
});
