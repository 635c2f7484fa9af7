//! Keys ready to use: [`VerifyingKey`], [`SigningKey`] and the symmetric [`HmacKey`].
//!
//! A key knows its [`KeyFamily`]; an algorithm of another family is refused before any crypto runs. Keys are
//! decoded once, when they are built, and bound to the [`Backend`] that built them.
//!
//! Must not: use a key with an algorithm of another family or one its JWK's `alg`, `use` or `key_ops` forbid, or make a
//! public key an HMAC secret.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::alg::{Algorithm, KeyFamily};
use crate::backend::{Backend, PrivateKeyOps, PublicKeyOps};
use crate::error::{Error, KeyError};

/// The elliptic curves supported for ECDSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcCurve {
    /// NIST P-256 (`crv: "P-256"`), for ES256.
    P256,
    /// NIST P-384 (`crv: "P-384"`), for ES384.
    P384,
}

impl EcCurve {
    /// The JWK `crv` name.
    pub const fn name(self) -> &'static str {
        match self {
            EcCurve::P256 => "P-256",
            EcCurve::P384 => "P-384",
        }
    }

    /// Length of a coordinate (and of the private scalar) in bytes.
    pub const fn coordinate_len(self) -> usize {
        match self {
            EcCurve::P256 => 32,
            EcCurve::P384 => 48,
        }
    }

    /// The key family.
    pub const fn family(self) -> KeyFamily {
        match self {
            EcCurve::P256 => KeyFamily::P256,
            EcCurve::P384 => KeyFamily::P384,
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Self> {
        match s {
            "P-256" => Some(EcCurve::P256),
            "P-384" => Some(EcCurve::P384),
            _ => None,
        }
    }
}

/// The private parts of an RSA key (big-endian, minimal length). Zeroized on drop.
#[derive(Clone)]
pub(crate) struct RsaPrivateParts {
    pub(crate) d: Zeroizing<Vec<u8>>,
    pub(crate) p: Zeroizing<Vec<u8>>,
    pub(crate) q: Zeroizing<Vec<u8>>,
    pub(crate) dp: Zeroizing<Vec<u8>>,
    pub(crate) dq: Zeroizing<Vec<u8>>,
    pub(crate) qi: Zeroizing<Vec<u8>>,
}

/// Whether a key's own `alg`, `use` and `key_ops` let it be used for `alg` in the given direction.
#[derive(Debug, Clone)]
pub(crate) struct KeyConstraints {
    pub(crate) family: KeyFamily,
    /// The JWK's `alg`, when it names a JWS algorithm. A JWK whose `alg` is not a JWS algorithm is never built
    /// into a key.
    pub(crate) alg: Option<Algorithm>,
    /// False when `use` or `key_ops` forbid this direction.
    pub(crate) permitted: bool,
}

impl KeyConstraints {
    pub(crate) fn allows(&self, alg: Algorithm) -> bool {
        self.permitted && alg.family() == self.family && self.alg.is_none_or(|a| a == alg)
    }
}

/// A public key prepared for signature verification.
///
/// Build one from a [`Jwk`](crate::Jwk) with [`Jwk::verifying_key`](crate::Jwk::verifying_key), or let a
/// [`JwkSet`](crate::JwkSet) hold many.
#[derive(Clone)]
pub struct VerifyingKey {
    ops: Arc<dyn PublicKeyOps>,
    constraints: KeyConstraints,
    kid: Option<String>,
    /// RSA: modulus length in bytes (the exact signature length).
    rsa_len: usize,
    backend: Backend,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("family", &self.constraints.family)
            .field("kid", &self.kid)
            .field("backend", &self.backend.name())
            .finish()
    }
}

impl VerifyingKey {
    pub(crate) fn new(
        ops: Arc<dyn PublicKeyOps>,
        constraints: KeyConstraints,
        kid: Option<String>,
        rsa_len: usize,
        backend: Backend,
    ) -> Self {
        VerifyingKey {
            ops,
            constraints,
            kid,
            rsa_len,
            backend,
        }
    }

    /// The key family.
    pub fn family(&self) -> KeyFamily {
        self.constraints.family
    }

