//! JWK thumbprints (RFC 7638): the canonical JSON of the required public members, hashed. Must not include
//! private or optional members in the hash input.

use super::{Jwk, Material};
use crate::alg::HashAlg;
use crate::b64;
use crate::backend::Backend;

impl Jwk {
    /// The RFC 7638 thumbprint with SHA-256, base64url-encoded.
    pub fn thumbprint(&self) -> String {
        self.thumbprint_with(HashAlg::Sha256, Backend::default())
    }

    /// The RFC 7638 thumbprint with a chosen hash and backend.
    pub fn thumbprint_with(&self, hash: HashAlg, backend: Backend) -> String {
        let e = b64::encode;
        let canonical = match &self.material {
            Material::Ec { curve, x, y, .. } => {
                format!(
                    r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                    curve.name(),
                    e(x),
                    e(y)
                )
            }
            Material::Rsa { n, e: exp, .. } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, e(exp), e(n))
            }
            Material::Ed25519 { x, .. } => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, e(x))
            }
            Material::Oct { k } => format!(r#"{{"k":"{}","kty":"oct"}}"#, e(k)),
        };
        b64::encode(&backend.digest(hash, canonical.as_bytes()))
    }
}
