//! The one error type of this crate.
//!
//! Every way an input can be refused has its own variant, so that callers (and tests) can match on
//! *why* a token or key was rejected.
//!
//! Must not: hold key material or signature bytes.

use crate::Algorithm;

/// Which part of a compact JWS an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The protected header (first part).
    Header,
    /// The payload, or the JWT claims set (second part).
    Payload,
    /// The signature (third part).
    Signature,
    /// A JSON Web Key or JWK Set.
    Jwk,
    /// Another JSON document (metadata, a request object's claims, ...).
    Document,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::Header => "header",
            Part::Payload => "payload",
            Part::Signature => "signature",
            Part::Jwk => "JWK",
            Part::Document => "document",
        })
    }
}

/// Why a key could not be parsed, built or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// `kty` is missing or names a key type this crate does not support.
    #[error("unsupported key type {0:?}")]
    UnsupportedKeyType(String),
    /// `crv` names a curve this crate does not support for the key type.
    #[error("unsupported curve {0:?}")]
    UnsupportedCurve(String),
    /// A required member is absent.
    #[error("missing JWK member {0:?}")]
    MissingMember(&'static str),
    /// A member has the wrong JSON type or an invalid value.
    #[error("invalid JWK member {0:?}")]
    InvalidMember(&'static str),
    /// An RSA modulus shorter than 2048 bits (or longer than 8192 bits).
    #[error("RSA modulus of {bits} bits is outside the accepted 2048..=8192")]
    RsaModulusSize {
        /// The modulus size found.
        bits: usize,
    },
    /// The key's `alg` member names an algorithm that does not fit its key type.
    #[error("the key's alg {0} does not fit its key type")]
    AlgorithmMismatch(Algorithm),
    /// The crypto backend refused the key material (not on the curve, inconsistent private parts, ...).
    #[error("the key material was rejected by the crypto backend")]
    Rejected,
    /// A private key was needed but only public parts were given.
    #[error("a private key is required")]
    NotPrivate,
    /// The PEM or PKCS#8 DER input is malformed or of an unsupported algorithm.
    #[error("invalid PKCS#8 / PEM input")]
    InvalidPkcs8,
    /// The selected backend cannot perform this operation (e.g. RSA key generation on *ring*).
    #[error("the {0} backend does not support this operation")]
    UnsupportedByBackend(&'static str),
    /// Multi-prime RSA keys (`oth`) are not supported.
    #[error("multi-prime RSA keys are not supported")]
    MultiPrimeRsa,
    /// An oct key that is empty or shorter than the algorithm's hash output.
    #[error("symmetric key too short: {len} bytes, at least {min} needed")]
    SymmetricKeyTooShort {
        /// Length found.
        len: usize,
        /// Minimum length.
        min: usize,
    },
}

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input (a token, JWK or JWK Set) is longer than its limit (checked before anything else).
    #[error("input of {len} bytes exceeds the limit of {limit} bytes")]
    TokenTooLarge {
        /// Length of the input.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A compact JWS must have exactly three dot-separated parts.
    #[error("a compact JWS has exactly three parts")]
    WrongPartCount,
    /// Not canonical unpadded base64url.
    #[error("invalid base64url in the {0}")]
    InvalidBase64(Part),
    /// Not valid JSON (or nested too deeply).
    #[error("invalid JSON in the {0}")]
    InvalidJson(Part),
    /// Valid JSON, but not an object.
    #[error("the {0} is not a JSON object")]
    NotAnObject(Part),
    /// The same member name appears twice in one JSON object.
    #[error("duplicate member {name:?} in the {part}")]
    DuplicateMember {
        /// Where.
        part: Part,
        /// The repeated name.
        name: String,
    },
    /// A header parameter has the wrong type or value.
    #[error("invalid header parameter {0:?}")]
    InvalidHeader(&'static str),
    /// `alg` is absent.
    #[error("the header has no alg")]
    MissingAlgorithm,
    /// `alg` names an algorithm this crate does not implement (this includes `none`, in any spelling).
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// `alg` is supported but not in the caller's allow-list.
    #[error("algorithm {0} is not allowed here")]
    AlgorithmNotAllowed(Algorithm),
    /// `crit` lists an extension this verifier does not understand (or is malformed).
    #[error("unsupported critical header parameter {0:?}")]
    UnsupportedCritical(String),
    /// The `typ` header does not match the expected explicit type.
    #[error("typ {found:?} does not match the expected {expected:?}")]
    TypeMismatch {
        /// The configured type.
        expected: String,
        /// What the token carries (absent: `None`).
        found: Option<String>,
    },
    /// The token's `kid` names no key in the trusted set.
    #[error("no trusted key has the token's kid")]
    UnknownKeyId,
    /// No trusted key fits the token's `alg` (and `kid`, if any).
    #[error("no trusted key fits algorithm {0}")]
    NoMatchingKey(Algorithm),
    /// The signature has the wrong length for the algorithm and key.
    #[error("signature of {found} bytes where {expected} are required")]
    InvalidSignatureLength {
        /// Length required.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// The signature does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// A key cannot be used with this algorithm (wrong type, curve, `alg`, `use` or `key_ops`).
    #[error("the key cannot be used with {0}")]
    KeyAlgorithmMismatch(Algorithm),
    /// A key could not be parsed or built.
    #[error("key error: {0}")]
    Key(#[from] KeyError),
    /// A claim has the wrong JSON type or an out-of-range value.
    #[error("invalid claim {0:?}")]
    InvalidClaim(&'static str),
    /// The caller's own claims type could not be deserialized from the claims set.
    #[error("claims do not match the expected type: {0}")]
    CustomClaims(String),
    /// A required claim is absent.
    #[error("missing claim {0:?}")]
    MissingClaim(&'static str),
    /// `exp` is in the past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// `iat` is older than the configured maximum age.
    #[error("the token is older than the maximum age")]
    TooOld,
    /// `iss` is not the expected issuer.
    #[error("issuer mismatch")]
    IssuerMismatch,
    /// `aud` does not contain an expected audience.
    #[error("audience mismatch")]
    AudienceMismatch,
    /// A check that is required by default (issuer, audience) was neither configured nor explicitly waived.
    #[error("validation of {0:?} is not configured; set it or waive it explicitly")]
    UnconfiguredCheck(&'static str),
    /// The backend failed while signing or generating (should not happen with valid keys).
    #[error("the crypto backend failed")]
    Crypto,
    /// Serialization of header or claims failed.
    #[error("serialization failed: {0}")]
    Serialization(String),
}
