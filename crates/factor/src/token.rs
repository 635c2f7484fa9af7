//! Issuing and validating factor tokens.
//!
//! Must not: accept a token seen before, one for more than one audience, or one whose `typ` is not `factor+jwt`.

use portcullis_jose::jwt::{self, Audience};
use portcullis_jose::{
    Algorithm, AlgorithmSet, Backend, SigningKey, Validation, VerificationKeys, base64url, jws,
};
use serde::Deserialize;
use serde_json::json;

use crate::{Factor, ReplayGuard};

/// The explicit JWT type of factor tokens (RFC 8725 §3.11), so that no other JWT can be passed off as one.
pub const TOKEN_TYPE: &str = "factor+jwt";
/// Default lifetime: 5 minutes.
pub const DEFAULT_LIFETIME: u64 = 300;
/// The longest lifetime a validator accepts (`exp - iat`), whatever the issuer chose.
const MAX_LIFETIME: u64 = 3600;

/// Why a factor token was not issued or not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactorError {
    /// The JWT layer refused it (signature, `iss`, `aud`, `typ`, time window, claim types, ...).
    #[error(transparent)]
    Token(#[from] portcullis_jose::Error),
    /// `auth_factor` is empty (or no factor was given to the issuer).
    #[error("no authentication factor")]
    NoFactors,
    /// `auth_factor` names a factor this crate does not know.
    #[error("unknown authentication factor {0:?}")]
    UnknownFactor(String),
    /// A factor the operation requires is not in `auth_factor`.
    #[error("required factor {} was not passed", .0.key())]
    MissingFactor(Factor),
    /// `exp - iat` is longer than an hour: not a short-lived step-up token.
    #[error("token lifetime too long")]
    LifetimeTooLong,
    /// The token was already used.
    #[error("token already used")]
    Replayed,
}

/// The validated claims of a factor token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorClaims {
    /// `iss`
    pub iss: String,
    /// `sub`: the user.
    pub sub: String,
    /// `aud`: the client the token was issued to.
    pub aud: String,
    /// `iat`
    pub iat: u64,
    /// `exp`
    pub exp: u64,
    /// `jti`
    pub jti: String,
    /// The factors the user passed.
    pub auth_factor: Vec<Factor>,
    /// The `nonce` the application sent with its request, echoed (it ties the token to the application's own
    /// pending step-up).
    pub nonce: Option<String>,
    /// RFC 8176 authentication method references.
    pub amr: Vec<String>,
}

/// Issues factor tokens.
#[derive(Debug, Clone)]
pub struct FactorTokenIssuer {
    issuer: String,
    key: SigningKey,
    alg: Algorithm,
    lifetime: u64,
}

fn now() -> u64 {
    jwt::NumericDate::now().as_secs()
}

impl FactorTokenIssuer {
    /// An issuer signing with `key` and `alg`, tokens valid for [`DEFAULT_LIFETIME`].
    pub fn new(issuer: impl Into<String>, key: SigningKey, alg: Algorithm) -> Self {
        FactorTokenIssuer {
            issuer: issuer.into(),
            key,
            alg,
            lifetime: DEFAULT_LIFETIME,
        }
    }

    /// Sets the lifetime in seconds (validators refuse more than an hour).
    pub fn lifetime(mut self, secs: u64) -> Self {
        self.lifetime = secs;
        self
    }

    /// A token for `subject`, audience `client_id`, proving `factors`.
    pub fn issue(
        &self,
        subject: &str,
        client_id: &str,
        factors: &[Factor],
    ) -> Result<String, FactorError> {
        self.issue_at(subject, client_id, factors, now())
    }

    /// [`FactorTokenIssuer::issue`] at a given time (seconds since the epoch).
    pub fn issue_at(
        &self,
        subject: &str,
        client_id: &str,
        factors: &[Factor],
        now: u64,
    ) -> Result<String, FactorError> {
        self.issue_with_nonce(subject, client_id, factors, None, now)
    }

    /// [`FactorTokenIssuer::issue_at`], echoing the application's `nonce` when it sent one.
    pub fn issue_with_nonce(
        &self,
        subject: &str,
        client_id: &str,
        factors: &[Factor],
        nonce: Option<&str>,
        now: u64,
    ) -> Result<String, FactorError> {
        let mut factors = factors.to_vec();
        factors.sort_unstable();
        factors.dedup();
        if factors.is_empty() {
            return Err(FactorError::NoFactors);
        }
        let mut amr: Vec<&str> = factors.iter().map(|f| f.amr()).collect();
        amr.sort_unstable();
        amr.dedup();
        if factors.len() > 1 {
            amr.push("mfa");
        }
        let mut jti = [0u8; 16];
        Backend::default().fill_random(&mut jti)?;
        let mut claims = json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": client_id,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
            "jti": base64url::encode(&jti),
            "auth_factor": factors.iter().map(|f| f.key()).collect::<Vec<_>>(),
            "amr": amr,
        });
        if let Some(n) = nonce {
            claims["nonce"] = n.into();
        }
        let mut header = jws::Header::new(self.alg).with_typ(TOKEN_TYPE);
        // The key's id, so that a validator holding the issuer's whole JWKS picks the right key.
        if let Some(kid) = self.key.kid() {
            header = header.with_kid(kid);
        }
        Ok(jwt::encode_value(&header, &claims, &self.key)?)
    }
}

