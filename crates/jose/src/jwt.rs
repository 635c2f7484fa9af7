//! JSON Web Tokens (RFC 7519): typed registered claims, the caller's own claims, and validation that is on by
//! default.
//!
//! Must not: return claims before the signature and the registered claims passed, or skip the `iss` or `aud` check
//! unless the caller waived it by name.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::de::value::MapDeserializer;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::alg::AlgorithmSet;
use crate::error::{Error, Part};
use crate::json;
use crate::jws::{self, Header, VerifyOptions};
use crate::key::{JwsSigner, VerificationKeys};

/// A NumericDate (RFC 7519 §2): whole seconds since the epoch, from 0 to 253402300799 (9999-12-31T23:59:59Z).
///
/// Fractional, negative, string-typed and out-of-range values are refused when parsing claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NumericDate(u64);

impl NumericDate {
    /// The last second of year 9999.
    pub const MAX: u64 = 253_402_300_799;

    /// A date from seconds since the epoch; `None` past [`NumericDate::MAX`].
    pub const fn new(secs: u64) -> Option<NumericDate> {
        if secs <= Self::MAX {
            Some(NumericDate(secs))
        } else {
            None
        }
    }

    /// The current time.
    pub fn now() -> NumericDate {
        NumericDate(unix_now().min(Self::MAX))
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0
    }
}

impl Serialize for NumericDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `aud` claim: one string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences (never empty when parsed).
    Many(Vec<String>),
}

impl Audience {
    /// The audiences.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let s: &[String] = match self {
            Audience::One(a) => std::slice::from_ref(a),
            Audience::Many(v) => v,
        };
        s.iter().map(String::as_str)
    }

    /// Whether `aud` is one of them.
    pub fn contains(&self, aud: &str) -> bool {
        self.iter().any(|a| a == aud)
    }
}

/// The registered claims used by OpenID Connect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisteredClaims {
    /// `iss`
    pub iss: Option<String>,
    /// `sub`
    pub sub: Option<String>,
    /// `aud`
    pub aud: Option<Audience>,
    /// `exp`
    pub exp: Option<NumericDate>,
    /// `nbf`
    pub nbf: Option<NumericDate>,
    /// `iat`
    pub iat: Option<NumericDate>,
    /// `jti`
    pub jti: Option<String>,
    /// `azp` (OIDC Core §2)
    pub azp: Option<String>,
    /// `nonce` (OIDC Core §2)
    pub nonce: Option<String>,
    /// `auth_time` (OIDC Core §2)
    pub auth_time: Option<NumericDate>,
}

impl RegisteredClaims {
    /// Reads the registered claims from a raw object, parsing each once.
    pub(crate) fn from_raw(obj: &json::RawObject<'_>) -> Result<Self, Error> {
        fn string(raw: &RawValue, name: &'static str) -> Result<Option<String>, Error> {
            serde_json::from_str::<String>(raw.get())
                .map(Some)
                .map_err(|_| Error::InvalidClaim(name))
        }
        fn date(raw: &RawValue, name: &'static str) -> Result<Option<NumericDate>, Error> {
            // u64 refuses negative, fractional, exponent and non-number forms.
            serde_json::from_str::<u64>(raw.get())
                .ok()
                .and_then(NumericDate::new)
                .map(Some)
                .ok_or(Error::InvalidClaim(name))
        }
        let mut c = RegisteredClaims::default();
        for (name, raw) in &obj.entries {
            match name.as_ref() {
                "iss" => c.iss = string(raw, "iss")?,
                "sub" => c.sub = string(raw, "sub")?,
                "jti" => c.jti = string(raw, "jti")?,
                "azp" => c.azp = string(raw, "azp")?,
                "nonce" => c.nonce = string(raw, "nonce")?,
                "exp" => c.exp = date(raw, "exp")?,
                "nbf" => c.nbf = date(raw, "nbf")?,
                "iat" => c.iat = date(raw, "iat")?,
                "auth_time" => c.auth_time = date(raw, "auth_time")?,
                "aud" => {
                    c.aud = Some(if raw.get().starts_with('"') {
                        Audience::One(
                            serde_json::from_str(raw.get())
                                .map_err(|_| Error::InvalidClaim("aud"))?,
                        )
                    } else {
                        match serde_json::from_str::<Vec<String>>(raw.get()) {
                            Ok(v) if !v.is_empty() => Audience::Many(v),
                            _ => return Err(Error::InvalidClaim("aud")),
                        }
                    })
                }
                _ => {}
            }
        }
        Ok(c)
    }

    fn write(&self, m: &mut Map<String, Value>) -> Result<(), Error> {
        let mut put = |k: &'static str, v: Option<Value>| -> Result<(), Error> {
            if let Some(v) = v
                && m.insert(k.into(), v).is_some()
            {
                return Err(Error::Serialization(format!("claim {k} is set twice")));
            }
            Ok(())
        };
        let s = |v: &Option<String>| v.as_ref().map(|s| Value::from(s.as_str()));
        let d = |v: &Option<NumericDate>| v.map(|d| Value::from(d.0));
        put("iss", s(&self.iss))?;
        put("sub", s(&self.sub))?;
        put(
            "aud",
            self.aud
                .as_ref()
                .map(|a| serde_json::to_value(a).unwrap_or(Value::Null)),
        )?;
        put("exp", d(&self.exp))?;
        put("nbf", d(&self.nbf))?;
        put("iat", d(&self.iat))?;
        put("jti", s(&self.jti))?;
        put("azp", s(&self.azp))?;
        put("nonce", s(&self.nonce))?;
        put("auth_time", d(&self.auth_time))
    }
}

