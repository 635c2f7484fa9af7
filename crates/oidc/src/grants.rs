//! The provider's checks on grants: what a client may ask for (`unauthorized_client`), which scopes it may
//! have (`invalid_scope`), and whether an authorization code or refresh token may be redeemed by this request
//! (`invalid_grant`). Pure functions over what the provider stored and what the request carries.
//!
//! Must not: store or consume a code (single use is the provider's store's, done before these checks), or grant a scope
//! beyond the client's registration or, on refresh, beyond the original grant.

use portcullis_pkce::{CodeChallenge, Policy};

use crate::{GrantType, OidcError, ResponseType, Scope};

/// What a provider stores with an authorization code at the authorization endpoint and checks at the token
/// endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6).
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedCode {
    /// The client the code was issued to.
    pub client_id: String,
    /// The `redirect_uri` of the authorization request, if it had one.
    pub redirect_uri: Option<String>,
    /// The PKCE challenge of the authorization request.
    pub code_challenge: Option<CodeChallenge>,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: u64,
}

impl IssuedCode {
    /// Checks a token request redeeming this code: same client, same `redirect_uri` (required when the
    /// authorization request had one, refused when it had none but one is sent with a different value), not
    /// expired, and the PKCE verifier matches (RFC 7636 §4.6). Every failure is `invalid_grant`. Single use is
    /// the store's business: the provider must consume the code atomically before calling this.
    pub fn check_redemption(
        &self,
        client_id: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        pkce: &Policy,
        now: u64,
    ) -> Result<(), OidcError> {
        if self.client_id != client_id {
            return Err(OidcError::InvalidGrant("code was issued to another client"));
        }
        if now >= self.expires_at {
            return Err(OidcError::InvalidGrant("code expired"));
        }
        match (&self.redirect_uri, redirect_uri) {
            (Some(a), Some(b)) if a == b => {}
            (Some(_), _) => return Err(OidcError::InvalidGrant("redirect_uri mismatch")),
            (None, None) => {}
            (None, Some(_)) => return Err(OidcError::InvalidGrant("redirect_uri mismatch")),
        }
        portcullis_pkce::check_token_request(self.code_challenge.as_ref(), code_verifier, pkce)
            .map_err(|_| OidcError::InvalidGrant("PKCE verification failed"))
    }
}

/// What a client is registered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPermissions {
    /// Grant types allowed at the token endpoint.
    pub grant_types: Vec<GrantType>,
    /// Whether the implicit grant (`id_token`/`token` from the authorization endpoint) is allowed.
    pub implicit: bool,
    /// Response types allowed at the authorization endpoint.
    pub response_types: Vec<ResponseType>,
    /// Scopes the client may be granted (`openid` always included).
    pub scopes: Scope,
}

impl ClientPermissions {
    /// `unauthorized_client` unless the client registered this grant type (RFC 6749 §5.2).
    pub fn check_grant(&self, grant: GrantType) -> Result<(), OidcError> {
        if self.grant_types.contains(&grant) {
            Ok(())
        } else {
            Err(OidcError::UnauthorizedClient("grant_type not registered"))
        }
    }

    /// `unauthorized_client` unless the client registered this response type (RFC 6749 §4.1.2.1).
    pub fn check_response_type(&self, rt: ResponseType) -> Result<(), OidcError> {
        if self.response_types.contains(&rt) {
            Ok(())
        } else {
            Err(OidcError::UnauthorizedClient(
                "response_type not registered",
            ))
        }
    }

    /// The scope to grant for a request: `invalid_scope` when it names a scope the client may not have
    /// (RFC 6749 §4.1.2.1 / §5.2). A request without `scope` gets `default` (RFC 6749 §3.3).
    pub fn grant_scope(
        &self,
        requested: Option<&Scope>,
        default: &Scope,
    ) -> Result<Scope, OidcError> {
        let requested = requested.filter(|s| !s.is_empty()).unwrap_or(default);
        if requested
            .iter()
            .all(|s| s == "openid" || self.scopes.contains(s))
        {
            Ok(requested.clone())
        } else {
            Err(OidcError::InvalidScope)
        }
    }
}

impl Scope {
    /// A refresh request's `scope` may only narrow the originally granted scope (RFC 6749 §6):
    /// `invalid_scope` otherwise; absent means the original scope.
    pub fn narrow(&self, requested: Option<&Scope>) -> Result<Scope, OidcError> {
        match requested {
            None => Ok(self.clone()),
            Some(r) if r.iter().all(|s| self.contains(s)) => Ok(r.clone()),
            Some(_) => Err(OidcError::InvalidScope),
        }
    }
}
