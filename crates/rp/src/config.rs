//! A relying party's registration and policy ([`ClientConfig`]) and the checks it must pass before use. Must not
//! perform I/O or hold runtime state (discovered providers live in [`crate::RelyingParty`]).

use std::time::Duration;

use portcullis_jose::{Algorithm, AlgorithmSet};

use crate::{ClientAuth, RpError};

/// The ID token algorithms accepted unless configured otherwise.
pub const DEFAULT_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::Es256,
    Algorithm::Rs256,
    Algorithm::Ps256,
    Algorithm::EdDsa,
];

/// A relying party's registration and policy.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `client_id`.
    pub client_id: String,
    /// The registered redirect URI.
    pub redirect_uri: String,
    /// Client authentication.
    pub auth: ClientAuth,
    /// Scopes always requested (must contain `openid`).
    pub scope: String,
    /// ID token (and JARM, signed UserInfo) algorithms accepted.
    pub algorithms: AlgorithmSet,
    /// Clock-skew leeway for `exp`/`iat`/`auth_time`, in seconds.
    pub leeway: u64,
    /// The shortest time between two JWKS fetches triggered by unknown keys.
    pub jwks_min_refetch: Duration,
    /// The issuers a login may start with.
    pub issuers: Vec<String>,
}

impl ClientConfig {
    /// A configuration with the defaults: scope `openid`, [`DEFAULT_ALGORITHMS`], 60 s leeway, JWKS refetch at
    /// most every 30 s, no issuer yet (add with [`issuer`](Self::issuer)).
    pub fn new(client_id: &str, redirect_uri: &str, auth: ClientAuth) -> ClientConfig {
        ClientConfig {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            auth,
            scope: "openid".into(),
            algorithms: AlgorithmSet::from(DEFAULT_ALGORITHMS),
            leeway: 60,
            jwks_min_refetch: Duration::from_secs(30),
            issuers: Vec::new(),
        }
    }

    /// Allows logins with `issuer` (call once per issuer: the account-selector model).
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.issuers.push(issuer.to_owned());
        self
    }

    /// Sets the scopes always requested.
    pub fn scope(mut self, scope: &str) -> Self {
        self.scope = scope.to_owned();
        self
    }

    /// Sets the accepted algorithms.
    pub fn algorithms(mut self, algorithms: impl Into<AlgorithmSet>) -> Self {
        self.algorithms = algorithms.into();
        self
    }

    pub(crate) fn validate(&self) -> Result<(), RpError> {
        let bad = |s: &str| Err(RpError::Config(s.to_owned()));
        if self.client_id.is_empty() {
            return bad("client_id is empty");
        }
        if !portcullis_oidc::acceptable_redirect_uri(&self.redirect_uri) {
            return bad(
                "redirect_uri must be https, or http on a loopback address, without fragment",
            );
        }
        if !self.scope.split(' ').any(|s| s == "openid") {
            return bad("scope must contain openid");
        }
        if self.algorithms.is_empty() {
            return bad("no ID token algorithm allowed");
        }
        if self.algorithms.iter().any(|a| a.is_symmetric()) {
            return bad("symmetric (HS*) algorithms cannot verify a provider's signatures");
        }
        if self.issuers.is_empty() {
            return bad("no issuer configured");
        }
        if let ClientAuth::PrivateKeyJwt(k) = &self.auth
            && !k.is_private()
        {
            return bad("private_key_jwt needs a private key");
        }
        if let ClientAuth::SecretJwt(s) = &self.auth
            && s.len() < 32
        {
            return bad("client_secret_jwt needs a secret of at least 32 bytes");
        }
        Ok(())
    }
}