/// A claims set: the registered claims, typed, plus the caller's own claims `T`.
///
/// When decoding, `T` is deserialized from the *whole* claims object (so it may also read registered claims).
/// When encoding, `T` must serialize to a JSON object, which is merged with the registered claims; a name set in
/// both is an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims<T = Map<String, Value>> {
    /// The registered claims.
    pub registered: RegisteredClaims,
    /// The caller's claims.
    pub custom: T,
}

impl<T: Serialize> Claims<T> {
    /// The claims set as one JSON object.
    pub fn to_map(&self) -> Result<Map<String, Value>, Error> {
        let mut m = match serde_json::to_value(&self.custom)
            .map_err(|e| Error::Serialization(e.to_string()))?
        {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            _ => {
                return Err(Error::Serialization(
                    "custom claims must be a JSON object".into(),
                ));
            }
        };
        self.registered.write(&mut m)?;
        Ok(m)
    }
}

/// A verified and validated JWT.
#[derive(Debug, Clone)]
pub struct Jwt<T = Map<String, Value>> {
    /// The protected header.
    pub header: Header,
    /// The claims.
    pub claims: Claims<T>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Unset,
    Any,
    OneOf(Vec<String>),
}

/// How a JWT is validated. Everything is on by default:
///
/// - signature with an allow-listed algorithm ([`Validation::new`]);
/// - `exp` required and in the future, `nbf` and `iat` not in the future, with a leeway of 60 s;
/// - `iss` and `aud` must match configured values: leaving them unconfigured is an error
///   ([`Error::UnconfiguredCheck`]) unless waived by name ([`Validation::any_issuer`], [`Validation::any_audience`]).
///
/// ```
/// use portcullis_jose::{Algorithm, Validation};
/// let v = Validation::new(Algorithm::Es256)
///     .issuer("https://op.example")
///     .audience("client-1")
///     .leeway(30)
///     .max_age(600);
/// ```
#[derive(Debug, Clone)]
pub struct Validation {
    verify: VerifyOptions,
    leeway: u64,
    issuer: Expect,
    audience: Expect,
    max_age: Option<u64>,
    require_exp: bool,
    check_time: bool,
    now: Option<u64>,
}

impl Validation {
    /// Validation accepting these algorithms, with every check on.
    pub fn new(algorithms: impl Into<AlgorithmSet>) -> Self {
        Validation {
            verify: VerifyOptions::new(algorithms),
            leeway: 60,
            issuer: Expect::Unset,
            audience: Expect::Unset,
            max_age: None,
            require_exp: true,
            check_time: true,
            now: None,
        }
    }

