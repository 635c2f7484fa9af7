//! Provider metadata: OpenID Connect Discovery 1.0 §3 and RFC 8414, with RFC 9126 (PAR), RFC 9207 (`iss` in
//! responses), JARM and RFC 8705 (mTLS) members.
//!
//! Must not: fetch anything (the caller does), or accept metadata whose `issuer` is not exactly the one it was fetched
//! for, or an endpoint that is neither https nor http on a loopback host.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest metadata document accepted (64 KiB).
pub const MAX_METADATA_LEN: usize = 64 * 1024;

/// Why a metadata document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// Larger than [`MAX_METADATA_LEN`].
    #[error("metadata document too large")]
    TooLarge,
    /// Not one JSON object without duplicate members.
    #[error("metadata is not a strict JSON object: {0}")]
    Json(portcullis_jose::Error),
    /// A member has the wrong type, or a required member is missing.
    #[error("metadata member invalid or missing: {0}")]
    Member(String),
    /// `issuer` differs from the issuer the document was fetched for (Discovery §4.3, RFC 8414 §3.3).
    #[error("issuer mismatch")]
    IssuerMismatch,
    /// A URL is not https (plain http is allowed only on loopback), has a fragment, or (for `issuer`) a query.
    #[error("{0} is not an acceptable URL")]
    BadUrl(&'static str),
    /// `scopes_supported` lacks `openid`.
    #[error("scopes_supported must contain openid")]
    NoOpenidScope,
    /// `none` is listed among ID token signing algorithms.
    #[error("unsigned ID tokens are not acceptable")]
    NoneAlgorithm,
}

/// Provider metadata. Unknown members are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// `issuer`
    pub issuer: String,
    /// `authorization_endpoint`
    pub authorization_endpoint: String,
    /// `token_endpoint`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// `userinfo_endpoint`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// `jwks_uri`
    pub jwks_uri: String,
    /// `registration_endpoint`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// `end_session_endpoint`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    /// `revocation_endpoint`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// `introspection_endpoint`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// `pushed_authorization_request_endpoint` (RFC 9126)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_authorization_request_endpoint: Option<String>,
    /// `require_pushed_authorization_requests` (RFC 9126)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    /// `scopes_supported`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// `response_types_supported`
    pub response_types_supported: Vec<String>,
    /// `response_modes_supported`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_modes_supported: Vec<String>,
    /// `grant_types_supported`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_types_supported: Vec<String>,
    /// `subject_types_supported`
    pub subject_types_supported: Vec<String>,
    /// `id_token_signing_alg_values_supported`
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// `token_endpoint_auth_methods_supported`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// `claims_supported`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims_supported: Vec<String>,
    /// `code_challenge_methods_supported` (RFC 8414)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<String>,
    /// `request_parameter_supported`
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub request_parameter_supported: bool,
    /// `request_uri_parameter_supported` (defaults to true in Discovery §3; we default to false: not fetched)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub request_uri_parameter_supported: bool,
    /// `request_object_signing_alg_values_supported`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_object_signing_alg_values_supported: Vec<String>,
    /// `authorization_signing_alg_values_supported` (JARM)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_signing_alg_values_supported: Vec<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authorization_response_iss_parameter_supported: bool,
    /// `tls_client_certificate_bound_access_tokens` (RFC 8705)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_client_certificate_bound_access_tokens: bool,
    /// `mtls_endpoint_aliases` (RFC 8705 §5)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls_endpoint_aliases: Option<Map<String, Value>>,
    /// Every other member.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The host of an `authority` (`host`, `host:port`, `[v6]`, `[v6]:port`).
pub(crate) fn authority_host(authority: &str) -> &str {
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    }
}

/// Loopback by value: `localhost` exactly, or an IP literal that is a loopback address (so not
/// `127.0.0.1.evil.example`).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
        || host
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// https, or http on a loopback host; no fragment.
fn acceptable_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    if s.contains('#') || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return false;
    }
    match scheme {
        "https" => true,
        "http" => is_loopback_host(authority_host(authority)),
        _ => false,
    }
}

impl ProviderMetadata {
    /// Parses a metadata document strictly (size limit, one JSON object, no duplicate members). Call
    /// [`ProviderMetadata::validate`] next.
    pub fn from_json(bytes: &[u8]) -> Result<ProviderMetadata, MetadataError> {
        if bytes.len() > MAX_METADATA_LEN {
            return Err(MetadataError::TooLarge);
        }
        let map = portcullis_jose::parse_strict_object(bytes).map_err(MetadataError::Json)?;
        serde_json::from_value(Value::Object(map)).map_err(|e| MetadataError::Member(e.to_string()))
    }

    /// Parses and validates in one step: the document must describe `expected_issuer`.
    pub fn parse_for(
        expected_issuer: &str,
        bytes: &[u8],
    ) -> Result<ProviderMetadata, MetadataError> {
        let m = Self::from_json(bytes)?;
        m.validate(expected_issuer)?;
        Ok(m)
    }

    /// Checks the document against the issuer it was fetched for: exact `issuer` match; every URL https (http only
    /// on loopback) without fragment, `issuer` without query; `openid` in `scopes_supported` when listed; a
    /// `token_endpoint` unless only implicit response types are supported; no `none` ID token algorithm.
    pub fn validate(&self, expected_issuer: &str) -> Result<(), MetadataError> {
        if self.issuer != expected_issuer {
            return Err(MetadataError::IssuerMismatch);
        }
        if !acceptable_url(&self.issuer) || self.issuer.contains('?') {
            return Err(MetadataError::BadUrl("issuer"));
        }
        let urls: [(&'static str, Option<&str>); 9] = [
            ("authorization_endpoint", Some(&self.authorization_endpoint)),
            ("token_endpoint", self.token_endpoint.as_deref()),
            ("userinfo_endpoint", self.userinfo_endpoint.as_deref()),
            ("jwks_uri", Some(&self.jwks_uri)),
            (
                "registration_endpoint",
                self.registration_endpoint.as_deref(),
            ),
            ("end_session_endpoint", self.end_session_endpoint.as_deref()),
            ("revocation_endpoint", self.revocation_endpoint.as_deref()),
            (
                "introspection_endpoint",
                self.introspection_endpoint.as_deref(),
            ),
            (
                "pushed_authorization_request_endpoint",
                self.pushed_authorization_request_endpoint.as_deref(),
            ),
        ];
        for (name, url) in urls {
            if url.is_some_and(|u| !acceptable_url(u)) {
                return Err(MetadataError::BadUrl(name));
            }
        }
        if !self.scopes_supported.is_empty() && !self.scopes_supported.iter().any(|s| s == "openid")
        {
            return Err(MetadataError::NoOpenidScope);
        }
        let implicit_only = !self.response_types_supported.is_empty()
            && self
                .response_types_supported
                .iter()
                .all(|r| !r.split(' ').any(|p| p == "code"));
        if self.token_endpoint.is_none() && !implicit_only {
            return Err(MetadataError::Member("token_endpoint is required".into()));
        }
        if self.response_types_supported.is_empty() || self.subject_types_supported.is_empty() {
            return Err(MetadataError::Member(
                "response_types_supported and subject_types_supported are required".into(),
            ));
        }
        if self
            .id_token_signing_alg_values_supported
            .iter()
            .any(|a| a.eq_ignore_ascii_case("none"))
        {
            return Err(MetadataError::NoneAlgorithm);
        }
        Ok(())
    }

    /// The document as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
