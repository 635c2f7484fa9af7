//! Client authentication assertions (RFC 7523 §3, OIDC Core §9), redirect URI matching, and client metadata
//! (RFC 7591, OIDC Registration §2).
//!
//! Must not: match a redirect URI other than exactly (any loopback port only when opted in), or accept a client
//! assertion whose `iss` and `sub` are not the client or whose `jti` was seen before.

use portcullis_jose::{AlgorithmSet, Validation, VerificationKeys, jwt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{ClientAuthMethod, GrantType, OidcError, ResponseType};

/// Why a client assertion was refused (all map to `invalid_client`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    /// Signature, algorithm, `aud`, `exp` or claim types: the JWT layer refused it.
    #[error(transparent)]
    Jwt(#[from] portcullis_jose::Error),
    /// `iss` and `sub` must both equal the client id.
    #[error("iss and sub must equal the client_id")]
    WrongSubject,
    /// `jti` is required (to prevent replay).
    #[error("jti is required")]
    MissingJti,
    /// The `jti` was seen before.
    #[error("assertion replayed")]
    Replayed,
    /// `exp` is too far ahead (more than `max_lifetime` seconds from now).
    #[error("assertion lifetime too long")]
    LifetimeTooLong,
}

/// Verifies a `client_secret_jwt` / `private_key_jwt` assertion for `client_id`.
///
/// `audiences` are the values accepted in `aud` (the token endpoint URL and the issuer identifier, RFC 7523
/// §3 point 3); `keys` are the client's keys (its JWK Set for `private_key_jwt`, an `HmacKey` of its secret for
/// `client_secret_jwt`); `first_use(jti, until)` records the `jti` and says whether it is new, where `until` is
/// the last second at which the assertion could still be accepted (`exp` plus [`ASSERTION_LEEWAY`]): the `jti`
/// must be remembered at least that long. Returns the `jti`.
pub fn verify_client_assertion(
    assertion: &str,
    client_id: &str,
    keys: &(impl VerificationKeys + ?Sized),
    algorithms: impl Into<AlgorithmSet>,
    audiences: &[&str],
    max_lifetime: u64,
    first_use: &mut dyn FnMut(&str, u64) -> bool,
) -> Result<String, AssertionError> {
    let mut v = Validation::new(algorithms)
        .any_issuer()
        .leeway(ASSERTION_LEEWAY);
    for a in audiences {
        v = v.audience(*a);
    }
    let t: jwt::Jwt<Map<String, Value>> = jwt::decode(assertion, keys, &v)?;
    let r = t.claims.registered;
    if r.iss.as_deref() != Some(client_id) || r.sub.as_deref() != Some(client_id) {
        return Err(AssertionError::WrongSubject);
    }
    let exp = r.exp.map(|e| e.as_secs()).unwrap_or(0);
    if exp
        > jwt::NumericDate::now()
            .as_secs()
            .saturating_add(max_lifetime)
    {
        return Err(AssertionError::LifetimeTooLong);
    }
    let jti = r.jti.ok_or(AssertionError::MissingJti)?;
    if !first_use(&jti, exp.saturating_add(ASSERTION_LEEWAY)) {
        return Err(AssertionError::Replayed);
    }
    Ok(jti)
}

/// Clock skew allowed on an assertion's `exp`, `nbf` and `iat`, in seconds: an assertion is accepted until
/// `exp` + this, so its `jti` must be remembered that long.
pub const ASSERTION_LEEWAY: u64 = 60;

/// How redirect URIs are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedirectUriRule {
    /// Exact string comparison (the default, RFC 9700 §2.1).
    #[default]
    Exact,
    /// Exact, except that for `http` loopback IP redirect URIs (`127.0.0.1`, `[::1]`) any port matches
    /// (RFC 8252 §7.3), for native apps. Opt-in.
    ExactWithLoopbackPorts,
}

fn loopback_without_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let host = if authority.starts_with("[::1]") {
        "[::1]"
    } else if authority.starts_with("127.0.0.1") {
        "127.0.0.1"
    } else {
        return None;
    };
    let port = &authority[host.len()..];
    if !(port.is_empty()
        || (port.starts_with(':')
            && port.len() > 1
            && port[1..].bytes().all(|b| b.is_ascii_digit())))
    {
        return None;
    }
    Some(format!("http://{host}{path}"))
}