    /// Accept this issuer (may be called several times to accept several).
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        match &mut self.issuer {
            Expect::OneOf(v) => v.push(iss.into()),
            _ => self.issuer = Expect::OneOf(vec![iss.into()]),
        }
        self
    }

    /// Require this audience in `aud` (several calls: any one of them).
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        match &mut self.audience {
            Expect::OneOf(v) => v.push(aud.into()),
            _ => self.audience = Expect::OneOf(vec![aud.into()]),
        }
        self
    }

    /// Waive the issuer check explicitly.
    pub fn any_issuer(mut self) -> Self {
        self.issuer = Expect::Any;
        self
    }

    /// Waive the audience check explicitly.
    pub fn any_audience(mut self) -> Self {
        self.audience = Expect::Any;
        self
    }

    /// Clock-skew leeway in seconds for `exp`, `nbf`, `iat` (default 60).
    pub fn leeway(mut self, secs: u64) -> Self {
        self.leeway = secs;
        self
    }

    /// Refuse tokens whose `iat` is older than this (then `iat` is required).
    pub fn max_age(mut self, secs: u64) -> Self {
        self.max_age = Some(secs);
        self
    }

    /// Accept tokens without `exp` (a present `exp` is still checked).
    pub fn exp_optional(mut self) -> Self {
        self.require_exp = false;
        self
    }

    /// Skip every time check (`exp`, `nbf`, `iat`, max age). Types are still checked. For tools and tests only.
    pub fn without_time_checks(mut self) -> Self {
        self.check_time = false;
        self
    }

    /// Use this time (seconds since the epoch) instead of the system clock.
    pub fn at_time(mut self, now: u64) -> Self {
        self.now = Some(now);
        self
    }

    /// Require this `typ` header (RFC 8725 §3.11).
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.verify = self.verify.typ(typ);
        self
    }

    /// The longest token accepted (default 16 KiB).
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.verify = self.verify.max_token_len(len);
        self
    }

    /// Declare a `crit` extension as understood.
    pub fn understand_critical(mut self, name: impl Into<String>) -> Self {
        self.verify = self.verify.understand_critical(name);
        self
    }

    fn check_configured(&self) -> Result<(), Error> {
        if self.issuer == Expect::Unset {
            return Err(Error::UnconfiguredCheck("iss"));
        }
        if self.audience == Expect::Unset {
            return Err(Error::UnconfiguredCheck("aud"));
        }
        Ok(())
    }

    /// Validates registered claims (signature already checked).
    pub fn validate(&self, c: &RegisteredClaims) -> Result<(), Error> {
        self.check_configured()?;
        if self.check_time {
            let now = self.now.unwrap_or_else(unix_now);
            let lee = self.leeway;
            match c.exp {
                Some(exp) if now >= exp.0.saturating_add(lee) => return Err(Error::Expired),
                None if self.require_exp => return Err(Error::MissingClaim("exp")),
                _ => {}
            }
            if c.nbf.is_some_and(|nbf| now.saturating_add(lee) < nbf.0) {
                return Err(Error::NotYetValid);
            }
            if c.iat.is_some_and(|iat| now.saturating_add(lee) < iat.0) {
                return Err(Error::IssuedInFuture);
            }
            if let Some(max_age) = self.max_age {
                let iat = c.iat.ok_or(Error::MissingClaim("iat"))?;
                if now > iat.0.saturating_add(max_age).saturating_add(lee) {
                    return Err(Error::TooOld);
                }
            }
        }
        if let Expect::OneOf(issuers) = &self.issuer {
            let iss = c.iss.as_deref().ok_or(Error::MissingClaim("iss"))?;
            if !issuers.iter().any(|i| i == iss) {
                return Err(Error::IssuerMismatch);
            }
        }
        if let Expect::OneOf(audiences) = &self.audience {
            let aud = c.aud.as_ref().ok_or(Error::MissingClaim("aud"))?;
            if !audiences.iter().any(|a| aud.contains(a)) {
                return Err(Error::AudienceMismatch);
            }
        }
        Ok(())
    }
}

/// Verifies and validates a JWT, returning its header and typed claims.
///
/// ```
/// use portcullis_jose::{jwt, Algorithm, Jwk, Validation, jws::Header};
/// use serde_json::json;
/// let jwk = Jwk::generate(Algorithm::Es256).unwrap();
/// let now = jwt::NumericDate::now().as_secs();
/// let claims = json!({"iss": "https://op", "aud": "rp", "exp": now + 300, "email": "a@b.example"});
/// let token = jwt::encode_value(&Header::new(Algorithm::Es256), &claims, &jwk.signing_key().unwrap()).unwrap();
///
/// #[derive(serde::Deserialize)]
/// struct Mine { email: String }
/// let v = Validation::new(Algorithm::Es256).issuer("https://op").audience("rp");
/// let jwt: jwt::Jwt<Mine> = jwt::decode(&token, &jwk.verifying_key().unwrap(), &v).unwrap();
/// assert_eq!(jwt.claims.custom.email, "a@b.example");
/// assert_eq!(jwt.claims.registered.iss.as_deref(), Some("https://op"));
/// ```
pub fn decode<T: DeserializeOwned>(
    token: &str,
    keys: &(impl VerificationKeys + ?Sized),
    validation: &Validation,
) -> Result<Jwt<T>, Error> {
    validation.check_configured()?;
    let parts = jws::split(token, validation.verify.token_limit())?;
    let (header, payload) = jws::verify_parts(&parts, keys, &validation.verify)?;
    let obj = json::parse_raw_object(&payload, Part::Payload)?;
    let registered = RegisteredClaims::from_raw(&obj)?;
    validation.validate(&registered)?;
    // The caller's type reads the same raw members: each value is parsed once more, by T alone.
    let members = obj.entries.iter().map(|(k, v)| (k.as_ref(), *v));
    let custom = T::deserialize(MapDeserializer::<_, serde_json::Error>::new(members))
        .map_err(|e| Error::CustomClaims(e.to_string()))?;
    Ok(Jwt {
        header,
        claims: Claims { registered, custom },
    })
}

/// Signs a claims set into a compact JWT.
pub fn encode<T: Serialize>(
    header: &Header,
    claims: &Claims<T>,
    key: &(impl JwsSigner + ?Sized),
) -> Result<String, Error> {
    let payload =
        serde_json::to_vec(&claims.to_map()?).map_err(|e| Error::Serialization(e.to_string()))?;
    jws::sign(header, &payload, key)
}

/// Signs any serializable JSON object as the claims set.
pub fn encode_value<T: Serialize + ?Sized>(
    header: &Header,
    claims: &T,
    key: &(impl JwsSigner + ?Sized),
) -> Result<String, Error> {
    let value = serde_json::to_value(claims).map_err(|e| Error::Serialization(e.to_string()))?;
    if !value.is_object() {
        return Err(Error::Serialization(
            "a JWT claims set must be a JSON object".into(),
        ));
    }
    let payload = serde_json::to_vec(&value).map_err(|e| Error::Serialization(e.to_string()))?;
    jws::sign(header, &payload, key)
}