/// Validates factor tokens for one client.
#[derive(Debug, Clone)]
pub struct FactorTokenValidator<K> {
    issuer: String,
    audience: String,
    keys: K,
    algorithms: AlgorithmSet,
    leeway: u64,
    now: Option<u64>,
}

#[derive(Deserialize)]
struct Custom {
    auth_factor: Vec<String>,
    #[serde(default)]
    amr: Vec<String>,
    #[serde(default)]
    nonce: Option<String>,
}

impl<K: VerificationKeys> FactorTokenValidator<K> {
    /// A validator for tokens from `issuer` to `client_id`, verified with `keys` and `algorithms`.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        keys: K,
        algorithms: impl Into<AlgorithmSet>,
    ) -> Self {
        FactorTokenValidator {
            issuer: issuer.into(),
            audience: client_id.into(),
            keys,
            algorithms: algorithms.into(),
            leeway: 30,
            now: None,
        }
    }

    /// Clock-skew leeway in seconds (default 30).
    pub fn leeway(mut self, secs: u64) -> Self {
        self.leeway = secs;
        self
    }

    /// Validate as if the time were `now` (seconds since the epoch).
    pub fn at_time(mut self, now: u64) -> Self {
        self.now = Some(now);
        self
    }

    /// Checks signature, `typ`, `iss`, `aud`, the time window, that every `required` factor was passed, that the
    /// token is at most `max_age` seconds old (a per-operation window narrower than `exp`), and finally that it was
    /// not used before (recording it in `replay`).
    pub fn validate(
        &self,
        token: &str,
        required: &[Factor],
        max_age: Option<u64>,
        replay: &dyn ReplayGuard,
    ) -> Result<FactorClaims, FactorError> {
        let now = self.now.unwrap_or_else(now);
        let mut v = Validation::new(self.algorithms)
            .issuer(self.issuer.clone())
            .audience(self.audience.clone())
            .typ(TOKEN_TYPE)
            .leeway(self.leeway)
            .at_time(now);
        if let Some(secs) = max_age {
            v = v.max_age(secs);
        }
        let t: jwt::Jwt<Custom> = jwt::decode(token, &self.keys, &v)?;
        let r = t.claims.registered;
        let missing = |name| FactorError::Token(portcullis_jose::Error::MissingClaim(name));
        let iat = r.iat.ok_or_else(|| missing("iat"))?.as_secs();
        let exp = r.exp.ok_or_else(|| missing("exp"))?.as_secs();
        if exp.saturating_sub(iat) > MAX_LIFETIME {
            return Err(FactorError::LifetimeTooLong);
        }
        let mut auth_factor = Vec::with_capacity(t.claims.custom.auth_factor.len());
        for key in &t.claims.custom.auth_factor {
            auth_factor.push(
                Factor::from_key(key)
                    .ok_or_else(|| FactorError::UnknownFactor(key.chars().take(32).collect()))?,
            );
        }
        if auth_factor.is_empty() {
            return Err(FactorError::NoFactors);
        }
        if let Some(f) = required.iter().find(|f| !auth_factor.contains(f)) {
            return Err(FactorError::MissingFactor(*f));
        }
        let jti = r.jti.ok_or_else(|| missing("jti"))?;
        let sub = r.sub.ok_or_else(|| missing("sub"))?;
        let aud = match r.aud {
            Some(Audience::One(a)) => a,
            // The validation above found our client id among them; a factor token is for exactly one client.
            Some(Audience::Many(v)) if v.len() == 1 => v.into_iter().next().unwrap_or_default(),
            _ => return Err(FactorError::Token(portcullis_jose::Error::AudienceMismatch)),
        };
        if !replay.first_use(&jti, exp, now) {
            return Err(FactorError::Replayed);
        }
        Ok(FactorClaims {
            iss: r.iss.unwrap_or_default(),
            sub,
            aud,
            iat,
            exp,
            jti,
            auth_factor,
            amr: t.claims.custom.amr,
            nonce: t.claims.custom.nonce,
        })
    }
}
