//! # portcullis-rp
//!
//! An OpenID Connect relying party that makes the safe path the only path. A login is two calls:
//! [`RelyingParty::begin`] builds the authorization URL (PKCE S256, `state` and `nonce` from the CSPRNG, kept in a
//! [`LoginSession`] the caller stores) and [`RelyingParty::complete`] turns the callback into a [`Login`] only
//! after every check of the seeds' security checklist and OIDC Core §3.1.3.7 passed:
//!
//! - discovery is validated (`issuer` equals the URL it came from, https except on loopback, no `none`);
//! - the callback's `state` equals the session's; its `iss` (RFC 9207) equals the issuer the login started with,
//!   and is required when the provider advertises it (mix-up defence, also across several configured issuers);
//! - JARM responses are verified (signature, `iss`, `aud`, `exp`);
//! - the response carries exactly what the response type promised;
//! - ID tokens: signature with an allow-list (default ES256, RS256, PS256, EdDSA; symmetric algorithms and `none`
//!   cannot be configured), `iss`, `aud` contains us, `azp`, `exp`/`iat` with leeway, `nonce`, `at_hash`/`c_hash`,
//!   `max_age` → `auth_time`; the two ID tokens of a hybrid flow must agree on `iss` and `sub`;
//! - UserInfo's `sub` must equal the ID token's.
//!
//! Keys come from a per-issuer [`JwksCache`]: an unknown `kid` triggers at most one refetch per
//! [`ClientConfig::jwks_min_refetch`].
//!
//! ```no_run
//! use portcullis_rp::{AuthOptions, Callback, ClientAuth, ClientConfig, RelyingParty};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ClientConfig::new("demo", "http://127.0.0.1:8081/callback", ClientAuth::None)
//!     .issuer("http://127.0.0.1:8080")
//!     .scope("openid profile email");
//! let rp = RelyingParty::new(config)?;
//! let (url, session) = rp.begin("http://127.0.0.1:8080", &AuthOptions::default()).await?;
//! println!("open {url}");
//! // ... the browser comes back to the redirect URI with ?code=...&state=...&iss=...
//! # let callback_url = String::new();
//! let login = rp.complete(&session, &Callback::from_url(&callback_url)?).await?;
//! let userinfo = rp.userinfo(&session.issuer, &login).await?;
//! println!("{} {:?}", login.subject(), userinfo);
//! # Ok(()) }
//! ```
//!
//! Must not: return a `Login` before every check listed above passed, or let a symmetric algorithm or `none` into the
//! ID token allow-list.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod begin;
mod callback;
mod client_auth;
mod config;
mod discovery;
mod error;
mod http;
mod initiated;
mod jwks;
mod relying_party;
mod session;
mod step_up;
mod tokens;
mod userinfo;

#[cfg(feature = "server")]
pub mod demo;
#[cfg(feature = "server")]
pub mod loopback;

pub use callback::Login;
pub use client_auth::ClientAuth;
pub use config::{ClientConfig, DEFAULT_ALGORITHMS};
pub use discovery::{Provider, discover};
pub use error::RpError;
pub use http::{MAX_RESPONSE_LEN, random_token};
pub use jwks::{JwksCache, NeedsKeys};
pub use portcullis_factor::{Factor, FactorClaims, FactorError, InMemoryReplayGuard, ReplayGuard};
pub use relying_party::{RelyingParty, http_client_builder};
pub use session::{AuthOptions, Callback, LoginSession};
pub use step_up::{PendingStepUp, StepUpPolicy};
pub use tokens::Refreshed;
