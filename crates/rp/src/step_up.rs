//! Step-up before a sensitive action (`/Factor/Authenticate`): the URL that sends the browser to the provider
//! asking for factors (with a fresh `nonce`: the [`PendingStepUp`] the application keeps in the user's session),
//! and validating the `auth_token` it comes back with — against the provider's JWKS (cached, refetched once for
//! an unknown key), for this client (`aud`), with every factor the action requires, at most as old as the action
//! allows (a narrower window than the token's own `exp`), for the step-up this session started (`nonce`), for
//! the signed-in user (`sub`), and once only.
//!
//! Must not: accept a token without checking all of that, or a token seen before by the same [`ReplayGuard`].

use portcullis_factor::{Factor, FactorClaims, FactorError, FactorTokenValidator, ReplayGuard};

use crate::jwks::NeedsKeys;
use crate::{RelyingParty, RpError};

/// A replay guard that records nothing: the real one is asked last, once every other check passed.
struct NotYet;

impl ReplayGuard for NotYet {
    fn first_use(&self, _jti: &str, _expires_at: u64, _now: u64) -> bool {
        true
    }
}

impl NeedsKeys for FactorError {
    fn needs_keys(&self) -> bool {
        matches!(self, FactorError::Token(e) if e.needs_keys())
    }
}

/// What a sensitive action requires of the user's step-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepUpPolicy {
    /// Every factor that must have been passed.
    pub factors: Vec<Factor>,
    /// The oldest token accepted, seconds since it was issued (`None`: its `exp` alone).
    pub max_age: Option<u64>,
}

impl StepUpPolicy {
    /// A policy requiring `factors`, passed at most `max_age` seconds ago.
    pub fn new(factors: &[Factor], max_age: Option<u64>) -> StepUpPolicy {
        StepUpPolicy {
            factors: factors.to_vec(),
            max_age,
        }
    }
}

/// A step-up this application started: keep it with the user's session until the browser comes back, and use
/// it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingStepUp {
    /// The `nonce` sent; the token must echo it.
    pub nonce: String,
}

impl RelyingParty {
    /// The URL of `issuer`'s step-up endpoint asking for `factors`, coming back to `redirect_url` (a callback
    /// registered for this client; its own query parameters are kept and returned), and the pending step-up to
    /// keep with the user's session.
    pub async fn factor_url(
        &self,
        issuer: &str,
        redirect_url: &str,
        factors: &[Factor],
    ) -> Result<(String, PendingStepUp), RpError> {
        // The issuer must be one this RP trusts: discovery checks it (and caches the provider for validation).
        let p = self.provider(issuer).await?;
        if factors.is_empty() {
            return Err(RpError::Config("ask for at least one factor".into()));
        }
        let keys: Vec<&str> = factors.iter().map(|f| f.key()).collect();
        let nonce = crate::random_token();
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("redirectUrl", redirect_url)
            .append_pair("clientId", &self.config.client_id)
            .append_pair("factors", &keys.join(" "))
            .append_pair("nonce", &nonce)
            .finish();
        let url = format!(
            "{}/Factor/Authenticate?{query}",
            p.metadata.issuer.trim_end_matches('/')
        );
        Ok((url, PendingStepUp { nonce }))
    }

    /// Validates an `auth_token` from `issuer` against `policy`: signature (the provider's JWKS), `typ`, `iss`,
    /// `aud` = this client, time window, required factors, `max_age`, single use in `replay` (use one guard for
    /// every action of the application, shared across its nodes), the `nonce` of the step-up this session
    /// started (`pending`), and that the user who passed the factors is `sub` (the signed-in user's, as the ID
    /// token said).
    pub async fn verify_auth_token(
        &self,
        issuer: &str,
        token: &str,
        policy: &StepUpPolicy,
        (pending, sub): (&PendingStepUp, &str),
        replay: &dyn ReplayGuard,
    ) -> Result<FactorClaims, RpError> {
        let p = self.provider(issuer).await?;
        // Everything but single use first: a token shown in the wrong session is refused without being spent.
        let claims = p
            .jwks
            .with_keys(&self.http, |keys| {
                FactorTokenValidator::new(
                    p.metadata.issuer.clone(),
                    self.config.client_id.clone(),
                    keys.clone(),
                    self.config.algorithms,
                )
                .leeway(self.config.leeway.min(30))
                .validate(token, &policy.factors, policy.max_age, &NotYet)
            })
            .await??;
        if claims.nonce.as_deref() != Some(pending.nonce.as_str()) {
            return Err(RpError::StepUpMismatch("nonce"));
        }
        if claims.sub != sub {
            return Err(RpError::StepUpMismatch("sub"));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if !replay.first_use(&claims.jti, claims.exp, now) {
            return Err(RpError::AuthToken(FactorError::Replayed));
        }
        Ok(claims)
    }
}
