//! # portcullis-pkce
//!
//! Proof Key for Code Exchange (RFC 7636), strict by default: verifiers are checked character by character, only
//! `S256` is accepted unless a [`Policy`] explicitly allows `plain`, comparison is constant-time, and a token
//! request that drops or adds a verifier is refused (the downgrade defence of RFC 9700 §4.8.2).
//!
//! ```
//! use portcullis_pkce::{CodeChallenge, CodeVerifier, Method, Policy, check_token_request};
//!
//! // Client: make a verifier, send its S256 challenge with the authorization request.
//! let verifier = CodeVerifier::generate();
//! let challenge = CodeChallenge::s256(&verifier);
//! assert_eq!(challenge.method(), Method::S256);
//!
//! // Provider: parse what arrived, store it with the code; at the token endpoint, check the verifier.
//! let stored = CodeChallenge::parse(challenge.as_str(), Some("S256"), &Policy::default())?;
//! check_token_request(Some(&stored), Some(verifier.as_str()), &Policy::default())?;
//!
//! // A wrong verifier, a missing one, or one where no challenge was sent are all refused.
//! assert!(check_token_request(Some(&stored), Some(CodeVerifier::generate().as_str()), &Policy::default()).is_err());
//! assert!(check_token_request(Some(&stored), None, &Policy::default()).is_err());
//! assert!(check_token_request(None, Some(verifier.as_str()), &Policy::default()).is_err());
//! # Ok::<(), portcullis_pkce::PkceError>(())
//! ```
//!
//! Must not: accept `plain` unless a `Policy` allows it, or compare a verifier with its challenge in variable time.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use portcullis_jose::{Backend, HashAlg, base64url};
use subtle::ConstantTimeEq;

/// Shortest verifier (RFC 7636 §4.1).
pub const MIN_LEN: usize = 43;
/// Longest verifier (RFC 7636 §4.1).
pub const MAX_LEN: usize = 128;

/// Why a PKCE value or exchange was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// Fewer than 43 characters.
    #[error("code_verifier has {len} characters; at least 43 are required")]
    TooShort {
        /// Length found.
        len: usize,
    },
    /// More than 128 characters.
    #[error("code_verifier has {len} characters; at most 128 are allowed")]
    TooLong {
        /// Length found.
        len: usize,
    },
    /// A character outside `[A-Za-z0-9-._~]`.
    #[error("code_verifier has a character outside [A-Za-z0-9-._~] at position {position}")]
    InvalidCharacter {
        /// Zero-based character position.
        position: usize,
    },
    /// A `code_challenge` that is not 43 characters of base64url (S256) or not a valid verifier (plain).
    #[error("malformed code_challenge")]
    InvalidChallenge,
    /// `code_challenge_method` is neither `S256` nor `plain`.
    #[error("unsupported code_challenge_method")]
    UnsupportedMethod,
    /// `plain` (or a challenge without a method, which means plain) while the policy refuses it.
    #[error("the plain code_challenge_method is not allowed")]
    PlainNotAllowed,
    /// A challenge was sent but the token request has no `code_verifier`.
    #[error("code_verifier is required")]
    MissingVerifier,
    /// The token request has a `code_verifier` but the authorization request had no challenge (RFC 9700 §4.8.2).
    #[error("code_verifier sent without a code_challenge")]
    UnexpectedVerifier,
    /// The verifier does not match the challenge.
    #[error("code_verifier does not match the code_challenge")]
    Mismatch,
}

/// A `code_verifier`: 43 to 128 characters of `[A-Za-z0-9-._~]`.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl std::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeVerifier(..)")
    }
}

impl CodeVerifier {
    /// 32 octets from the CSPRNG of the default crypto backend, base64url-encoded: 43 characters, 256 bits.
    pub fn generate() -> CodeVerifier {
        let mut octets = [0u8; 32];
        // The system CSPRNG does not fail on supported platforms; if it ever did, refusing to continue is right.
        Backend::default()
            .fill_random(&mut octets)
            .expect("the system CSPRNG failed");
        CodeVerifier::from_octets(&octets)
    }

    /// The verifier for given random octets (RFC 7636 Appendix B uses 32).
    pub fn from_octets(octets: &[u8; 32]) -> CodeVerifier {
        CodeVerifier(base64url::encode(octets))
    }

    /// Parses a verifier received from a client, saying which rule failed.
    pub fn parse(s: &str) -> Result<CodeVerifier, PkceError> {
        check_syntax(s)?;
        Ok(CodeVerifier(s.to_owned()))
    }

