//! Crypto backends, chosen like rustls's crypto provider.
//!
//! Each backend is a cargo feature: `aws-lc` (default), `ring` and `rustcrypto`. Several can be enabled at once;
//! [`Backend::default()`] picks the first enabled in that order, and every key constructor has a `_with` form that
//! names a backend explicitly. Keys are bound to the backend that built them.
//!
//! Must not: parse JWKs or check an algorithm against a key: the key layer checks shapes, families and signature
//! lengths before calling a backend.

use std::fmt::Debug;
use std::sync::Arc;

use crate::alg::{Algorithm, HashAlg};
use crate::error::{Error, KeyError};
use crate::key::{EcCurve, RsaPrivateParts};

#[cfg(not(any(feature = "aws-lc", feature = "ring", feature = "rustcrypto")))]
compile_error!(
    "portcullis-jose needs at least one crypto backend feature: aws-lc, ring or rustcrypto"
);

#[cfg(feature = "aws-lc")]
mod aws_lc;
#[cfg(feature = "ring")]
mod ring;
#[cfg(feature = "rustcrypto")]
mod rustcrypto;

/// A crypto backend compiled into this build.
///
/// ```
/// use portcullis_jose::Backend;
/// let b = Backend::default();
/// assert!(Backend::enabled().contains(&b));
/// println!("signing with {}", b.name());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// aws-lc-rs (feature `aws-lc`).
    #[cfg(feature = "aws-lc")]
    AwsLc,
    /// *ring* (feature `ring`).
    #[cfg(feature = "ring")]
    Ring,
    /// RustCrypto crates (feature `rustcrypto`).
    #[cfg(feature = "rustcrypto")]
    RustCrypto,
}

const ENABLED: &[Backend] = &[
    #[cfg(feature = "aws-lc")]
    Backend::AwsLc,
    #[cfg(feature = "ring")]
    Backend::Ring,
    #[cfg(feature = "rustcrypto")]
    Backend::RustCrypto,
];

impl Default for Backend {
    /// The first enabled of aws-lc, ring, rustcrypto.
    fn default() -> Self {
        ENABLED[0]
    }
}

impl Backend {
    /// Every backend compiled into this build, default first.
    pub fn enabled() -> &'static [Backend] {
        ENABLED
    }

    /// A short name: `aws-lc`, `ring` or `rustcrypto`.
    pub fn name(self) -> &'static str {
        self.provider().name()
    }

    pub(crate) fn provider(self) -> &'static dyn Provider {
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => &aws_lc::PROVIDER,
            #[cfg(feature = "ring")]
            Backend::Ring => &ring::PROVIDER,
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => &rustcrypto::PROVIDER,
        }
    }

    /// Computes a digest with this backend.
    pub fn digest(self, hash: HashAlg, data: &[u8]) -> Vec<u8> {
        self.provider().digest(hash, data)
    }

    /// Fills `buf` from this backend's CSPRNG.
    pub fn fill_random(self, buf: &mut [u8]) -> Result<(), Error> {
        self.provider().fill_random(buf)
    }
}

/// Public key material, already checked for shape (lengths) by the JWK layer.
pub(crate) enum PublicParts<'a> {
    Ec {
        curve: EcCurve,
        x: &'a [u8],
        y: &'a [u8],
    },
    Rsa {
        n: &'a [u8],
        e: &'a [u8],
    },
    Ed25519 {
        x: &'a [u8],
    },
}

/// Private key material, already checked for shape by the JWK layer.
pub(crate) enum PrivateParts<'a> {
    Ec {
        curve: EcCurve,
        d: &'a [u8],
        x: &'a [u8],
        y: &'a [u8],
    },
    Rsa {
        n: &'a [u8],
        e: &'a [u8],
        private: &'a RsaPrivateParts,
    },
    Ed25519 {
        d: &'a [u8],
        x: &'a [u8],
    },
}

/// What kind of key to generate.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GenerateKind {
    Ec(EcCurve),
    Rsa { bits: usize },
    Ed25519,
}

/// A public key prepared for verification: decoded once, verified many times.
pub(crate) trait PublicKeyOps: Send + Sync + Debug {
    /// `alg` has been checked to fit the key family and `sig` to have the exact length.
    fn verify(&self, alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool;
}

/// A private key prepared for signing.
pub(crate) trait PrivateKeyOps: Send + Sync + Debug {
    /// `alg` has been checked to fit the key family.
    fn sign(&self, alg: Algorithm, msg: &[u8]) -> Result<Vec<u8>, Error>;
}

/// The operations a backend provides.
pub(crate) trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    fn public_key(&self, parts: PublicParts<'_>) -> Result<Arc<dyn PublicKeyOps>, KeyError>;
    fn private_key(&self, parts: PrivateParts<'_>) -> Result<Arc<dyn PrivateKeyOps>, KeyError>;
    /// Returns a PKCS#8 v1 or v2 DER document.
    fn generate_pkcs8(&self, kind: GenerateKind) -> Result<Vec<u8>, KeyError>;
    fn hmac_sign(&self, hash: HashAlg, key: &[u8], msg: &[u8]) -> Vec<u8>;
    /// Constant-time comparison.
    fn hmac_verify(&self, hash: HashAlg, key: &[u8], msg: &[u8], tag: &[u8]) -> bool;
    fn digest(&self, hash: HashAlg, data: &[u8]) -> Vec<u8>;
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), Error>;
    /// The Ed25519 public key of a 32-byte seed.
    fn ed25519_public(&self, seed: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// Uncompressed SEC1 point `04 || x || y`.
pub(crate) fn sec1_point(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(1 + x.len() + y.len());
    p.push(4);
    p.extend_from_slice(x);
    p.extend_from_slice(y);
    p
}
