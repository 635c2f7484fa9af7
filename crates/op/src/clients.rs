//! Registered clients as the provider uses them: metadata validated by `portcullis-oidc`, plus the
//! Portcullis members (`require_pkce`, `scope`, `client_name`, `post_logout_redirect_uris`), and client
//! authentication at the token, PAR, revocation and introspection endpoints.
//!
//! Must not: accept metadata `portcullis-oidc` refuses, or trust a client's request over its registration.

use portcullis_jose::{Algorithm, JwkSet};
use portcullis_oidc::{
    ClientAuthMethod, ClientAuthentication, ClientMetadata, ClientPermissions, GrantType,
    OidcError, RedirectUriRule, ResponseType, Scope, TlsClientAuthRule,
};
use portcullis_pairwise::{SectorIdentifier, SubjectType};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::store::ClientRow;

/// A client, ready to use.
#[derive(Debug, Clone)]
pub struct Client {
    /// `client_id`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Validated metadata.
    pub meta: ClientMetadata,
    /// Registered token endpoint authentication method.
    pub auth_method: ClientAuthMethod,
    /// SHA-256 (base64url) of the secret, for `client_secret_basic` / `client_secret_post`.
    pub secret_hash: Option<String>,
    /// The sealed secret, for `client_secret_jwt` (opened with [`crate::sealing::SecretSealer`]).
    pub secret_sealed: Option<String>,
    /// For `client_secret_jwt`: the HMAC algorithms its assertions may use (its registered
    /// `token_endpoint_auth_signing_alg`, else HS256, HS384 and HS512).
    pub assertion_hmac_algs: Vec<Algorithm>,
    /// The registered `token_endpoint_auth_signing_alg`, if any: the only algorithm its assertions may use
    /// (for `private_key_jwt` an asymmetric one, for `client_secret_jwt` an HMAC one).
    pub assertion_alg: Option<Algorithm>,
    /// What it may ask for.
    pub perms: ClientPermissions,
    /// PKCE (S256) required for the code flow (default true).
    pub require_pkce: bool,
    /// `require_pushed_authorization_requests` (RFC 9126 §6): authorization requests only through PAR.
    pub require_par: bool,
    /// `public` or `pairwise` subjects.
    pub subject_type: SubjectType,
    /// The pairwise sector.
    pub sector: Option<SectorIdentifier>,
    /// ID token signing algorithm (default RS256).
    pub id_token_alg: Algorithm,
    /// JARM signing algorithm (default RS256).
    pub jarm_alg: Algorithm,
    /// How the redirect URI of a request is compared with the registered ones: exactly, except that a native
    /// client (`application_type: native`) may use any port on a registered loopback IP redirect URI (RFC 8252
    /// §7.3).
    pub redirect_rule: RedirectUriRule,
    /// `userinfo_signed_response_alg` (OIDC Dynamic Client Registration §2): UserInfo answers are then a JWT
    /// signed with it (OIDC Core §5.3.2); none registered, plain JSON.
    pub userinfo_alg: Option<Algorithm>,
    /// Registered keys (`jwks` by value), for `private_key_jwt` and request objects.
    pub jwks: Option<JwkSet>,
    /// `post_logout_redirect_uris`
    pub post_logout_redirect_uris: Vec<String>,
    /// The registered subject DN / SAN for `tls_client_auth`.
    pub tls_rule: Option<TlsClientAuthRule>,
    /// Whether access tokens are bound to the client certificate (always for mutual-TLS clients, else when
    /// `tls_client_certificate_bound_access_tokens` is registered and a certificate is presented).
    pub bind_tokens: bool,
}

/// What a client that registered no signing algorithm gets: RS256, the default of OIDC Dynamic Client
/// Registration §2 (`id_token_signed_response_alg`) and of JARM (`authorization_signed_response_alg`), which a
/// relying party using the spec's defaults expects.
pub const DEFAULT_SIGNING_ALG: Algorithm = Algorithm::Rs256;

fn alg(v: Option<&str>, default: Algorithm) -> Result<Algorithm, String> {
    match v {
        None => Ok(default),
        Some(a) => {
            let a: Algorithm = a
                .parse()
                .map_err(|_| format!("unsupported algorithm {a}"))?;
            if crate::keys::SIGNING_ALGS.contains(&a) {
                Ok(a)
            } else {
                Err(format!("the provider does not sign with {a}"))
            }
        }
    }
}