    /// The `kid` of the JWK this key came from.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The backend that verifies with this key.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether this key may verify `alg` (family, the JWK's `alg`, `use` and `key_ops`).
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.constraints.allows(alg)
    }

    /// The exact signature length for `alg` with this key.
    pub fn signature_len(&self, alg: Algorithm) -> usize {
        alg.fixed_signature_len().unwrap_or(self.rsa_len)
    }

    /// Verifies `sig` over `msg`.
    ///
    /// Errors: [`Error::KeyAlgorithmMismatch`] when the key cannot be used with `alg`,
    /// [`Error::InvalidSignatureLength`], [`Error::InvalidSignature`].
    pub fn verify(&self, alg: Algorithm, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        if !self.supports(alg) {
            return Err(Error::KeyAlgorithmMismatch(alg));
        }
        let expected = self.signature_len(alg);
        if sig.len() != expected {
            return Err(Error::InvalidSignatureLength {
                expected,
                found: sig.len(),
            });
        }
        if self.ops.verify(alg, msg, sig) {
            Ok(())
        } else {
            Err(Error::InvalidSignature)
        }
    }
}

/// A private key prepared for signing (ECDSA, RSA or Ed25519).
#[derive(Clone)]
pub struct SigningKey {
    ops: Arc<dyn PrivateKeyOps>,
    constraints: KeyConstraints,
    kid: Option<String>,
    backend: Backend,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("family", &self.constraints.family)
            .field("kid", &self.kid)
            .field("backend", &self.backend.name())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub(crate) fn new(
        ops: Arc<dyn PrivateKeyOps>,
        constraints: KeyConstraints,
        kid: Option<String>,
        backend: Backend,
    ) -> Self {
        SigningKey {
            ops,
            constraints,
            kid,
            backend,
        }
    }

    /// The key family.
    pub fn family(&self) -> KeyFamily {
        self.constraints.family
    }

    /// The `kid` of the JWK this key came from.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The backend that signs with this key.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The algorithm to use when the caller names none: the JWK's `alg`, else ES256, ES384, RS256 or EdDSA by
    /// family.
    pub fn default_algorithm(&self) -> Algorithm {
        self.constraints
            .alg
            .unwrap_or(match self.constraints.family {
                KeyFamily::P256 => Algorithm::Es256,
                KeyFamily::P384 => Algorithm::Es384,
                KeyFamily::Rsa => Algorithm::Rs256,
                KeyFamily::Ed25519 => Algorithm::EdDsa,
                KeyFamily::Symmetric => Algorithm::Hs256,
            })
    }

    /// Whether this key may sign with `alg`.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.constraints.allows(alg)
    }

    /// Signs `msg` (ECDSA signatures come as R||S, RFC 7518 §3.4).
    pub fn sign(&self, alg: Algorithm, msg: &[u8]) -> Result<Vec<u8>, Error> {
        if !self.supports(alg) {
            return Err(Error::KeyAlgorithmMismatch(alg));
        }
        self.ops.sign(alg, msg)
    }
}

