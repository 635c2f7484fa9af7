//! ID token claims (OIDC Core §2, §3.1.3.7, §3.2.2.11, §3.3.2.12), standard claims and UserInfo (§5.1, §5.3), and
//! the scope → claims mapping (§5.4), extended with provider-registered scopes.
//!
//! Must not: release a user claim that neither the granted scope nor the `claims` request names, or copy into an ID
//! token a claim only the provider sets (`iss`, `sub`, `nonce`, the hashes, ...) from the user's claims.

use std::collections::{BTreeMap, BTreeSet};

use portcullis_jose::jwt::{self, Audience};
use portcullis_jose::{AlgorithmSet, Validation, VerificationKeys};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{ClaimsRequest, Scope, check_token_hash};

/// The `address` claim (OIDC Core §5.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// `formatted`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// `street_address`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    /// `locality`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// `region`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `postal_code`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// `country`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A UserInfo response (OIDC Core §5.3.2): `sub` and any claims, standard or custom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    /// `sub`: must equal the ID token's `sub` (OIDC Core §5.3.2); see [`UserInfo::check_subject`].
    pub sub: String,
    /// Every other claim.
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}

impl UserInfo {
    /// The structured `address`, if present and well-formed.
    pub fn address(&self) -> Option<Address> {
        self.claims
            .get("address")
            .and_then(|a| serde_json::from_value(a.clone()).ok())
    }

    /// Whether this response is about the ID token's subject (token substitution defence).
    pub fn check_subject(&self, id_token_sub: &str) -> bool {
        self.sub == id_token_sub
    }
}

/// Which claims each scope releases (OIDC Core §5.4), plus scopes the provider registers as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeClaims {
    map: BTreeMap<String, Vec<String>>,
}

impl Default for ScopeClaims {
    fn default() -> Self {
        Self::standard()
    }
}

impl ScopeClaims {
    /// `profile`, `email`, `phone` and `address` as OIDC Core §5.4 defines them.
    pub fn standard() -> Self {
        let mut map = BTreeMap::new();
        let profile = [
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ];
        map.insert(
            "profile".to_owned(),
            profile.iter().map(|s| s.to_string()).collect(),
        );
        map.insert(
            "email".to_owned(),
            vec!["email".into(), "email_verified".into()],
        );
        map.insert(
            "phone".to_owned(),
            vec!["phone_number".into(), "phone_number_verified".into()],
        );
        map.insert("address".to_owned(), vec!["address".into()]);
        ScopeClaims { map }
    }

    /// Registers (or replaces) a custom scope, e.g. `avatar` → `nickname`, `picture`, or `payment_details` →
    /// `payment_details`. `openid` cannot be redefined.
    pub fn with_scope(mut self, scope: &str, claims: &[&str]) -> Self {
        if scope != "openid" {
            self.map.insert(
                scope.to_owned(),
                claims.iter().map(|s| s.to_string()).collect(),
            );
        }
        self
    }

    /// Every claim name some configured scope releases (what discovery's `claims_supported` lists, with the
    /// claims the provider sets itself).
    pub fn all_claims(&self) -> BTreeSet<String> {
        self.map.values().flatten().cloned().collect()
    }

    /// The configured scopes and the claims each releases.
    pub fn scopes(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.map.iter().map(|(s, c)| (s.as_str(), c.as_slice()))
    }

    /// The claim names released for a granted scope.
    pub fn claims_for(&self, scope: &Scope) -> BTreeSet<String> {
        scope
            .iter()
            .filter_map(|s| self.map.get(s))
            .flatten()
            .cloned()
            .collect()
    }

