//! Responses: authorization responses in every response mode (RFC 6749 §4.1.2, OAuth 2.0 Multiple Response Types,
//! Form Post Response Mode, JARM, RFC 9207 `iss`), and token responses (RFC 6749 §5.1, §5.2).
//!
//! Must not: write a value into the `form_post` page unescaped or a character RFC 6749 forbids into
//! `error_description`, or accept a response whose `iss` is not the issuer the login started with.

use std::borrow::Cow;

use portcullis_jose::{Algorithm, AlgorithmSet, JwsSigner, Validation, VerificationKeys, jws, jwt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{ErrorCode, OidcError, Params, ResponseMode};

/// `Cache-Control` and `Pragma` headers every token endpoint response carries (RFC 6749 §5.1).
pub const NO_STORE_HEADERS: [(&str, &str); 2] =
    [("Cache-Control", "no-store"), ("Pragma", "no-cache")];

/// Keeps only the characters RFC 6749 allows in `error_description` (%x20-21 / %x23-5B / %x5D-7E).
pub fn sanitize_description(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c as u32, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e) {
                c
            } else {
                '?'
            }
        })
        .take(512)
        .collect()
}

/// The result of an authorization request, to be returned to the client's redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationResponse {
    /// Success.
    Success {
        /// `code`
        code: Option<String>,
        /// `id_token`
        id_token: Option<String>,
        /// `access_token` (with `token_type` Bearer)
        access_token: Option<String>,
        /// `expires_in` of the access token
        expires_in: Option<u64>,
        /// `state`, echoed
        state: Option<String>,
        /// `iss` (RFC 9207)
        iss: String,
    },
    /// An error (RFC 6749 §4.1.2.1).
    Error {
        /// `error`
        error: ErrorCode,
        /// `error_description` (sanitized when serialized)
        description: Option<String>,
        /// `state`, echoed
        state: Option<String>,
        /// `iss` (RFC 9207)
        iss: String,
    },
}