impl RedirectUriRule {
    /// Whether `requested` matches one of `registered`.
    pub fn matches(self, registered: &[String], requested: &str) -> bool {
        if registered.iter().any(|r| r == requested) {
            return true;
        }
        match self {
            RedirectUriRule::Exact => false,
            RedirectUriRule::ExactWithLoopbackPorts => loopback_without_port(requested)
                .is_some_and(|req| {
                    registered
                        .iter()
                        .any(|r| loopback_without_port(r).is_some_and(|reg| reg == req))
                }),
        }
    }
}

/// Client metadata (RFC 7591 §2, OIDC Registration §2). Unknown members are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientMetadata {
    /// `redirect_uris`
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// `response_types` (default `code`)
    #[serde(default = "default_response_types")]
    pub response_types: Vec<String>,
    /// `grant_types` (default `authorization_code`)
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<String>,
    /// `token_endpoint_auth_method` (default `client_secret_basic`)
    #[serde(default = "default_auth_method")]
    pub token_endpoint_auth_method: String,
    /// `jwks` (by value)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Map<String, Value>>,
    /// `jwks_uri`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `subject_type`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_type: Option<String>,
    /// `sector_identifier_uri`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    /// `id_token_signed_response_alg` (default RS256, OIDC Dynamic Client Registration §2)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    /// `authorization_signed_response_alg` (JARM)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_signed_response_alg: Option<String>,
    /// `tls_client_auth_subject_dn` (RFC 8705)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_subject_dn: Option<String>,
    /// `tls_client_auth_san_dns` (RFC 8705 §2.1.2)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_dns: Option<String>,
    /// `tls_client_auth_san_uri`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_uri: Option<String>,
    /// `tls_client_auth_san_ip` (IPv4 dotted decimal or IPv6 text)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_ip: Option<String>,
    /// `tls_client_auth_san_email`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_email: Option<String>,
    /// `tls_client_certificate_bound_access_tokens` (RFC 8705 §3.4)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_client_certificate_bound_access_tokens: bool,
    /// Other members.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_response_types() -> Vec<String> {
    vec!["code".into()]
}
fn default_grant_types() -> Vec<String> {
    vec!["authorization_code".into()]
}
fn default_auth_method() -> String {
    "client_secret_basic".into()
}

/// A redirect URI a client may register: absolute, no fragment, https, or http only on a loopback IP or
/// `localhost` (RFC 8252 §7.3), or a private-use scheme with a dot (RFC 8252 §7.1).
pub fn acceptable_redirect_uri(uri: &str) -> bool {
    if uri.contains('#') || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    // No userinfo in the authority: `http://127.0.0.1@evil.example/` is evil.example's, whatever precedes `@`.
    let authority = rest
        .strip_prefix("//")
        .map(|r| r.split(['/', '?']).next().unwrap_or(""));
    if matches!(scheme, "https" | "http") && authority.is_some_and(|a| a.contains('@')) {
        return false;
    }
    match scheme {
        "https" => rest.starts_with("//") && rest.len() > 2,
        "http" => {
            let authority = rest
                .strip_prefix("//")
                .unwrap_or("")
                .split(['/', '?'])
                .next()
                .unwrap_or("");
            crate::discovery::is_loopback_host(crate::discovery::authority_host(authority))
        }
        // Private-use URI schemes for native apps must be reverse domain names (RFC 8252 §7.1).
        s => {
            s.contains('.')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'+')
        }
    }
}

impl ClientMetadata {
    /// Parses and validates registration metadata (max 64 KiB, strict JSON).
    pub fn from_json(bytes: &[u8]) -> Result<ClientMetadata, OidcError> {
        if bytes.len() > 64 * 1024 {
            return Err(OidcError::TooLarge);
        }
        let map = portcullis_jose::parse_strict_object(bytes)
            .map_err(|_| OidcError::InvalidParameter("client_metadata"))?;
        let m: ClientMetadata = serde_json::from_value(Value::Object(map))
            .map_err(|_| OidcError::InvalidParameter("client_metadata"))?;
        m.validate()?;
        Ok(m)
    }