    /// The UserInfo response for a user: `sub`, and of `all` (the user's claims) only those the granted scope
    /// releases, plus those named in the `claims` request's `userinfo` member (OIDC Core §5.5).
    pub fn userinfo(
        &self,
        sub: &str,
        all: &Map<String, Value>,
        scope: &Scope,
        claims_request: Option<&ClaimsRequest>,
    ) -> UserInfo {
        let mut allowed = self.claims_for(scope);
        if let Some(requested) = claims_request {
            allowed.extend(requested.userinfo_names().map(str::to_owned));
        }
        let claims = all
            .iter()
            .filter(|(k, _)| allowed.contains(k.as_str()) && !PROVIDER_SET.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        UserInfo {
            sub: sub.to_owned(),
            claims,
        }
    }
    /// The user claims that go into the ID token: those named in the `claims` request's `id_token` member,
    /// plus, when no access token is issued (`response_type=id_token`), those the granted scope releases
    /// (OIDC Core §5.4). Claims the provider sets itself (`iss`, `sub`, `aud`, `exp`, `iat`, `nonce`,
    /// `auth_time`, `acr`, `amr`, `azp`, `sid` and the hashes) are never taken from `all`.
    pub fn id_token_claims(
        &self,
        all: &Map<String, Value>,
        scope: &Scope,
        claims_request: Option<&ClaimsRequest>,
        access_token_issued: bool,
    ) -> Map<String, Value> {
        let mut allowed = if access_token_issued {
            BTreeSet::new()
        } else {
            self.claims_for(scope)
        };
        if let Some(requested) = claims_request {
            allowed.extend(requested.id_token_names().map(str::to_owned));
        }
        all.iter()
            .filter(|(k, _)| allowed.contains(k.as_str()) && !PROVIDER_SET.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// ID token claims only the provider sets.
pub(crate) const PROVIDER_SET: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "nonce",
    "auth_time",
    "acr",
    "amr",
    "azp",
    "sid",
    "at_hash",
    "c_hash",
    "s_hash",
    "cnf",
];

/// Why an ID token was refused by a relying party.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Signature, algorithm, `iss`, `aud`, `exp`, `iat` or claim types.
    #[error(transparent)]
    Jwt(#[from] portcullis_jose::Error),
    /// `sub` is missing.
    #[error("sub is missing")]
    MissingSubject,
    /// `nonce` differs from the one sent (or is missing).
    #[error("nonce mismatch")]
    NonceMismatch,
    /// Several audiences but `azp` is not our client id (OIDC Core §3.1.3.7 points 4–5).
    #[error("azp mismatch")]
    AzpMismatch,
    /// `at_hash` does not match the access token, or is missing where required.
    #[error("at_hash mismatch")]
    AtHashMismatch,
    /// `c_hash` does not match the code, or is missing where required.
    #[error("c_hash mismatch")]
    CHashMismatch,
    /// `max_age` was requested but `auth_time` is missing or too old.
    #[error("authentication too old or auth_time missing")]
    AuthTimeTooOld,
}

/// What a relying party expects of an ID token.
#[derive(Debug, Clone)]
pub struct IdTokenExpectations<'a> {
    /// The issuer the login started with.
    pub issuer: &'a str,
    /// Our client id.
    pub client_id: &'a str,
    /// The `nonce` sent in the authorization request.
    pub nonce: Option<&'a str>,
    /// The `max_age` sent, if any.
    pub max_age: Option<u64>,
    /// The access token returned alongside, to check `at_hash` against; `at_hash` is then required when
    /// `access_token_from_front_channel` (implicit `id_token token`, hybrid `code id_token token`).
    pub access_token: Option<&'a str>,
    /// Whether the access token came from the authorization endpoint.
    pub access_token_from_front_channel: bool,
    /// The code returned alongside in a hybrid flow; `c_hash` is then required.
    pub code: Option<&'a str>,
    /// Clock-skew leeway in seconds.
    pub leeway: u64,
}

/// The verified claims of an ID token.
pub type IdToken = jwt::Jwt<Map<String, Value>>;

/// Verifies an ID token as OIDC Core §3.1.3.7 (and §3.2.2.11, §3.3.2.12) requires.
pub fn verify_id_token(
    token: &str,
    keys: &(impl VerificationKeys + ?Sized),
    algorithms: impl Into<AlgorithmSet>,
    e: &IdTokenExpectations<'_>,
) -> Result<IdToken, IdTokenError> {
    let v = Validation::new(algorithms)
        .issuer(e.issuer)
        .audience(e.client_id)
        .leeway(e.leeway);
    let t: IdToken = jwt::decode(token, keys, &v)?;
    let r = &t.claims.registered;
    if r.sub.is_none() {
        return Err(IdTokenError::MissingSubject);
    }
    if r.iat.is_none() {
        return Err(IdTokenError::Jwt(portcullis_jose::Error::MissingClaim(
            "iat",
        )));
    }
    if let Some(Audience::Many(auds)) = &r.aud
        && auds.len() > 1
        && r.azp.as_deref() != Some(e.client_id)
    {
        return Err(IdTokenError::AzpMismatch);
    }
    if r.azp.as_deref().is_some_and(|azp| azp != e.client_id) {
        return Err(IdTokenError::AzpMismatch);
    }
    if let Some(expected) = e.nonce
        && r.nonce.as_deref() != Some(expected)
    {
        return Err(IdTokenError::NonceMismatch);
    }
    let alg = t.header.alg;
    let hash = |name: &str| t.claims.custom.get(name).and_then(Value::as_str);
    if let Some(at) = e.access_token {
        match hash("at_hash") {
            Some(h) if !check_token_hash(alg, at, h) => return Err(IdTokenError::AtHashMismatch),
            None if e.access_token_from_front_channel => return Err(IdTokenError::AtHashMismatch),
            _ => {}
        }
    }
    if let Some(code) = e.code {
        match hash("c_hash") {
            Some(h) if check_token_hash(alg, code, h) => {}
            _ => return Err(IdTokenError::CHashMismatch),
        }
    }
    if let Some(max_age) = e.max_age {
        let now = jwt::NumericDate::now().as_secs();
        let auth_time = r.auth_time.ok_or(IdTokenError::AuthTimeTooOld)?.as_secs();
        if now > auth_time.saturating_add(max_age).saturating_add(e.leeway) {
            return Err(IdTokenError::AuthTimeTooOld);
        }
    }
    Ok(t)
}

/// Builds a provider's ID token (OIDC Core §2), computing `at_hash`, `c_hash` and `s_hash` with the hash of the
/// algorithm it is actually signed with.
///
/// ```
/// use portcullis_jose::{Algorithm, Jwk, JwkSet};
/// use portcullis_oidc::{IdTokenBuilder, IdTokenExpectations, verify_id_token};
///
/// let key = Jwk::generate(Algorithm::Es256)?;
/// let token = IdTokenBuilder::new("https://op.example", "user-1", "client-1")
///     .nonce("n-0S6_WzA2Mj")
///     .auth_time(1_700_000_000)
///     .code("SplxlOBeZQQYbYS6WxSbIA")
///     .amr(&["pwd", "hwk"])
///     .sign(Algorithm::Es256, &key.signing_key()?)?;
/// let keys = JwkSet::new(vec![key.to_public().unwrap()]);
/// let e = IdTokenExpectations {
///     issuer: "https://op.example", client_id: "client-1", nonce: Some("n-0S6_WzA2Mj"), max_age: None,
///     access_token: None, access_token_from_front_channel: false, code: Some("SplxlOBeZQQYbYS6WxSbIA"), leeway: 60,
/// };
/// verify_id_token(&token, &keys, Algorithm::Es256, &e)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct IdTokenBuilder {
    claims: Map<String, Value>,
    lifetime: u64,
    access_token: Option<String>,
    code: Option<String>,
    state: Option<String>,
}

impl IdTokenBuilder {
    /// An ID token from `issuer` about `subject` for `client_id`, valid for 5 minutes.
    pub fn new(issuer: &str, subject: &str, client_id: &str) -> Self {
        let mut claims = Map::new();
        claims.insert("iss".into(), issuer.into());
        claims.insert("sub".into(), subject.into());
        claims.insert("aud".into(), client_id.into());
        IdTokenBuilder {
            claims,
            lifetime: 300,
            access_token: None,
            code: None,
            state: None,
        }
    }