impl AuthorizationResponse {
    /// The response parameters.
    pub fn to_params(&self) -> Params {
        let mut pairs: Vec<(&str, Cow<'_, str>)> = Vec::new();
        match self {
            AuthorizationResponse::Success {
                code,
                id_token,
                access_token,
                expires_in,
                state,
                iss,
            } => {
                if let Some(c) = code {
                    pairs.push(("code", c.into()));
                }
                if let Some(t) = id_token {
                    pairs.push(("id_token", t.into()));
                }
                if let Some(t) = access_token {
                    pairs.push(("access_token", t.into()));
                    pairs.push(("token_type", "Bearer".into()));
                    if let Some(e) = expires_in {
                        pairs.push(("expires_in", e.to_string().into()));
                    }
                }
                if let Some(s) = state {
                    pairs.push(("state", s.into()));
                }
                pairs.push(("iss", iss.into()));
            }
            AuthorizationResponse::Error {
                error,
                description,
                state,
                iss,
            } => {
                pairs.push(("error", error.as_str().into()));
                if let Some(d) = description {
                    pairs.push(("error_description", sanitize_description(d).into()));
                }
                if let Some(s) = state {
                    pairs.push(("state", s.into()));
                }
                pairs.push(("iss", iss.into()));
            }
        }
        Params::from_pairs(pairs)
    }

    /// Parses the parameters a client received at its redirect URI (the client side of
    /// [`to_params`](Self::to_params)), with the mix-up defence of RFC 9207 §2.4: an `iss` parameter must equal
    /// `expected_issuer` (the issuer the login started with), and must be present when `iss_required` (the
    /// provider advertises `authorization_response_iss_parameter_supported`). A success carries at least one of
    /// `code`, `id_token`, `access_token`; `token_type` must be `Bearer` when an access token comes.
    pub fn from_params(
        p: &Params,
        expected_issuer: &str,
        iss_required: bool,
    ) -> Result<AuthorizationResponse, OidcError> {
        match p.get("iss") {
            Some(i) if i == expected_issuer => {}
            Some(_) => return Err(OidcError::InvalidParameter("iss")),
            None if iss_required => return Err(OidcError::MissingParameter("iss")),
            None => {}
        }
        let iss = expected_issuer.to_owned();
        let state = p.get("state").map(str::to_owned);
        if let Some(e) = p.get("error") {
            let error = ErrorCode::parse(e).ok_or(OidcError::InvalidParameter("error"))?;
            return Ok(AuthorizationResponse::Error {
                error,
                description: p.get("error_description").map(str::to_owned),
                state,
                iss,
            });
        }
        let code = p.get("code").map(str::to_owned);
        let id_token = p.get("id_token").map(str::to_owned);
        let access_token = p.get("access_token").map(str::to_owned);
        let expires_in = match p.get("expires_in") {
            None => None,
            Some(e) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => Some(
                e.parse()
                    .map_err(|_| OidcError::InvalidParameter("expires_in"))?,
            ),
            Some(_) => return Err(OidcError::InvalidParameter("expires_in")),
        };
        if access_token.is_some()
            && !p
                .get("token_type")
                .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
        {
            return Err(OidcError::InvalidParameter("token_type"));
        }
        if code.is_none() && id_token.is_none() && access_token.is_none() {
            return Err(OidcError::MissingParameter("code"));
        }
        Ok(AuthorizationResponse::Success {
            code,
            id_token,
            access_token,
            expires_in: expires_in.filter(|_| p.get("access_token").is_some()),
            state,
            iss,
        })
    }

    /// The URL to redirect to in `query` or `fragment` mode (the `.jwt` variants take a `response` parameter
    /// from [`AuthorizationResponse::to_jarm`]: use [`redirect_with`]). `form_post` modes have no URL: use
    /// [`form_post_html`].
    pub fn redirect_url(
        &self,
        redirect_uri: &str,
        mode: ResponseMode,
    ) -> Result<String, OidcError> {
        redirect_with(redirect_uri, mode, &self.to_params())
    }

    /// The JARM response JWT (JARM §2.1): the parameters as claims plus `iss`, `aud` (the client) and `exp`.
    pub fn to_jarm(
        &self,
        client_id: &str,
        lifetime: u64,
        alg: Algorithm,
        key: &(impl JwsSigner + ?Sized),
    ) -> Result<String, portcullis_jose::Error> {
        let mut claims = Map::new();
        for (k, v) in self.to_params().iter() {
            claims.insert(k.to_owned(), Value::from(v));
        }
        claims.insert("aud".into(), json!(client_id));
        claims.insert(
            "exp".into(),
            json!(jwt::NumericDate::now().as_secs() + lifetime),
        );
        jwt::encode_value(&jws::Header::new(alg), &claims, key)
    }

    /// Verifies a JARM response JWT for `client_id` from `issuer` and returns the response it carries.
    pub fn from_jarm(
        token: &str,
        issuer: &str,
        client_id: &str,
        keys: &(impl VerificationKeys + ?Sized),
        algorithms: impl Into<AlgorithmSet>,
    ) -> Result<AuthorizationResponse, OidcError> {
        let v = Validation::new(algorithms)
            .issuer(issuer)
            .audience(client_id);
        let t: jwt::Jwt<Map<String, Value>> =
            jwt::decode(token, keys, &v).map_err(|_| OidcError::InvalidParameter("response"))?;
        Ok(Self::from_verified_jarm_claims(&t.claims.custom, issuer))
    }

    /// Reads the response out of the claims of a JARM JWT **already verified** for this client and `issuer`
    /// (signature, `iss`, `aud`, `exp`) — for callers that verify it themselves, e.g. through a key cache.
    pub fn from_verified_jarm_claims(
        c: &Map<String, Value>,
        issuer: &str,
    ) -> AuthorizationResponse {
        let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
        let iss = issuer.to_owned();
        if let Some(e) = s("error") {
            let error = ErrorCode::parse(&e).unwrap_or(ErrorCode::InvalidRequest);
            return AuthorizationResponse::Error {
                error,
                description: s("error_description"),
                state: s("state"),
                iss,
            };
        }
        AuthorizationResponse::Success {
            code: s("code"),
            id_token: s("id_token"),
            access_token: s("access_token"),
            expires_in: s("expires_in").and_then(|e| e.parse().ok()),
            state: s("state"),
            iss,
        }
    }
}

/// Appends `params` to `redirect_uri` in the query (keeping the registered query) or the fragment.
pub fn redirect_with(
    redirect_uri: &str,
    mode: ResponseMode,
    params: &Params,
) -> Result<String, OidcError> {
    if redirect_uri.contains('#') {
        return Err(OidcError::InvalidParameter("redirect_uri"));
    }
    let form = params.to_form();
    match mode {
        ResponseMode::Query | ResponseMode::QueryJwt => {
            let sep = if redirect_uri.contains('?') { '&' } else { '?' };
            Ok(format!("{redirect_uri}{sep}{form}"))
        }
        ResponseMode::Fragment | ResponseMode::FragmentJwt | ResponseMode::Jwt => {
            Ok(format!("{redirect_uri}#{form}"))
        }
        ResponseMode::FormPost | ResponseMode::FormPostJwt => {
            Err(OidcError::InvalidParameter("response_mode"))
        }
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The auto-submitting HTML page of the `form_post` response modes (Form Post Response Mode §2): every value
/// HTML-escaped, no script beyond the one-line submit.
pub fn form_post_html(redirect_uri: &str, params: &Params) -> String {
    let mut inputs = String::new();
    for (k, v) in params.iter() {
        inputs.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\"/>\n",
            html_escape(k),
            html_escape(v)
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Submit This Form</title></head>\n\
         <body onload=\"javascript:document.forms[0].submit()\">\n\
         <form method=\"post\" action=\"{}\">\n{inputs}<noscript><button type=\"submit\">Continue</button></noscript>\n\
         </form></body></html>\n",
        html_escape(redirect_uri)
    )
}

/// A successful token response (RFC 6749 §5.1; OIDC Core §3.1.3.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// `access_token`
    pub access_token: String,
    /// `token_type` (`Bearer`, or `DPoP`)
    pub token_type: String,
    /// `expires_in`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// `refresh_token`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// `scope`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `id_token`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Other members.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A token endpoint error response (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenErrorResponse {
    /// `error`
    pub error: ErrorCode,
    /// `error_description`
    pub description: Option<String>,
}

impl TokenErrorResponse {
    /// The HTTP status: 401 for `invalid_client`, else 400.
    pub fn status(&self) -> u16 {
        self.error.token_endpoint_status()
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        let mut m = Map::new();
        m.insert("error".into(), json!(self.error.as_str()));
        if let Some(d) = &self.description {
            m.insert("error_description".into(), json!(sanitize_description(d)));
        }
        Value::Object(m).to_string()
    }
}

impl From<&OidcError> for TokenErrorResponse {
    fn from(e: &OidcError) -> Self {
        TokenErrorResponse {
            error: e.code(),
            description: Some(e.to_string()),
        }
    }
}
