//! Helpers shared by the integration tests.
#![allow(dead_code)]

use portcullis_jose::{Algorithm, Backend, Jwk};
use serde_json::Value;

/// Loads a JSON file from `tests/vectors/`.
pub fn vector(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

pub fn jwk(v: &Value) -> Jwk {
    Jwk::from_json(v.to_string().as_bytes()).unwrap()
}

/// Every backend compiled into this test build.
pub fn backends() -> &'static [Backend] {
    Backend::enabled()
}

/// The asymmetric algorithms, each with a key generated once per backend that can generate it.
pub const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::Rs256,
    Algorithm::Rs384,
    Algorithm::Rs512,
    Algorithm::Ps256,
    Algorithm::Ps384,
    Algorithm::Ps512,
    Algorithm::EdDsa,
];

/// A fresh private key for `alg` from the default backend. Where that backend cannot generate the key (RSA on
/// ring alone), one of the fixed keys in `tests/vectors/rsa_test_keys.json`, in rotation, with `alg` and `kid` set
/// as generation would.
pub fn key_for(alg: Algorithm) -> Jwk {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    match Jwk::generate(alg) {
        Ok(k) => k,
        Err(portcullis_jose::KeyError::UnsupportedByBackend(_)) => {
            let keys = vector("rsa_test_keys.json");
            let keys = keys["keys"].as_array().unwrap();
            let mut k = jwk(&keys[NEXT.fetch_add(1, Ordering::Relaxed) % keys.len()]);
            k.set_alg(alg).unwrap();
            k.set_key_use(Some(portcullis_jose::KeyUse::Signature));
            k.set_kid(Some(k.thumbprint()));
            k
        }
        Err(e) => panic!("cannot make a {alg} key: {e}"),
    }
}

pub fn b64(s: &str) -> Vec<u8> {
    portcullis_jose::base64url::decode(s).unwrap()
}
