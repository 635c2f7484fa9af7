//! Creating new JWKs: from a secret, or freshly generated on a backend with `alg`, `use` and an RFC 7638 `kid`.
//! Must not read or write key files (PKCS#8 is [`super::pkcs8`]).

use zeroize::Zeroizing;

use super::{Jwk, JwkAlgorithm, KeyUse, Material};
use crate::alg::{Algorithm, HashAlg, KeyFamily};
use crate::backend::{Backend, GenerateKind};
use crate::error::KeyError;
use crate::key::EcCurve;

impl Jwk {
    /// A new oct JWK from secret bytes.
    pub fn from_secret(secret: &[u8]) -> Result<Jwk, KeyError> {
        if secret.is_empty() {
            return Err(KeyError::InvalidMember("k"));
        }
        Ok(Jwk::bare(Material::Oct {
            k: Zeroizing::new(secret.to_vec()),
        }))
    }

    /// Generates a new private key for `alg` on the default backend, with `alg`, `use: "sig"` and the RFC 7638
    /// thumbprint as `kid`. RSA keys have 2048 bits; HMAC keys as many bytes as the hash output.
    pub fn generate(alg: Algorithm) -> Result<Jwk, KeyError> {
        Self::generate_with(alg, Backend::default())
    }

    /// Generates a new private key on a chosen backend (*ring* cannot generate RSA keys).
    pub fn generate_with(alg: Algorithm, backend: Backend) -> Result<Jwk, KeyError> {
        let kind = match alg.family() {
            KeyFamily::P256 => GenerateKind::Ec(EcCurve::P256),
            KeyFamily::P384 => GenerateKind::Ec(EcCurve::P384),
            KeyFamily::Rsa => GenerateKind::Rsa { bits: 2048 },
            KeyFamily::Ed25519 => GenerateKind::Ed25519,
            KeyFamily::Symmetric => {
                let mut k = Zeroizing::new(vec![0u8; alg.hash().output_len()]);
                backend
                    .fill_random(&mut k)
                    .map_err(|_| KeyError::Rejected)?;
                let mut jwk = Jwk::bare(Material::Oct { k });
                jwk.finish_generated(alg, backend);
                return Ok(jwk);
            }
        };
        let der = Zeroizing::new(backend.provider().generate_pkcs8(kind)?);
        let mut jwk = Jwk::from_pkcs8_der_with(&der, backend)?;
        jwk.finish_generated(alg, backend);
        Ok(jwk)
    }

    fn finish_generated(&mut self, alg: Algorithm, backend: Backend) {
        self.alg = Some(JwkAlgorithm::Jws(alg));
        self.key_use = Some(KeyUse::Signature);
        self.kid = Some(self.thumbprint_with(HashAlg::Sha256, backend));
    }
}
