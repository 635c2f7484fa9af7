//! # portcullis-factor
//!
//! A short-lived signed JWT that proves which extra authentication factors a user just passed, so that a relying
//! application can guard a sensitive operation (the "Auth Token" of step-up services, made safer: it names its
//! audience, has an explicit type, a `jti`, and is single-use).
//!
//! ```
//! use portcullis_factor::{Factor, FactorTokenIssuer, FactorTokenValidator, InMemoryReplayGuard};
//! use portcullis_jose::{Algorithm, Jwk, JwkSet};
//!
//! let key = Jwk::generate(Algorithm::Es256)?;
//! let issuer = FactorTokenIssuer::new("https://op.example", key.signing_key()?, Algorithm::Es256);
//! let token = issuer.issue("user-42", "shop-client", &[Factor::Passkey, Factor::MobileApp])?;
//!
//! let keys = JwkSet::new(vec![key.to_public().unwrap()]);
//! let validator = FactorTokenValidator::new("https://op.example", "shop-client", keys, [Algorithm::Es256]);
//! let replay = InMemoryReplayGuard::default();
//! // A payment needs a passkey, and a token at most 60 seconds old.
//! let claims = validator.validate(&token, &[Factor::Passkey], Some(60), &replay)?;
//! assert_eq!(claims.sub, "user-42");
//! assert!(claims.amr.contains(&"mfa".to_string()));
//! // Single use.
//! assert!(validator.validate(&token, &[Factor::Passkey], Some(60), &replay).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Must not: decide whether a factor was passed (the caller says so), or accept the same token twice.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod callback;
mod replay;
mod request;
mod token;

pub use callback::{CallbackError, RegisteredCallback};
pub use replay::{InMemoryReplayGuard, ReplayGuard};
pub use request::{FactorRequest, FactorRequestError, MAX_NONCE, MAX_QUERY};
pub use token::{
    DEFAULT_LIFETIME, FactorClaims, FactorError, FactorTokenIssuer, FactorTokenValidator,
    TOKEN_TYPE,
};

/// An authentication factor a user can pass for step-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Factor {
    /// A code sent by e-mail (`email`).
    Email,
    /// A code sent by SMS (`sms`).
    Sms,
    /// A code from an authenticator app (`mobile_app`): TOTP, RFC 6238.
    MobileApp,
    /// A second password (`second_password`).
    SecondPassword,
    /// A fresh WebAuthn assertion of one of the user's passkeys (`passkey`).
    Passkey,
}

impl Factor {
    /// Every factor.
    pub const ALL: [Factor; 5] = [
        Factor::Email,
        Factor::Sms,
        Factor::MobileApp,
        Factor::SecondPassword,
        Factor::Passkey,
    ];

    /// The `auth_factor` key.
    pub const fn key(self) -> &'static str {
        match self {
            Factor::Email => "email",
            Factor::Sms => "sms",
            Factor::MobileApp => "mobile_app",
            Factor::SecondPassword => "second_password",
            Factor::Passkey => "passkey",
        }
    }

    /// The RFC 8176 `amr` value: `otp` for e-mailed and authenticator-app codes, `sms`, `pwd`, `hwk` (a
    /// passkey's authenticator key).
    pub const fn amr(self) -> &'static str {
        match self {
            Factor::Email | Factor::MobileApp => "otp",
            Factor::Sms => "sms",
            Factor::SecondPassword => "pwd",
            Factor::Passkey => "hwk",
        }
    }

    /// Parses an `auth_factor` key.
    pub fn from_key(s: &str) -> Option<Factor> {
        Factor::ALL.into_iter().find(|f| f.key() == s)
    }
}
