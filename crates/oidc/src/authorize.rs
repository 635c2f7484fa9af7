//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636, RFC 9101).
//!
//! Must not: judge a request against the client's registration (the provider does), or accept `prompt=none` with
//! another prompt, or an `id_token` response type without a `nonce`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::{ClaimsRequest, Display, OidcError, Params, Prompt, ResponseMode, ResponseType};
use portcullis_pkce::{CodeChallenge, Policy};

/// A `scope`: a set of scope tokens (RFC 6749 §3.3), in first-seen order, without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Parses a space-separated scope; each token is `%x21 / %x23-5B / %x5D-7E`.
    pub fn parse(s: &str) -> Result<Scope, OidcError> {
        let mut out: Vec<String> = Vec::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            let ok = token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            if !ok {
                return Err(OidcError::InvalidParameter("scope"));
            }
            if !out.iter().any(|t| t == token) {
                out.push(token.to_owned());
            }
        }
        Ok(Scope(out))
    }

    /// Whether a token is present.
    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    /// The tokens.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// A parsed authorization request. Every closed set is an enum; unknown parameters are kept in `extra` and
/// ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationRequest {
    /// `response_type`
    pub response_type: ResponseType,
    /// `client_id`
    pub client_id: String,
    /// `redirect_uri` (required when `scope` has `openid`)
    pub redirect_uri: Option<String>,
    /// `scope`
    pub scope: Scope,
    /// `state`
    pub state: Option<String>,
    /// `nonce` (required when an ID token comes from the authorization endpoint)
    pub nonce: Option<String>,
    /// `response_mode`
    pub response_mode: Option<ResponseMode>,
    /// `prompt` (`none` alone, or any of the others)
    pub prompt: Vec<Prompt>,
    /// `max_age` in seconds
    pub max_age: Option<u64>,
    /// `display`
    pub display: Option<Display>,
    /// `ui_locales`
    pub ui_locales: Vec<String>,
    /// `claims_locales`
    pub claims_locales: Vec<String>,
    /// `id_token_hint`
    pub id_token_hint: Option<String>,
    /// `login_hint`
    pub login_hint: Option<String>,
    /// `acr_values`
    pub acr_values: Vec<String>,
    /// `claims` (OIDC Core §5.5), typed.
    pub claims: Option<ClaimsRequest>,
    /// `code_challenge` with its method (S256 unless the policy allows plain).
    pub code_challenge: Option<CodeChallenge>,
    /// `request` (a request object, RFC 9101), not yet verified.
    pub request: Option<String>,
    /// `request_uri`
    pub request_uri: Option<String>,
    /// Unknown parameters.
    pub extra: BTreeMap<String, String>,
}

const KNOWN: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "response_mode",
    "prompt",
    "max_age",
    "display",
    "ui_locales",
    "claims_locales",
    "id_token_hint",
    "login_hint",
    "acr_values",
    "claims",
    "code_challenge",
    "code_challenge_method",
    "request",
    "request_uri",
];