    /// The verifier text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_syntax(s: &str) -> Result<(), PkceError> {
    // Character positions, so that a multi-byte character counts once.
    let mut len = 0;
    for (position, c) in s.chars().enumerate() {
        if !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')) {
            return Err(PkceError::InvalidCharacter { position });
        }
        len = position + 1;
    }
    if len < MIN_LEN {
        return Err(PkceError::TooShort { len });
    }
    if len > MAX_LEN {
        return Err(PkceError::TooLong { len });
    }
    Ok(())
}

/// `code_challenge_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `S256`: BASE64URL(SHA256(ASCII(code_verifier))).
    S256,
    /// `plain`: the verifier itself. Refused unless a [`Policy`] allows it.
    Plain,
}

impl Method {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::S256 => "S256",
            Method::Plain => "plain",
        }
    }
}

/// What a deployment accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    allow_plain: bool,
}

impl Policy {
    /// The default policy: `S256` only.
    pub fn s256_only() -> Policy {
        Policy { allow_plain: false }
    }

    /// Also accept `plain` (RFC 7636 allows it for clients that cannot do SHA-256; avoid it).
    pub fn allowing_plain() -> Policy {
        Policy { allow_plain: true }
    }

    /// Whether `plain` is accepted.
    pub fn allows_plain(&self) -> bool {
        self.allow_plain
    }
}

/// A `code_challenge` with its method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge {
    method: Method,
    value: String,
}

fn s256(verifier: &str) -> String {
    base64url::encode(&Backend::default().digest(HashAlg::Sha256, verifier.as_bytes()))
}

impl CodeChallenge {
    /// The S256 challenge of a verifier.
    pub fn s256(verifier: &CodeVerifier) -> CodeChallenge {
        CodeChallenge {
            method: Method::S256,
            value: s256(verifier.as_str()),
        }
    }

    /// The plain challenge of a verifier, only when the policy allows it.
    pub fn plain(verifier: &CodeVerifier, policy: &Policy) -> Result<CodeChallenge, PkceError> {
        if !policy.allow_plain {
            return Err(PkceError::PlainNotAllowed);
        }
        Ok(CodeChallenge {
            method: Method::Plain,
            value: verifier.0.clone(),
        })
    }

    /// Parses `code_challenge` and `code_challenge_method` from an authorization request. An absent method means
    /// `plain` (RFC 7636 §4.3), which the default policy refuses.
    pub fn parse(
        value: &str,
        method: Option<&str>,
        policy: &Policy,
    ) -> Result<CodeChallenge, PkceError> {
        let method = match method {
            Some("S256") => Method::S256,
            Some("plain") | None => Method::Plain,
            Some(_) => return Err(PkceError::UnsupportedMethod),
        };
        match method {
            Method::S256 => {
                // 32 octets of SHA-256 in canonical unpadded base64url.
                let ok = value.len() == 43 && base64url::decode(value).is_ok_and(|b| b.len() == 32);
                if !ok {
                    return Err(PkceError::InvalidChallenge);
                }
            }
            Method::Plain => {
                if !policy.allow_plain {
                    return Err(PkceError::PlainNotAllowed);
                }
                check_syntax(value).map_err(|_| PkceError::InvalidChallenge)?;
            }
        }
        Ok(CodeChallenge {
            method,
            value: value.to_owned(),
        })
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The challenge text.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Checks a verifier against this challenge in constant time (for equal-length inputs).
    pub fn verify(&self, verifier: &CodeVerifier) -> Result<(), PkceError> {
        let computed = match self.method {
            Method::S256 => s256(verifier.as_str()),
            Method::Plain => verifier.0.clone(),
        };
        if bool::from(computed.as_bytes().ct_eq(self.value.as_bytes())) {
            Ok(())
        } else {
            Err(PkceError::Mismatch)
        }
    }
}

/// The token endpoint's PKCE check: `challenge` is what the authorization request carried (stored with the code),
/// `verifier` what the token request carries.
///
/// - challenge and verifier: the verifier must parse and match;
/// - challenge, no verifier: [`PkceError::MissingVerifier`];
/// - no challenge, a verifier: [`PkceError::UnexpectedVerifier`] (an attacker who injected a stolen code must not
///   be able to pass a verifier of their own and have it ignored);
/// - neither: allowed here; whether PKCE is *required* for the client is the provider's decision, made when the
///   authorization request arrives.
pub fn check_token_request(
    challenge: Option<&CodeChallenge>,
    verifier: Option<&str>,
    policy: &Policy,
) -> Result<(), PkceError> {
    match (challenge, verifier) {
        (Some(c), Some(v)) => {
            if c.method == Method::Plain && !policy.allow_plain {
                return Err(PkceError::PlainNotAllowed);
            }
            c.verify(&CodeVerifier::parse(v)?)
        }
        (Some(_), None) => Err(PkceError::MissingVerifier),
        (None, Some(_)) => Err(PkceError::UnexpectedVerifier),
        (None, None) => Ok(()),
    }
}
