//! The token request (RFC 6749 §4.1.3, §6, §4.4) and the client authentication material it carries
//! (RFC 6749 §2.3, OIDC Core §9, RFC 7523).
//!
//! Must not: check a secret or an assertion (the provider does, against the client's registration), or accept two
//! client authentication methods in one request.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::authorize::Scope;
use crate::{GrantType, OidcError, Params};

/// The `client_assertion_type` of JWT client authentication (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What the token request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// `authorization_code`
    AuthorizationCode {
        /// `code`
        code: String,
        /// `redirect_uri` (must equal the authorization request's when that had one)
        redirect_uri: Option<String>,
        /// `code_verifier` (checked with `portcullis_pkce::check_token_request`)
        code_verifier: Option<String>,
    },
    /// `refresh_token`
    RefreshToken {
        /// `refresh_token`
        refresh_token: String,
        /// `scope` (may only narrow)
        scope: Option<Scope>,
    },
    /// `client_credentials`
    ClientCredentials {
        /// `scope`
        scope: Option<Scope>,
    },
}

/// How the client authenticated, as found in the request (the provider then checks it against the client's
/// registered `token_endpoint_auth_method`; a TLS client certificate comes from the connection, not from here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuthentication {
    /// Only `client_id` in the body: a public client (or a TLS-authenticated one).
    None {
        /// `client_id`
        client_id: String,
    },
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    SecretBasic {
        /// The client id.
        client_id: String,
        /// The secret.
        secret: String,
    },
    /// `client_secret_post`.
    SecretPost {
        /// `client_id`
        client_id: String,
        /// `client_secret`
        secret: String,
    },
    /// `client_secret_jwt` or `private_key_jwt` (which one is the client's registration's business): a JWT
    /// assertion, still to be verified (`iss` = `sub` = client id, `aud`, `exp`, `jti`).
    JwtAssertion {
        /// `client_id`, if sent alongside (must then equal the assertion's `iss`/`sub`).
        client_id: Option<String>,
        /// `client_assertion`
        assertion: String,
    },
}

impl ClientAuthentication {
    /// The client id when the request states it directly.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            ClientAuthentication::None { client_id }
            | ClientAuthentication::SecretBasic { client_id, .. }
            | ClientAuthentication::SecretPost { client_id, .. } => Some(client_id),
            ClientAuthentication::JwtAssertion { client_id, .. } => client_id.as_deref(),
        }
    }
}

/// A parsed token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// What is asked for.
    pub grant: Grant,
    /// How the client authenticated.
    pub client: ClientAuthentication,
}

fn form_decode(s: &str) -> Result<String, OidcError> {
    let p = Params::parse(&format!("v={s}"))
        .map_err(|_| OidcError::ClientAuthentication("bad encoding in Basic credentials"))?;
    Ok(p.get("v").unwrap_or("").to_owned())
}

/// Parses `Authorization: Basic ...` per RFC 6749 §2.3.1: base64 of `urlencode(id) ":" urlencode(secret)`.
fn parse_basic(header: &str) -> Result<(String, String), OidcError> {
    let bad = OidcError::ClientAuthentication("malformed Basic credentials");
    let (scheme, rest) = header.split_once(' ').ok_or(bad.clone())?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OidcError::ClientAuthentication(
            "unsupported Authorization scheme",
        ));
    }
    let raw = STANDARD.decode(rest.trim()).map_err(|_| bad.clone())?;
    let text = String::from_utf8(raw).map_err(|_| bad.clone())?;
    let (id, secret) = text.split_once(':').ok_or(bad.clone())?;
    let (id, secret) = (form_decode(id)?, form_decode(secret)?);
    if id.is_empty() {
        return Err(bad);
    }
    Ok((id, secret))
}

impl TokenRequest {
    /// Parses a token request body and the request's `Authorization` header, if any.
    ///
    /// More than one client authentication method at once is refused (RFC 6749 §2.3), as is a body `client_id`
    /// that disagrees with the Basic credentials, a `client_secret` without `client_id`, and an assertion of another
    /// type than JWT bearer.
    pub fn parse(body: &str, authorization: Option<&str>) -> Result<TokenRequest, OidcError> {
        let p = Params::parse(body)?;
        let grant = match GrantType::parse(p.require("grant_type")?)? {
            GrantType::AuthorizationCode => Grant::AuthorizationCode {
                code: p.require("code")?.to_owned(),
                redirect_uri: p.get("redirect_uri").map(str::to_owned),
                code_verifier: p.get("code_verifier").map(str::to_owned),
            },
            GrantType::RefreshToken => Grant::RefreshToken {
                refresh_token: p.require("refresh_token")?.to_owned(),
                scope: p.get("scope").map(Scope::parse).transpose()?,
            },
            GrantType::ClientCredentials => Grant::ClientCredentials {
                scope: p.get("scope").map(Scope::parse).transpose()?,
            },
        };
        let client = client_authentication(&p, authorization)?;
        Ok(TokenRequest { grant, client })
    }
}

