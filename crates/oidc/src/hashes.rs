//! `at_hash`, `c_hash` and `s_hash` (OIDC Core §3.1.3.6, §3.3.2.11; FAPI `s_hash`): base64url of the left half of
//! the hash that goes with the ID token's `alg` (SHA-512 for EdDSA with Ed25519).
//!
//! Must not: compare a hash claim in variable time, or choose the hash other than by the ID token's `alg`.

use portcullis_jose::{Algorithm, Backend, base64url};
use subtle::ConstantTimeEq;

/// The hash claim of `value` (an access token, code or state) for an ID token signed with `alg`.
pub fn token_hash(alg: Algorithm, value: &str) -> String {
    let digest = Backend::default().digest(alg.hash(), value.as_bytes());
    base64url::encode(&digest[..digest.len() / 2])
}

/// Checks a hash claim in constant time.
pub fn check_token_hash(alg: Algorithm, value: &str, claim: &str) -> bool {
    bool::from(token_hash(alg, value).as_bytes().ct_eq(claim.as_bytes()))
}