fn list(p: &Params, name: &str) -> Vec<String> {
    p.get(name)
        .map(|v| {
            v.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl AuthorizationRequest {
    /// Parses a query string or form body with the default PKCE policy (S256 only).
    pub fn parse(query: &str) -> Result<AuthorizationRequest, OidcError> {
        Self::parse_with(query, &Policy::default())
    }

    /// Parses with a PKCE policy.
    pub fn parse_with(query: &str, pkce: &Policy) -> Result<AuthorizationRequest, OidcError> {
        Self::from_params(&Params::parse(query)?, pkce)
    }

    /// Builds from already-parsed parameters.
    pub fn from_params(p: &Params, pkce: &Policy) -> Result<AuthorizationRequest, OidcError> {
        let client_id = p.require("client_id")?.to_owned();
        let response_type = ResponseType::parse(p.require("response_type")?)?;
        let scope = Scope::parse(p.get("scope").unwrap_or(""))?;
        let redirect_uri = p.get("redirect_uri").map(str::to_owned);
        if scope.contains("openid") && redirect_uri.is_none() {
            return Err(OidcError::MissingParameter("redirect_uri"));
        }
        let nonce = p.get("nonce").map(str::to_owned);
        if response_type.has_id_token() && nonce.is_none() {
            return Err(OidcError::MissingParameter("nonce"));
        }
        let response_mode = p
            .get("response_mode")
            .map(ResponseMode::parse)
            .transpose()?;
        let mut prompt = Vec::new();
        for v in list(p, "prompt") {
            let pr = Prompt::parse(&v)?;
            if prompt.contains(&pr) {
                return Err(OidcError::InvalidParameter("prompt"));
            }
            prompt.push(pr);
        }
        if prompt.contains(&Prompt::None) && prompt.len() > 1 {
            return Err(OidcError::InvalidParameter("prompt"));
        }
        let max_age = match p.get("max_age") {
            None => None,
            Some(v) if !v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()) => {
                Some(
                    v.parse()
                        .map_err(|_| OidcError::InvalidParameter("max_age"))?,
                )
            }
            Some(_) => return Err(OidcError::InvalidParameter("max_age")),
        };
        let display = p.get("display").map(Display::parse).transpose()?;
        let claims = p.get("claims").map(ClaimsRequest::parse).transpose()?;
        let code_challenge = match (p.get("code_challenge"), p.get("code_challenge_method")) {
            (Some(c), m) => Some(CodeChallenge::parse(c, m, pkce)?),
            (None, Some(_)) => return Err(OidcError::InvalidParameter("code_challenge_method")),
            (None, None) => None,
        };
        let request = p.get("request").map(str::to_owned);
        let request_uri = p.get("request_uri").map(str::to_owned);
        if request.is_some() && request_uri.is_some() {
            return Err(OidcError::RequestAndRequestUri);
        }
        let extra = p
            .iter()
            .filter(|(k, _)| !KNOWN.contains(k))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(AuthorizationRequest {
            response_type,
            client_id,
            redirect_uri,
            scope,
            state: p.get("state").map(str::to_owned),
            nonce,
            response_mode,
            prompt,
            max_age,
            display,
            ui_locales: list(p, "ui_locales"),
            claims_locales: list(p, "claims_locales"),
            id_token_hint: p.get("id_token_hint").map(str::to_owned),
            login_hint: p.get("login_hint").map(str::to_owned),
            acr_values: list(p, "acr_values"),
            claims,
            code_challenge,
            request,
            request_uri,
            extra,
        })
    }

    /// The response mode in effect: the requested one (with `jwt` resolved), else the response type's default.
    pub fn effective_response_mode(&self) -> ResponseMode {
        self.response_mode.map_or_else(
            || self.response_type.default_mode(),
            |m| m.resolve(self.response_type),
        )
    }

    /// The request as parameters (for a client building the authorization URL). Parsing them gives this request
    /// back.
    pub fn to_params(&self) -> Params {
        let mut pairs: Vec<(&str, Cow<'_, str>)> = vec![
            ("response_type", Cow::Owned(self.response_type.to_string())),
            ("client_id", Cow::Borrowed(&self.client_id)),
        ];
        let join = |v: &[String]| Cow::Owned(v.join(" "));
        let mut opt = |k: &'static str, v: Option<Cow<'_, str>>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                pairs.push((k, Cow::Owned(v.into_owned())));
            }
        };
        opt(
            "redirect_uri",
            self.redirect_uri.as_deref().map(Cow::Borrowed),
        );
        opt("scope", Some(Cow::Owned(self.scope.to_string())));
        opt("state", self.state.as_deref().map(Cow::Borrowed));
        opt("nonce", self.nonce.as_deref().map(Cow::Borrowed));
        opt(
            "response_mode",
            self.response_mode.map(|m| Cow::Borrowed(m.as_str())),
        );
        opt(
            "prompt",
            Some(Cow::Owned(
                self.prompt
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            )),
        );
        opt("max_age", self.max_age.map(|m| Cow::Owned(m.to_string())));
        opt("display", self.display.map(|d| Cow::Borrowed(d.as_str())));
        opt("ui_locales", Some(join(&self.ui_locales)));
        opt("claims_locales", Some(join(&self.claims_locales)));
        opt(
            "id_token_hint",
            self.id_token_hint.as_deref().map(Cow::Borrowed),
        );
        opt("login_hint", self.login_hint.as_deref().map(Cow::Borrowed));
        opt("acr_values", Some(join(&self.acr_values)));
        opt(
            "claims",
            self.claims.as_ref().map(|c| Cow::Owned(c.to_json())),
        );
        if let Some(c) = &self.code_challenge {
            opt("code_challenge", Some(Cow::Borrowed(c.as_str())));
            opt(
                "code_challenge_method",
                Some(Cow::Borrowed(c.method().as_str())),
            );
        }
        opt("request", self.request.as_deref().map(Cow::Borrowed));
        opt(
            "request_uri",
            self.request_uri.as_deref().map(Cow::Borrowed),
        );
        for (k, v) in &self.extra {
            pairs.push((k.as_str(), Cow::Borrowed(v.as_str())));
        }
        Params::from_pairs(pairs)
    }
}
