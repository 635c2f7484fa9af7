//! The descriptive JWK members `use`, `key_ops` and `alg` (RFC 7517 §4.2-4.4) as typed values with their wire
//! strings. Must not hold key material or decide what a key may be used for (that is [`super::keys`]).

use crate::alg::Algorithm;

/// The `use` member (RFC 7517 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyUse {
    /// `sig`
    Signature,
    /// `enc`
    Encryption,
    /// Any other value (kept, never matched).
    Other(String),
}

impl KeyUse {
    pub(super) fn as_str(&self) -> &str {
        match self {
            KeyUse::Signature => "sig",
            KeyUse::Encryption => "enc",
            KeyUse::Other(s) => s,
        }
    }
}

/// One `key_ops` entry (RFC 7517 §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOperation {
    /// `sign`
    Sign,
    /// `verify`
    Verify,
    /// Any other value (`encrypt`, `wrapKey`, ...).
    Other(String),
}

impl KeyOperation {
    pub(super) fn as_str(&self) -> &str {
        match self {
            KeyOperation::Sign => "sign",
            KeyOperation::Verify => "verify",
            KeyOperation::Other(s) => s,
        }
    }
}

/// The `alg` member of a JWK: a JWS algorithm this crate knows, or another registered name (kept, and such a
/// key is never used for JWS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwkAlgorithm {
    /// A JWS algorithm.
    Jws(Algorithm),
    /// Something else, such as `RSA-OAEP`.
    Other(String),
}
