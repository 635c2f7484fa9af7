//! # portcullis-jose
//!
//! JWS, JWK and JWT for OpenID Connect: strict parsing, explicit trust, and pluggable crypto backends
//! (aws-lc-rs by default, *ring*, or pure-Rust RustCrypto), in the style of rustls's crypto provider.
//!
//! Sans-IO: nothing here touches the network or a file. `#![forbid(unsafe_code)]`.
//!
//! ```
//! use portcullis_jose::{jwt, jws::Header, Algorithm, Jwk, JwkSet, Validation};
//! use serde_json::json;
//!
//! // The provider: a signing key, and its public JWK Set to publish.
//! let key = Jwk::generate(Algorithm::Es256)?;
//! let jwks_json = JwkSet::new(vec![key.to_public().unwrap()]).to_json();
//!
//! let now = jwt::NumericDate::now().as_secs();
//! let token = jwt::encode_value(
//!     &Header::new(Algorithm::Es256).with_typ("JWT"),
//!     &json!({"iss": "https://op.example", "sub": "alice", "aud": "rp", "exp": now + 300, "iat": now}),
//!     &key.signing_key()?,
//! )?;
//!
//! // The relying party: trusted keys and an allow-list; the token's header only selects among them.
//! let jwks = JwkSet::from_json(jwks_json.as_bytes())?;
//! let validation = Validation::new([Algorithm::Es256, Algorithm::Rs256])
//!     .issuer("https://op.example")
//!     .audience("rp");
//! let verified: jwt::Jwt = jwt::decode(&token, &jwks, &validation)?;
//! assert_eq!(verified.claims.registered.sub.as_deref(), Some("alice"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What is refused, and how, is listed on [`Error`]; every variant has a test.
//!
//! Must not: do I/O, or let a token's header add a key or an algorithm the caller did not trust.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alg;
mod b64;
mod backend;
mod error;
mod json;
mod jwk;
mod key;
mod pkcs8;

pub mod jws;
pub mod jwt;

pub use alg::{Algorithm, AlgorithmSet, HashAlg, KeyFamily};
pub use backend::Backend;
pub use error::{Error, KeyError, Part};
pub use jwk::set_limits::{MAX_JWKS_KEYS, MAX_JWKS_LEN};
pub use jwk::{Jwk, JwkAlgorithm, JwkSet, KeyOperation, KeyUse, MAX_JWK_LEN};
pub use jws::VerifyOptions;
pub use jwt::Validation;
pub use key::{EcCurve, HmacKey, JwsSigner, SigningKey, VerificationKeys, VerifyingKey};

/// Parses a JSON document that must be one object without duplicate member names at any depth, as every JOSE
/// structure here is parsed. Errors: [`Error::InvalidJson`], [`Error::NotAnObject`], [`Error::DuplicateMember`]
/// (all with [`Part::Document`]).
///
/// ```
/// assert!(portcullis_jose::parse_strict_object(br#"{"a":1}"#).is_ok());
/// assert!(portcullis_jose::parse_strict_object(br#"{"a":1,"a":2}"#).is_err());
/// ```
pub fn parse_strict_object(
    bytes: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    json::parse_object(bytes, Part::Document)
}

/// Base64url without padding, as JOSE uses it (strict on decode).
pub mod base64url {
    /// Encodes without padding.
    pub fn encode(data: &[u8]) -> String {
        crate::b64::encode(data)
    }
    /// Decodes canonical unpadded base64url.
    pub fn decode(data: &str) -> Result<Vec<u8>, crate::Error> {
        crate::b64::decode(data.as_bytes(), crate::Part::Payload)
    }
}
