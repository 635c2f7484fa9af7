//! JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037 §2): the [`Jwk`] type, its key material and its accessors.
//! Parsing, serialization, thumbprints, key building, generation and PKCS#8 live in the submodules; this module
//! must not grow code for them, nor touch the network or files.

mod generate;
mod keys;
mod params;
mod parse;
mod pkcs8;
mod serialize;
mod set;
mod thumbprint;

/// Size limits of JWK Sets.
pub(crate) mod set_limits {
    pub use super::set::{MAX_JWKS_KEYS, MAX_JWKS_LEN};
}

pub use params::{JwkAlgorithm, KeyOperation, KeyUse};
pub use set::JwkSet;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::alg::{Algorithm, KeyFamily};
use crate::error::KeyError;
use crate::key::{EcCurve, RsaPrivateParts};

/// Largest JWK accepted, in bytes of JSON.
pub const MAX_JWK_LEN: usize = 64 * 1024;

#[derive(Clone)]
enum Material {
    Ec {
        curve: EcCurve,
        x: Vec<u8>,
        y: Vec<u8>,
        d: Option<Zeroizing<Vec<u8>>>,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        private: Option<Box<RsaPrivateParts>>,
    },
    Ed25519 {
        x: Vec<u8>,
        d: Option<Zeroizing<Vec<u8>>>,
    },
    Oct {
        k: Zeroizing<Vec<u8>>,
    },
}

/// A JSON Web Key: EC (P-256, P-384), RSA (2048 to 8192 bits), OKP (Ed25519) or oct.
///
/// Parsing is strict: base64url members must be canonical and of the exact length the key type needs, duplicate
/// members are refused, RSA moduli under 2048 bits are refused, and an `alg` that does not fit the key type is an
/// error.
///
/// ```
/// use portcullis_jose::{Algorithm, Jwk};
/// let private = Jwk::generate(Algorithm::Es256).unwrap();
/// let public = private.to_public().unwrap();
/// assert!(!public.is_private());
/// assert_eq!(private.thumbprint(), public.thumbprint());
/// let again: Jwk = public.to_json().parse().unwrap();
/// assert_eq!(again.thumbprint(), public.thumbprint());
/// ```
#[derive(Clone)]
pub struct Jwk {
    material: Material,
    kid: Option<String>,
    key_use: Option<KeyUse>,
    key_ops: Option<Vec<KeyOperation>>,
    alg: Option<JwkAlgorithm>,
    /// Other members (e.g. `x5c`), kept for round trips, never interpreted.
    extra: Map<String, Value>,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty())
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private", &self.is_private())
            .finish_non_exhaustive()
    }
}

impl Jwk {
    /// The `kty` value.
    pub fn kty(&self) -> &'static str {
        match self.material {
            Material::Ec { .. } => "EC",
            Material::Rsa { .. } => "RSA",
            Material::Ed25519 { .. } => "OKP",
            Material::Oct { .. } => "oct",
        }
    }

    /// The key family.
    pub fn family(&self) -> KeyFamily {
        match &self.material {
            Material::Ec { curve, .. } => curve.family(),
            Material::Rsa { .. } => KeyFamily::Rsa,
            Material::Ed25519 { .. } => KeyFamily::Ed25519,
            Material::Oct { .. } => KeyFamily::Symmetric,
        }
    }

    /// The `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Sets or clears the `kid`.
    pub fn set_kid(&mut self, kid: Option<String>) {
        self.kid = kid;
    }

    /// The `alg` member.
    pub fn alg(&self) -> Option<&JwkAlgorithm> {
        self.alg.as_ref()
    }

    /// Sets the `alg` member; it must fit the key family.
    pub fn set_alg(&mut self, alg: Algorithm) -> Result<(), KeyError> {
        if alg.family() != self.family() {
            return Err(KeyError::AlgorithmMismatch(alg));
        }
        self.alg = Some(JwkAlgorithm::Jws(alg));
        Ok(())
    }

    /// The `use` member.
    pub fn key_use(&self) -> Option<&KeyUse> {
        self.key_use.as_ref()
    }

    /// Sets or clears the `use` member.
    pub fn set_key_use(&mut self, key_use: Option<KeyUse>) {
        self.key_use = key_use;
    }

    /// The `key_ops` member.
    pub fn key_ops(&self) -> Option<&[KeyOperation]> {
        self.key_ops.as_deref()
    }

    /// Whether the JWK holds private (or secret) material.
    pub fn is_private(&self) -> bool {
        match &self.material {
            Material::Ec { d, .. } | Material::Ed25519 { d, .. } => d.is_some(),
            Material::Rsa { private, .. } => private.is_some(),
            Material::Oct { .. } => true,
        }
    }

    /// The public part only (no `d`, no RSA primes, no unknown members; `key_ops` reduced to `verify`).
    /// `None` for an `oct` key, which has no public part.
    pub fn to_public(&self) -> Option<Jwk> {
        let material = match &self.material {
            Material::Ec { curve, x, y, .. } => Material::Ec {
                curve: *curve,
                x: x.clone(),
                y: y.clone(),
                d: None,
            },
            Material::Rsa { n, e, .. } => Material::Rsa {
                n: n.clone(),
                e: e.clone(),
                private: None,
            },
            Material::Ed25519 { x, .. } => Material::Ed25519 {
                x: x.clone(),
                d: None,
            },
            Material::Oct { .. } => return None,
        };
        let key_ops = self.key_ops.as_ref().map(|ops| {
            ops.iter()
                .filter(|o| matches!(o, KeyOperation::Verify | KeyOperation::Sign))
                .map(|_| KeyOperation::Verify)
                .take(1)
                .collect()
        });
        Some(Jwk {
            material,
            kid: self.kid.clone(),
            key_use: self.key_use.clone(),
            key_ops,
            alg: self.alg.clone(),
            extra: Map::new(),
        })
    }

    fn bare(material: Material) -> Jwk {
        Jwk {
            material,
            kid: None,
            key_use: None,
            key_ops: None,
            alg: None,
            extra: Map::new(),
        }
    }
}
