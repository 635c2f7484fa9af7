//! JWS algorithms (RFC 7518 §3, RFC 8037 §3.1).
//!
//! There is no `none`: an unsecured JWS cannot be expressed with this type.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A JWS signature or MAC algorithm.
///
/// Each variant is bound to one key family ([`Algorithm::family`]); a key of another family can never be used
/// with it.
///
/// ```
/// use portcullis_jose::Algorithm;
/// assert_eq!("ES256".parse::<Algorithm>().unwrap(), Algorithm::Es256);
/// assert!("none".parse::<Algorithm>().is_err());
/// assert!("es256".parse::<Algorithm>().is_err()); // names are case-sensitive
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// ECDSA with P-256 and SHA-256.
    Es256,
    /// ECDSA with P-384 and SHA-384.
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256 (salt 32 bytes).
    Ps256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384 (salt 48 bytes).
    Ps384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512 (salt 64 bytes).
    Ps512,
    /// EdDSA with Ed25519 (RFC 8037).
    EdDsa,
    /// HMAC with SHA-256 (symmetric).
    Hs256,
    /// HMAC with SHA-384 (symmetric).
    Hs384,
    /// HMAC with SHA-512 (symmetric).
    Hs512,
}

/// The key family an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFamily {
    /// Elliptic curve P-256.
    P256,
    /// Elliptic curve P-384.
    P384,
    /// RSA.
    Rsa,
    /// Edwards curve Ed25519.
    Ed25519,
    /// A shared secret.
    Symmetric,
}

/// A hash function used by an algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// Output length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }
}

impl Algorithm {
    /// Every algorithm, in a fixed order.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Ps512,
        Algorithm::EdDsa,
        Algorithm::Hs256,
        Algorithm::Hs384,
        Algorithm::Hs512,
    ];

    /// The registered name (`alg` value).
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Hs256 => "HS256",
            Algorithm::Hs384 => "HS384",
            Algorithm::Hs512 => "HS512",
        }
    }

    /// The key family this algorithm needs.
    pub const fn family(self) -> KeyFamily {
        match self {
            Algorithm::Es256 => KeyFamily::P256,
            Algorithm::Es384 => KeyFamily::P384,
            Algorithm::Rs256
            | Algorithm::Rs384
            | Algorithm::Rs512
            | Algorithm::Ps256
            | Algorithm::Ps384
            | Algorithm::Ps512 => KeyFamily::Rsa,
            Algorithm::EdDsa => KeyFamily::Ed25519,
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => KeyFamily::Symmetric,
        }
    }

    /// The hash this algorithm uses; for EdDSA, SHA-512 (as OpenID Connect uses for `at_hash`).
    pub const fn hash(self) -> HashAlg {
        match self {
            Algorithm::Es256 | Algorithm::Rs256 | Algorithm::Ps256 | Algorithm::Hs256 => {
                HashAlg::Sha256
            }
            Algorithm::Es384 | Algorithm::Rs384 | Algorithm::Ps384 | Algorithm::Hs384 => {
                HashAlg::Sha384
            }
            Algorithm::Rs512 | Algorithm::Ps512 | Algorithm::Hs512 | Algorithm::EdDsa => {
                HashAlg::Sha512
            }
        }
    }

    /// Whether this is an HMAC algorithm.
    pub const fn is_symmetric(self) -> bool {
        matches!(self.family(), KeyFamily::Symmetric)
    }

    /// The fixed signature length, where the algorithm alone determines it (not for RSA).
    pub const fn fixed_signature_len(self) -> Option<usize> {
        match self {
            Algorithm::Es256 | Algorithm::EdDsa => Some(64),
            Algorithm::Es384 => Some(96),
            Algorithm::Hs256 => Some(32),
            Algorithm::Hs384 => Some(48),
            Algorithm::Hs512 => Some(64),
            _ => None,
        }
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    /// Parses the exact, case-sensitive registered name. `none` (in any spelling) and every other name is
    /// [`Error::UnsupportedAlgorithm`].
    fn from_str(s: &str) -> Result<Self, Error> {
        Algorithm::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::UnsupportedAlgorithm(s.chars().take(32).collect()))
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A set of allowed algorithms (the caller's allow-list).
///
/// ```
/// use portcullis_jose::{Algorithm, AlgorithmSet};
/// let set = AlgorithmSet::from(&[Algorithm::Es256, Algorithm::Rs256][..]);
/// assert!(set.contains(Algorithm::Es256));
/// assert!(!set.contains(Algorithm::Hs256));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct AlgorithmSet(u16);

impl AlgorithmSet {
    /// The empty set (allows nothing).
    pub const fn empty() -> Self {
        AlgorithmSet(0)
    }

    /// Adds an algorithm.
    pub const fn with(self, alg: Algorithm) -> Self {
        AlgorithmSet(self.0 | alg.bit())
    }

    /// Whether `alg` is in the set.
    pub const fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The algorithms in the set.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| self.contains(*a))
    }
}

impl From<&[Algorithm]> for AlgorithmSet {
    fn from(algs: &[Algorithm]) -> Self {
        algs.iter().fold(AlgorithmSet::empty(), |s, a| s.with(*a))
    }
}

impl<const N: usize> From<[Algorithm; N]> for AlgorithmSet {
    fn from(algs: [Algorithm; N]) -> Self {
        AlgorithmSet::from(&algs[..])
    }
}

impl From<Algorithm> for AlgorithmSet {
    fn from(alg: Algorithm) -> Self {
        AlgorithmSet::empty().with(alg)
    }
}