    /// Checks the rules of RFC 7591 §2.1 and OIDC Registration §2 that need no network: redirect URIs, response
    /// and grant type consistency, auth method, key material, subject type.
    pub fn validate(&self) -> Result<(), OidcError> {
        let rts = self
            .response_types
            .iter()
            .map(|r| ResponseType::parse(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| OidcError::InvalidParameter("response_types"))?;
        // `implicit` is a registration value only (no token endpoint grant).
        let mut gts = Vec::new();
        let mut implicit = false;
        for g in &self.grant_types {
            if g == "implicit" {
                implicit = true;
            } else {
                gts.push(
                    GrantType::parse(g).map_err(|_| OidcError::InvalidParameter("grant_types"))?,
                );
            }
        }
        // RFC 7591 §2.1: code needs authorization_code; id_token / token need implicit.
        for rt in &rts {
            if (rt.has_code() && !gts.contains(&GrantType::AuthorizationCode))
                || (rt.is_front_channel_token() && !implicit)
            {
                return Err(OidcError::InvalidParameter("grant_types"));
            }
        }
        if (gts.contains(&GrantType::AuthorizationCode) || implicit)
            && self.redirect_uris.is_empty()
        {
            return Err(OidcError::MissingParameter("redirect_uris"));
        }
        if !self
            .redirect_uris
            .iter()
            .all(|u| acceptable_redirect_uri(u))
        {
            return Err(OidcError::InvalidParameter("redirect_uris"));
        }
        let method = ClientAuthMethod::parse(&self.token_endpoint_auth_method)?;
        if self.jwks.is_some() && self.jwks_uri.is_some() {
            return Err(OidcError::InvalidParameter("jwks"));
        }
        if method == ClientAuthMethod::PrivateKeyJwt
            && self.jwks.is_none()
            && self.jwks_uri.is_none()
        {
            return Err(OidcError::MissingParameter("jwks"));
        }
        // RFC 8705 §2.1.2: exactly one of the subject DN / SAN members, and only for tls_client_auth.
        let tls_members = [
            &self.tls_client_auth_subject_dn,
            &self.tls_client_auth_san_dns,
            &self.tls_client_auth_san_uri,
            &self.tls_client_auth_san_ip,
            &self.tls_client_auth_san_email,
        ]
        .iter()
        .filter(|m| m.is_some())
        .count();
        match (method == ClientAuthMethod::TlsClientAuth, tls_members) {
            (true, 0) => return Err(OidcError::MissingParameter("tls_client_auth_subject_dn")),
            (true, 1) | (false, 0) => {}
            _ => return Err(OidcError::InvalidParameter("tls_client_auth_subject_dn")),
        }
        if method == ClientAuthMethod::TlsClientAuth {
            crate::mtls::TlsClientAuthRule::from_metadata(self)?;
        }
        if method == ClientAuthMethod::SelfSignedTlsClientAuth
            && self.jwks.is_none()
            && self.jwks_uri.is_none()
        {
            return Err(OidcError::MissingParameter("jwks"));
        }
        if let Some(st) = &self.subject_type
            && st != "public"
            && st != "pairwise"
        {
            return Err(OidcError::InvalidParameter("subject_type"));
        }
        if self
            .sector_identifier_uri
            .as_deref()
            .is_some_and(|u| !u.starts_with("https://"))
        {
            return Err(OidcError::InvalidParameter("sector_identifier_uri"));
        }
        for (name, alg) in [
            (
                "id_token_signed_response_alg",
                &self.id_token_signed_response_alg,
            ),
            (
                "authorization_signed_response_alg",
                &self.authorization_signed_response_alg,
            ),
        ] {
            if alg
                .as_deref()
                .is_some_and(|a| a.parse::<portcullis_jose::Algorithm>().is_err())
            {
                return Err(OidcError::InvalidParameter(name));
            }
        }
        Ok(())
    }
}