impl ClientAuthentication {
    /// The body parameters and `Authorization` header value that carry this authentication (the client side of
    /// [`client_authentication`]); Basic credentials are form-encoded before base64 (RFC 6749 §2.3.1).
    pub fn to_wire(&self) -> (Vec<(&'static str, String)>, Option<String>) {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        match self {
            ClientAuthentication::None { client_id } => {
                (vec![("client_id", client_id.clone())], None)
            }
            ClientAuthentication::SecretBasic { client_id, secret } => (
                Vec::new(),
                Some(format!(
                    "Basic {}",
                    STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret)))
                )),
            ),
            ClientAuthentication::SecretPost { client_id, secret } => (
                vec![
                    ("client_id", client_id.clone()),
                    ("client_secret", secret.clone()),
                ],
                None,
            ),
            ClientAuthentication::JwtAssertion {
                client_id,
                assertion,
            } => {
                let mut v = vec![
                    ("client_assertion_type", JWT_BEARER_ASSERTION.to_owned()),
                    ("client_assertion", assertion.clone()),
                ];
                if let Some(id) = client_id {
                    v.push(("client_id", id.clone()));
                }
                (v, None)
            }
        }
    }
}

impl TokenRequest {
    /// The form body and `Authorization` header to send (the client side of [`TokenRequest::parse`]).
    pub fn to_wire(&self) -> (String, Option<String>) {
        let mut pairs: Vec<(&str, std::borrow::Cow<'_, str>)> = Vec::new();
        match &self.grant {
            Grant::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                pairs.push(("grant_type", "authorization_code".into()));
                pairs.push(("code", code.into()));
                if let Some(r) = redirect_uri {
                    pairs.push(("redirect_uri", r.into()));
                }
                if let Some(v) = code_verifier {
                    pairs.push(("code_verifier", v.into()));
                }
            }
            Grant::RefreshToken {
                refresh_token,
                scope,
            } => {
                pairs.push(("grant_type", "refresh_token".into()));
                pairs.push(("refresh_token", refresh_token.into()));
                if let Some(s) = scope.as_ref().filter(|s| !s.is_empty()) {
                    pairs.push(("scope", s.to_string().into()));
                }
            }
            Grant::ClientCredentials { scope } => {
                pairs.push(("grant_type", "client_credentials".into()));
                if let Some(s) = scope.as_ref().filter(|s| !s.is_empty()) {
                    pairs.push(("scope", s.to_string().into()));
                }
            }
        }
        let (auth_pairs, header) = self.client.to_wire();
        pairs.extend(auth_pairs.into_iter().map(|(k, v)| (k, v.into())));
        (Params::from_pairs(pairs).to_form(), header)
    }
}

/// The client authentication material of a token, PAR, revocation or introspection request (RFC 6749 §2.3).
///
/// More than one method at once is refused, as is a body `client_id` that disagrees with the Basic credentials, a
/// `client_secret` without `client_id`, and an assertion of another type than JWT bearer.
pub fn client_authentication(
    p: &Params,
    authorization: Option<&str>,
) -> Result<ClientAuthentication, OidcError> {
    let body_id = p.get("client_id");
    let body_secret = p.get("client_secret");
    let assertion = p.get("client_assertion");
    let assertion_type = p.get("client_assertion_type");
    if assertion.is_some() != assertion_type.is_some() {
        return Err(OidcError::ClientAuthentication(
            "client_assertion and client_assertion_type go together",
        ));
    }
    if assertion_type.is_some_and(|t| t != JWT_BEARER_ASSERTION) {
        return Err(OidcError::ClientAuthentication(
            "unsupported client_assertion_type",
        ));
    }
    let client = match (authorization, body_secret, assertion) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (None, Some(_), Some(_)) => {
            return Err(OidcError::ClientAuthentication(
                "more than one client authentication method",
            ));
        }
        (Some(h), None, None) => {
            let (client_id, secret) = parse_basic(h)?;
            if body_id.is_some_and(|b| b != client_id) {
                return Err(OidcError::ClientAuthentication(
                    "client_id differs from the Basic credentials",
                ));
            }
            ClientAuthentication::SecretBasic { client_id, secret }
        }
        (None, Some(secret), None) => {
            let client_id = body_id.ok_or(OidcError::ClientAuthentication(
                "client_secret without client_id",
            ))?;
            ClientAuthentication::SecretPost {
                client_id: client_id.to_owned(),
                secret: secret.to_owned(),
            }
        }
        (None, None, Some(a)) => ClientAuthentication::JwtAssertion {
            client_id: body_id.map(str::to_owned),
            assertion: a.to_owned(),
        },
        (None, None, None) => ClientAuthentication::None {
            client_id: body_id
                .ok_or(OidcError::ClientAuthentication("no client identification"))?
                .to_owned(),
        },
    };
    Ok(client)
}