/// A shared secret for HS256, HS384 and HS512 (e.g. `client_secret_jwt`).
///
/// This type is the only way to reach the HMAC algorithms: no public key, and no key from a JWK Set used for
/// verification, can ever become an HMAC secret. RFC 7518 §3.2 requires a key at least as long as the hash
/// output; shorter keys are refused for that algorithm.
///
/// ```
/// use portcullis_jose::{Algorithm, HmacKey};
/// let key = HmacKey::new(&[7u8; 32]).unwrap();
/// let tag = key.sign(Algorithm::Hs256, b"msg").unwrap();
/// assert!(key.verify(Algorithm::Hs256, b"msg", &tag).is_ok());
/// assert!(key.sign(Algorithm::Hs512, b"msg").is_err()); // 32 bytes are too short for HS512
/// ```
#[derive(Clone)]
pub struct HmacKey {
    secret: Zeroizing<Vec<u8>>,
    constraints: KeyConstraints,
    kid: Option<String>,
    backend: Backend,
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl HmacKey {
    /// A key from raw secret bytes, on the default backend.
    pub fn new(secret: &[u8]) -> Result<Self, Error> {
        Self::new_with(secret, Backend::default())
    }

    /// A key from raw secret bytes, on a chosen backend.
    pub fn new_with(secret: &[u8], backend: Backend) -> Result<Self, Error> {
        if secret.is_empty() {
            return Err(KeyError::SymmetricKeyTooShort { len: 0, min: 32 }.into());
        }
        Ok(HmacKey {
            secret: Zeroizing::new(secret.to_vec()),
            constraints: KeyConstraints {
                family: KeyFamily::Symmetric,
                alg: None,
                permitted: true,
            },
            kid: None,
            backend,
        })
    }

    pub(crate) fn with_constraints(
        mut self,
        constraints: KeyConstraints,
        kid: Option<String>,
    ) -> Self {
        self.constraints = constraints;
        self.kid = kid;
        self
    }

    /// The `kid`, when built from a JWK.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm to use when the caller names none: the JWK's `alg`, else HS256.
    pub fn default_algorithm(&self) -> Algorithm {
        self.constraints.alg.unwrap_or(Algorithm::Hs256)
    }

    fn check(&self, alg: Algorithm) -> Result<(), Error> {
        if !self.constraints.allows(alg) {
            return Err(Error::KeyAlgorithmMismatch(alg));
        }
        let min = alg.hash().output_len();
        if self.secret.len() < min {
            return Err(KeyError::SymmetricKeyTooShort {
                len: self.secret.len(),
                min,
            }
            .into());
        }
        Ok(())
    }

    /// Computes the MAC.
    pub fn sign(&self, alg: Algorithm, msg: &[u8]) -> Result<Vec<u8>, Error> {
        self.check(alg)?;
        Ok(self
            .backend
            .provider()
            .hmac_sign(alg.hash(), &self.secret, msg))
    }

    /// Checks the MAC in constant time. Truncated MACs are refused.
    pub fn verify(&self, alg: Algorithm, msg: &[u8], tag: &[u8]) -> Result<(), Error> {
        self.check(alg)?;
        let expected = alg.hash().output_len();
        if tag.len() != expected {
            return Err(Error::InvalidSignatureLength {
                expected,
                found: tag.len(),
            });
        }
        if self
            .backend
            .provider()
            .hmac_verify(alg.hash(), &self.secret, msg, tag)
        {
            Ok(())
        } else {
            Err(Error::InvalidSignature)
        }
    }
}

/// Something that can produce JWS signatures: a [`SigningKey`] or an [`HmacKey`].
pub trait JwsSigner {
    /// Signs the JWS signing input.
    fn sign_jws(&self, alg: Algorithm, signing_input: &[u8]) -> Result<Vec<u8>, Error>;
    /// The `kid` to put in the header when the caller sets none.
    fn jws_kid(&self) -> Option<&str>;
    /// The algorithm to use when the caller names none.
    fn jws_default_algorithm(&self) -> Algorithm;
}

impl JwsSigner for SigningKey {
    fn sign_jws(&self, alg: Algorithm, signing_input: &[u8]) -> Result<Vec<u8>, Error> {
        self.sign(alg, signing_input)
    }
    fn jws_kid(&self) -> Option<&str> {
        self.kid()
    }
    fn jws_default_algorithm(&self) -> Algorithm {
        self.default_algorithm()
    }
}

impl JwsSigner for HmacKey {
    fn sign_jws(&self, alg: Algorithm, signing_input: &[u8]) -> Result<Vec<u8>, Error> {
        self.sign(alg, signing_input)
    }
    fn jws_kid(&self) -> Option<&str> {
        self.kid()
    }
    fn jws_default_algorithm(&self) -> Algorithm {
        self.default_algorithm()
    }
}

/// The keys a verifier trusts. The token's header only *selects* among them (by `alg` and `kid`); nothing in
/// the token can add a key.
///
/// Implemented by [`JwkSet`](crate::JwkSet) (select by `kid`, else by key type), [`VerifyingKey`] and
/// [`HmacKey`] (a single trusted key: the token's `kid` is not consulted).
pub trait VerificationKeys {
    /// Verifies `sig` over `msg` with a trusted key that fits `alg` (and `kid`, where keys are selected by it).
    fn verify_jws(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), Error>;
}

impl VerificationKeys for VerifyingKey {
    fn verify_jws(
        &self,
        alg: Algorithm,
        _kid: Option<&str>,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), Error> {
        if !self.supports(alg) {
            return Err(Error::NoMatchingKey(alg));
        }
        self.verify(alg, msg, sig)
    }
}

impl VerificationKeys for HmacKey {
    fn verify_jws(
        &self,
        alg: Algorithm,
        _kid: Option<&str>,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), Error> {
        if !self.constraints.allows(alg) {
            return Err(Error::NoMatchingKey(alg));
        }
        self.verify(alg, msg, sig)
    }
}

impl<K: VerificationKeys + ?Sized> VerificationKeys for &K {
    fn verify_jws(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), Error> {
        (**self).verify_jws(alg, kid, msg, sig)
    }
}
