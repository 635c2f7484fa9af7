//! The client-level rules of an authorization request once it parsed, each a small named check over the
//! request. [`REQUEST_CHECKS`] run at `/authorize` and at `/par` (a pushed request is checked when it arrives);
//! [`ARRIVAL_CHECKS`] only at `/authorize`.
//!
//! Must not: look at the user or the session (that is [`super::prompt`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_oidc::{ErrorCode, OidcError, ResponseMode};

use super::request::Validated;
use crate::http::OAuthError;
use crate::provider::Provider;

/// Why a request is refused, sent to the client's redirect URI.
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    pub(crate) description: String,
}

impl From<OidcError> for Refusal {
    fn from(e: OidcError) -> Self {
        Refusal {
            code: e.code(),
            description: e.to_string(),
        }
    }
}

impl Refusal {
    /// As a JSON error at a back-channel endpoint (PAR): 401 for `invalid_client`, 400 otherwise.
    pub(crate) fn into_json(self) -> Response {
        let status = if self.code == ErrorCode::InvalidClient {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        OAuthError::new(status, self.code.as_str(), &self.description).into_response()
    }
}

/// One check: `Err` refuses the request.
pub(crate) type Check = fn(&Provider, &Validated) -> Result<(), Refusal>;

/// In order; the first refusal is the answer.
pub(crate) const REQUEST_CHECKS: [(&str, Check); 7] = [
    ("openid scope", check_openid_scope),
    ("response type", check_response_type),
    ("implicit grant", check_implicit),
    ("response mode", check_response_mode),
    ("scope", check_scope),
    ("pkce", check_pkce),
    ("claims sub", check_claims_sub),
];

/// After [`REQUEST_CHECKS`], at the authorization endpoint only.
pub(crate) const ARRIVAL_CHECKS: [(&str, Check); 2] = [
    ("pushed request required", check_par_required),
    ("essential acr", check_essential_acr),
];

/// Runs `checks` in order.
pub(crate) fn run(p: &Provider, v: &Validated, checks: &[(&str, Check)]) -> Result<(), Refusal> {
    checks.iter().try_for_each(|(_, check)| check(p, v))
}

/// An OpenID Connect request has the `openid` scope (OIDC Core §3.1.2.1).
fn check_openid_scope(_: &Provider, v: &Validated) -> Result<(), Refusal> {
    if !v.req.scope.contains("openid") {
        return Err(OidcError::InvalidScope.into());
    }
    Ok(())
}

/// The client registered this response type.
fn check_response_type(_: &Provider, v: &Validated) -> Result<(), Refusal> {
    Ok(v.client.perms.check_response_type(v.req.response_type)?)
}

/// Tokens in the front channel only for clients registered for the implicit grant.
fn check_implicit(_: &Provider, v: &Validated) -> Result<(), Refusal> {
    if v.req.response_type.is_front_channel_token() && !v.client.perms.implicit {
        return Err(OidcError::UnauthorizedClient("implicit grant not registered").into());
    }
    Ok(())
}

/// Tokens never travel in a URL's query: `query` (and `query.jwt`, whose JWT is signed, not encrypted) only for
/// response types without an ID token or access token (OAuth 2.0 Multiple Response Types section 5, JARM 2.3.1).
fn check_response_mode(_: &Provider, v: &Validated) -> Result<(), Refusal> {
    if v.req.response_type.is_front_channel_token()
        && matches!(v.mode, ResponseMode::Query | ResponseMode::QueryJwt)
    {
        return Err(Refusal {
            code: ErrorCode::InvalidRequest,
            description: "a query response mode cannot carry tokens: use fragment or form_post"
                .into(),
        });
    }
    Ok(())
}

/// Every requested scope is allowed to the client.
fn check_scope(_: &Provider, v: &Validated) -> Result<(), Refusal> {
    v.client
        .perms
        .grant_scope(Some(&v.req.scope), &v.req.scope)?;
    Ok(())
}

/// A code for a client that must use PKCE carries a challenge (RFC 7636; S256 is enforced when parsing).
fn check_pkce(_: &Provider, v: &Validated) -> Result<(), Refusal> {
    if v.req.response_type.has_code() && v.client.require_pkce && v.req.code_challenge.is_none() {
        return Err(OidcError::MissingParameter("code_challenge").into());
    }
    Ok(())
}

/// A `claims` request asking for a particular `sub` does so well-formed (OIDC Core §5.5.1).
fn check_claims_sub(_: &Provider, v: &Validated) -> Result<(), Refusal> {
    if let Some(c) = &v.req.claims {
        c.required_sub()?;
    }
    Ok(())
}

/// RFC 9126 §6: a client registered with require_pushed_authorization_requests sends only request_uri (checked
/// on arrival; a request resumed after login or consent was checked when it arrived).
fn check_par_required(_: &Provider, v: &Validated) -> Result<(), Refusal> {
    if v.client.require_par && !v.came_through_par() {
        return Err(OidcError::MissingParameter("request_uri").into());
    }
    Ok(())
}

/// OIDC Core §5.5.1.1: an essential `acr` no combination of the login methods can produce is a failed authentication, found out
/// before asking the user anything (a voluntary one is answered with the acr we have).
fn check_essential_acr(p: &Provider, v: &Validated) -> Result<(), Refusal> {
    if let Some((values, true)) = v.req.claims.as_ref().and_then(|c| c.acr())
        && !values.is_empty()
        && !values.iter().any(|a| p.methods.can_produce(a))
    {
        return Err(Refusal {
            code: ErrorCode::UnmetAuthenticationRequirements,
            description: "the essential acr cannot be satisfied".into(),
        });
    }
    Ok(())
}
