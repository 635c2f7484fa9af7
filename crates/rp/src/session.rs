//! What a login needs to remember between the redirect and the callback, and what the callback brings.
//!
//! Must not: check a callback against its session (`RelyingParty::complete` does), or keep a repeated or oversized
//! callback parameter.

use portcullis_oidc::{OidcError, Params, ResponseMode, ResponseType};
use serde::{Deserialize, Serialize};

/// How to start a login. `Default` is the code flow with PKCE in the query response mode.
#[derive(Debug, Clone, Default)]
pub struct AuthOptions {
    /// `response_type` (default `code`).
    pub response_type: Option<ResponseType>,
    /// `response_mode` (default: the response type's default; `jwt` variants request JARM).
    pub response_mode: Option<ResponseMode>,
    /// Extra scopes beyond the configured ones.
    pub scope: Option<String>,
    /// `max_age`: the ID token's `auth_time` is then required and checked.
    pub max_age: Option<u64>,
    /// `prompt` (space-separated).
    pub prompt: Option<String>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `acr_values` (space-separated).
    pub acr_values: Option<String>,
    /// `claims` request (OIDC Core §5.5) as JSON.
    pub claims: Option<String>,
    /// Push the request to the PAR endpoint (RFC 9126) and send only `client_id` and `request_uri`.
    pub par: bool,
    /// Send the parameters as a signed request object (RFC 9101) with the client's private key.
    pub request_object: bool,
    /// Extension parameters, sent as given (an identity-provider selector's `idp_id`, say). A name the request
    /// already carries is refused.
    pub extra: Vec<(String, String)>,
}

impl AuthOptions {
    /// A registration request (OpenID Connect Prompt Create 1.0) for the relying party's own identifier of its
    /// user, `account` (a username, an e-mail or a random value unique to the relying party): `prompt=create`,
    /// `login_hint=account`, sent as a request object signed with the client's key (a Portcullis provider
    /// refuses an unsigned registration request). The provider shows "create a passkey"; the ID token's `sub`
    /// is then that account's.
    pub fn registration(account: &str) -> AuthOptions {
        AuthOptions {
            prompt: Some("create".into()),
            login_hint: Some(account.into()),
            request_object: true,
            ..AuthOptions::default()
        }
    }

    /// A second-factor request for `account` (the relying party checked the user's password itself): the
    /// provider offers only that account's passkeys and answers with `acr`
    /// [`SECOND_FACTOR_ACR`](portcullis_oidc::SECOND_FACTOR_ACR) and `amr` with `mfa`. Signed, like
    /// [`registration`](Self::registration); check the ID token's `acr` before trusting the second factor.
    pub fn second_factor(account: &str) -> AuthOptions {
        AuthOptions {
            login_hint: Some(account.into()),
            acr_values: Some(portcullis_oidc::SECOND_FACTOR_ACR.into()),
            request_object: true,
            ..AuthOptions::default()
        }
    }
}

/// The per-login state a caller keeps (in its session store, or an encrypted cookie) between
/// [`RelyingParty::begin`](crate::RelyingParty::begin) and [`RelyingParty::complete`](crate::RelyingParty::complete).
/// It holds secrets (the PKCE verifier, the nonce): never put it in a URL or an unencrypted cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginSession {
    /// The issuer this login started with; the callback is checked against it (mix-up defence).
    pub issuer: String,
    /// `state` sent.
    pub state: String,
    /// `nonce` sent.
    pub nonce: String,
    /// PKCE `code_verifier` (code flows).
    pub code_verifier: Option<String>,
    /// `redirect_uri` sent.
    pub redirect_uri: String,
    /// `response_type` sent.
    pub response_type: String,
    /// The effective response mode.
    pub response_mode: String,
    /// `max_age` sent.
    pub max_age: Option<u64>,
}

impl LoginSession {
    pub(crate) fn response_type(&self) -> Result<ResponseType, OidcError> {
        ResponseType::parse(&self.response_type)
    }
    pub(crate) fn response_mode(&self) -> Result<ResponseMode, OidcError> {
        ResponseMode::parse(&self.response_mode)
    }
}

/// The parameters that arrived at the redirect URI: from the query, a `form_post` body, or a fragment the page
/// posted back. Duplicates and oversized inputs are refused by [`Params::parse`].
#[derive(Debug, Clone)]
pub struct Callback(pub(crate) Params);

impl Callback {
    /// From a query string, form body or fragment (without the leading `?`/`#`).
    pub fn parse(encoded: &str) -> Result<Callback, OidcError> {
        Params::parse(encoded.trim_start_matches(['?', '#'])).map(Callback)
    }

    /// From the full URL the browser was redirected to (query or fragment).
    pub fn from_url(url: &str) -> Result<Callback, OidcError> {
        let part = match url.split_once('#') {
            Some((_, f)) => f,
            None => url.split_once('?').map(|(_, q)| q).unwrap_or(""),
        };
        Callback::parse(part)
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.0
    }
}
