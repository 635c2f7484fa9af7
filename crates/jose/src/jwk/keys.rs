//! Turning a JWK into the crate's verification, signing and HMAC keys on a backend, carrying its `alg`, `use` and
//! `key_ops` as constraints. Must not parse JSON or relax those constraints.

use super::{Jwk, JwkAlgorithm, KeyOperation, KeyUse, Material};
use crate::backend::{Backend, PrivateParts, PublicParts};
use crate::error::KeyError;
use crate::key::{HmacKey, KeyConstraints, SigningKey, VerifyingKey};

impl Jwk {
    fn constraints(&self, verify: bool) -> Result<KeyConstraints, KeyError> {
        let alg = match &self.alg {
            None => None,
            Some(JwkAlgorithm::Jws(a)) => Some(*a),
            Some(JwkAlgorithm::Other(_)) => return Err(KeyError::InvalidMember("alg")),
        };
        let use_ok = matches!(self.key_use, None | Some(KeyUse::Signature));
        let wanted = if verify {
            KeyOperation::Verify
        } else {
            KeyOperation::Sign
        };
        let ops_ok = self
            .key_ops
            .as_ref()
            .is_none_or(|ops| ops.contains(&wanted));
        Ok(KeyConstraints {
            family: self.family(),
            alg,
            permitted: use_ok && ops_ok,
        })
    }

    /// Builds a verification key on the default backend. `oct` keys are refused: use [`HmacKey::from_jwk`].
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        self.verifying_key_with(Backend::default())
    }

    /// Builds a verification key on a chosen backend.
    pub fn verifying_key_with(&self, backend: Backend) -> Result<VerifyingKey, KeyError> {
        let constraints = self.constraints(true)?;
        let (parts, rsa_len) = match &self.material {
            Material::Ec { curve, x, y, .. } => (
                PublicParts::Ec {
                    curve: *curve,
                    x,
                    y,
                },
                0,
            ),
            Material::Rsa { n, e, .. } => (PublicParts::Rsa { n, e }, n.len()),
            Material::Ed25519 { x, .. } => (PublicParts::Ed25519 { x }, 0),
            Material::Oct { .. } => return Err(KeyError::UnsupportedKeyType("oct".into())),
        };
        let ops = backend.provider().public_key(parts)?;
        Ok(VerifyingKey::new(
            ops,
            constraints,
            self.kid.clone(),
            rsa_len,
            backend,
        ))
    }

    /// Builds a signing key on the default backend (needs the private members). `oct` keys are refused: use
    /// [`HmacKey::from_jwk`].
    pub fn signing_key(&self) -> Result<SigningKey, KeyError> {
        self.signing_key_with(Backend::default())
    }

    /// Builds a signing key on a chosen backend.
    pub fn signing_key_with(&self, backend: Backend) -> Result<SigningKey, KeyError> {
        let constraints = self.constraints(false)?;
        let parts = match &self.material {
            Material::Ec {
                curve,
                x,
                y,
                d: Some(d),
            } => PrivateParts::Ec {
                curve: *curve,
                d,
                x,
                y,
            },
            Material::Rsa {
                n,
                e,
                private: Some(p),
            } => PrivateParts::Rsa { n, e, private: p },
            Material::Ed25519 { x, d: Some(d) } => PrivateParts::Ed25519 { d, x },
            Material::Oct { .. } => return Err(KeyError::UnsupportedKeyType("oct".into())),
            _ => return Err(KeyError::NotPrivate),
        };
        let ops = backend.provider().private_key(parts)?;
        Ok(SigningKey::new(ops, constraints, self.kid.clone(), backend))
    }
}

impl HmacKey {
    /// An HMAC key from an `oct` JWK (keeping its `kid`, `alg`, `use` and `key_ops` constraints).
    pub fn from_jwk(jwk: &Jwk) -> Result<HmacKey, KeyError> {
        Self::from_jwk_with(jwk, Backend::default())
    }

    /// An HMAC key from an `oct` JWK on a chosen backend.
    pub fn from_jwk_with(jwk: &Jwk, backend: Backend) -> Result<HmacKey, KeyError> {
        let Material::Oct { k } = &jwk.material else {
            return Err(KeyError::UnsupportedKeyType(jwk.kty().into()));
        };
        let mut c = jwk.constraints(true)?;
        let s = jwk.constraints(false)?;
        c.permitted = c.permitted || s.permitted;
        let key = HmacKey::new_with(k, backend).map_err(|_| KeyError::InvalidMember("k"))?;
        Ok(key.with_constraints(c, jwk.kid.clone()))
    }
}