impl Client {
    /// Builds a client from its stored row (validating the metadata again).
    pub fn from_row(row: &ClientRow) -> Result<Client, String> {
        let meta = ClientMetadata::from_json(row.metadata.as_bytes()).map_err(|e| e.to_string())?;
        let auth_method =
            ClientAuthMethod::parse(&meta.token_endpoint_auth_method).map_err(|e| e.to_string())?;
        if auth_method == ClientAuthMethod::ClientSecretJwt && row.secret_sealed.is_none() {
            return Err("client_secret_jwt needs a sealed secret".into());
        }
        const HMAC: [Algorithm; 3] = [Algorithm::Hs256, Algorithm::Hs384, Algorithm::Hs512];
        let assertion_hmac_algs = match meta.extra.get("token_endpoint_auth_signing_alg") {
            None => HMAC.to_vec(),
            Some(v) => {
                let a: Algorithm = v
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or("token_endpoint_auth_signing_alg: unsupported algorithm")?;
                if auth_method == ClientAuthMethod::ClientSecretJwt && !HMAC.contains(&a) {
                    return Err(
                        "token_endpoint_auth_signing_alg must be HS256, HS384 or HS512 for client_secret_jwt"
                            .into(),
                    );
                }
                if auth_method == ClientAuthMethod::PrivateKeyJwt
                    && !crate::endpoints::token::client_auth::ASSERTION_ALGS.contains(&a)
                {
                    return Err(
                        "token_endpoint_auth_signing_alg must be one of the provider's private_key_jwt algorithms"
                            .into(),
                    );
                }
                vec![a]
            }
        };
        if meta.jwks_uri.is_some() {
            return Err("jwks_uri is not supported; register jwks by value".into());
        }
        let mut grant_types = Vec::new();
        let mut implicit = false;
        for g in &meta.grant_types {
            if g == "implicit" {
                implicit = true;
            } else {
                grant_types.push(GrantType::parse(g).map_err(|e| e.to_string())?);
            }
        }
        let response_types = meta
            .response_types
            .iter()
            .map(|r| ResponseType::parse(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let extra = &meta.extra;
        let scopes = Scope::parse(
            extra
                .get("scope")
                .and_then(Value::as_str)
                .unwrap_or("openid profile email phone address offline_access"),
        )
        .map_err(|e| e.to_string())?;
        let subject_type = SubjectType::parse(meta.subject_type.as_deref().unwrap_or("public"))
            .ok_or("bad subject_type")?;
        let uris: Vec<&str> = meta.redirect_uris.iter().map(String::as_str).collect();
        let sector = match subject_type {
            SubjectType::Pairwise => Some(
                SectorIdentifier::from_redirect_uris(&uris, meta.sector_identifier_uri.as_deref())
                    .map_err(|e| e.to_string())?,
            ),
            SubjectType::Public => None,
        };
        let jwks = match &meta.jwks {
            Some(m) => Some(
                JwkSet::from_json(Value::Object(m.clone()).to_string().as_bytes())
                    .map_err(|e| format!("jwks: {e}"))?,
            ),
            None => None,
        };
        let tls_rule = match auth_method {
            ClientAuthMethod::TlsClientAuth => {
                Some(TlsClientAuthRule::from_metadata(&meta).map_err(|e| e.to_string())?)
            }
            _ => None,
        };
        if auth_method == ClientAuthMethod::SelfSignedTlsClientAuth && jwks.is_none() {
            return Err("self_signed_tls_client_auth needs jwks".into());
        }
        let bind_tokens = tls_rule.is_some()
            || auth_method == ClientAuthMethod::SelfSignedTlsClientAuth
            || meta.tls_client_certificate_bound_access_tokens;
        if matches!(
            auth_method,
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost
        ) && row.secret_hash.is_none()
        {
            return Err("a secret is required for this authentication method".into());
        }
        Ok(Client {
            id: row.id.clone(),
            name: extra
                .get("client_name")
                .and_then(Value::as_str)
                .unwrap_or(&row.id)
                .to_owned(),
            auth_method,
            secret_hash: row.secret_hash.clone(),
            secret_sealed: row.secret_sealed.clone(),
            assertion_alg: meta
                .extra
                .get("token_endpoint_auth_signing_alg")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok()),
            assertion_hmac_algs,
            perms: ClientPermissions {
                grant_types,
                implicit,
                response_types,
                scopes,
            },
            require_pkce: extra
                .get("require_pkce")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            require_par: match extra.get("require_pushed_authorization_requests") {
                None => false,
                Some(v) => v
                    .as_bool()
                    .ok_or("require_pushed_authorization_requests must be a boolean")?,
            },
            subject_type,
            sector,
            // RS256 unless registered otherwise: the default OIDC Dynamic Client Registration §2 gives
            // `id_token_signed_response_alg`, and JARM §3 `authorization_signed_response_alg`.
            id_token_alg: alg(
                meta.id_token_signed_response_alg.as_deref(),
                DEFAULT_SIGNING_ALG,
            )?,
            jarm_alg: alg(
                meta.authorization_signed_response_alg.as_deref(),
                DEFAULT_SIGNING_ALG,
            )?,
            redirect_rule: match extra.get("application_type") {
                None | Some(Value::Null) => RedirectUriRule::Exact,
                Some(Value::String(t)) if t == "web" => RedirectUriRule::Exact,
                Some(Value::String(t)) if t == "native" => RedirectUriRule::ExactWithLoopbackPorts,
                Some(_) => return Err("application_type must be web or native".into()),
            },
            userinfo_alg: match extra.get("userinfo_signed_response_alg") {
                None | Some(Value::Null) => None,
                Some(Value::String(a)) => Some(alg(Some(a), DEFAULT_SIGNING_ALG)?),
                Some(_) => return Err("userinfo_signed_response_alg must be a string".into()),
            },
            jwks,
            post_logout_redirect_uris: post_logout_redirect_uris(
                extra.get("post_logout_redirect_uris"),
            )?,
            tls_rule,
            bind_tokens,
            meta,
        })
    }

    /// Whether the client is confidential (authenticates itself).
    pub fn is_confidential(&self) -> bool {
        self.auth_method != ClientAuthMethod::None
    }

    /// Checks the presented authentication material against the registration (not JWT assertions, whose
    /// verification needs the store for `jti`: see the token endpoint).
    pub fn check_secret_auth(&self, auth: &ClientAuthentication) -> Result<(), OidcError> {
        let bad = || OidcError::ClientAuthentication("client authentication failed");
        match (self.auth_method, auth) {
            (ClientAuthMethod::None, ClientAuthentication::None { .. }) => Ok(()),
            (
                ClientAuthMethod::ClientSecretBasic,
                ClientAuthentication::SecretBasic { secret, .. },
            )
            | (
                ClientAuthMethod::ClientSecretPost,
                ClientAuthentication::SecretPost { secret, .. },
            ) => {
                let expected = self.secret_hash.as_deref().ok_or_else(bad)?;
                let got = crate::hash(secret);
                if bool::from(got.as_bytes().ct_eq(expected.as_bytes())) {
                    Ok(())
                } else {
                    Err(bad())
                }
            }
            _ => Err(OidcError::ClientAuthentication(
                "authentication method differs from the registered one",
            )),
        }
    }
}

/// `post_logout_redirect_uris` (OpenID Connect RP-Initiated Logout 1.0 §3.1), validated like `redirect_uris`:
/// an array of strings, each `https`, `http` on a loopback host, or a native app's private-use scheme; no
/// fragment, whitespace or control character (`javascript:` and `data:` are refused: they are not reverse
/// domain names).
fn post_logout_redirect_uris(v: Option<&Value>) -> Result<Vec<String>, String> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    let list = v
        .as_array()
        .ok_or("post_logout_redirect_uris must be an array of strings")?;
    list.iter()
        .map(|u| match u.as_str() {
            Some(s) if portcullis_oidc::acceptable_redirect_uri(s) => Ok(s.to_owned()),
            Some(s) => Err(format!(
                "post_logout_redirect_uris: {s:?} is not an acceptable redirect URI"
            )),
            None => Err("post_logout_redirect_uris must be an array of strings".into()),
        })
        .collect()
}
