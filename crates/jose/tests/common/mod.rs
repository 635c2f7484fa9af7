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

/// A fresh private key for `alg`. RSA keys come from the default backend (ring cannot generate them).
pub fn key_for(alg: Algorithm) -> Jwk {
    Jwk::generate(alg).unwrap()
}

pub fn b64(s: &str) -> Vec<u8> {
    portcullis_jose::base64url::decode(s).unwrap()
}