    /// Lifetime in seconds.
    pub fn lifetime(mut self, secs: u64) -> Self {
        self.lifetime = secs;
        self
    }
    /// `nonce` from the authorization request.
    pub fn nonce(self, nonce: &str) -> Self {
        self.claim("nonce", nonce.into())
    }
    /// `auth_time`.
    pub fn auth_time(self, secs: u64) -> Self {
        self.claim("auth_time", secs.into())
    }
    /// `acr`.
    pub fn acr(self, acr: &str) -> Self {
        self.claim("acr", acr.into())
    }
    /// `amr` (RFC 8176 values).
    pub fn amr(self, amr: &[&str]) -> Self {
        self.claim("amr", amr.iter().map(|s| Value::from(*s)).collect())
    }
    /// `sid` (session id, for logout).
    pub fn sid(self, sid: &str) -> Self {
        self.claim("sid", sid.into())
    }
    /// `azp`.
    pub fn azp(self, azp: &str) -> Self {
        self.claim("azp", azp.into())
    }
    /// The access token issued with it: adds `at_hash`.
    pub fn access_token(mut self, token: &str) -> Self {
        self.access_token = Some(token.to_owned());
        self
    }
    /// The code issued with it (hybrid): adds `c_hash`.
    pub fn code(mut self, code: &str) -> Self {
        self.code = Some(code.to_owned());
        self
    }
    /// The `state` returned with it: adds `s_hash`.
    pub fn state(mut self, state: &str) -> Self {
        self.state = Some(state.to_owned());
        self
    }
    /// Any other claim (e.g. released profile claims). Registered ones set above are not overridden.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        if !matches!(
            name,
            "iss" | "sub" | "aud" | "exp" | "iat" | "at_hash" | "c_hash" | "s_hash"
        ) {
            self.claims.insert(name.to_owned(), value);
        }
        self
    }

    /// Signs at the current time.
    pub fn sign(
        self,
        alg: portcullis_jose::Algorithm,
        key: &(impl portcullis_jose::JwsSigner + ?Sized),
    ) -> Result<String, portcullis_jose::Error> {
        self.sign_at(alg, key, jwt::NumericDate::now().as_secs())
    }

    /// Signs as if at `now`.
    pub fn sign_at(
        mut self,
        alg: portcullis_jose::Algorithm,
        key: &(impl portcullis_jose::JwsSigner + ?Sized),
        now: u64,
    ) -> Result<String, portcullis_jose::Error> {
        self.claims.insert("iat".into(), now.into());
        self.claims
            .insert("exp".into(), (now + self.lifetime).into());
        for (name, value) in [
            ("at_hash", &self.access_token),
            ("c_hash", &self.code),
            ("s_hash", &self.state),
        ] {
            if let Some(v) = value {
                self.claims
                    .insert(name.into(), crate::token_hash(alg, v).into());
            }
        }
        jwt::encode_value(&portcullis_jose::jws::Header::new(alg), &self.claims, key)
    }
}
