//! Errors, each mapped to the OAuth 2.0 / OpenID Connect `error` code the endpoint must answer with.
//!
//! Must not: carry a value taken from the request, except the name of a repeated parameter.

/// An OAuth 2.0 / OpenID Connect `error` code (RFC 6749 §4.1.2.1, §5.2; OIDC Core §3.1.2.6; RFC 9101; RFC 9126).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `invalid_request`
    InvalidRequest,
    /// `invalid_client`
    InvalidClient,
    /// `invalid_grant`
    InvalidGrant,
    /// `unauthorized_client`
    UnauthorizedClient,
    /// `unsupported_grant_type`
    UnsupportedGrantType,
    /// `unsupported_response_type`
    UnsupportedResponseType,
    /// `invalid_scope`
    InvalidScope,
    /// `access_denied`
    AccessDenied,
    /// `invalid_request_object`
    InvalidRequestObject,
    /// `request_not_supported`
    RequestNotSupported,
    /// `request_uri_not_supported`
    RequestUriNotSupported,
    /// `invalid_request_uri` (RFC 9101 / RFC 9126: unknown, expired or used `request_uri`)
    InvalidRequestUri,
    /// `login_required` (OIDC Core §3.1.2.6)
    LoginRequired,
    /// `consent_required` (OIDC Core §3.1.2.6)
    ConsentRequired,
    /// `interaction_required` (OIDC Core §3.1.2.6)
    InteractionRequired,
    /// `account_selection_required` (OIDC Core §3.1.2.6)
    AccountSelectionRequired,
    /// `unmet_authentication_requirements` (OpenID Connect Core Unmet Authentication Requirements 1.0): the
    /// provider cannot authenticate the user as an essential `acr` request demands.
    UnmetAuthenticationRequirements,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidClient,
        ErrorCode::InvalidGrant,
        ErrorCode::UnauthorizedClient,
        ErrorCode::UnsupportedGrantType,
        ErrorCode::UnsupportedResponseType,
        ErrorCode::InvalidScope,
        ErrorCode::AccessDenied,
        ErrorCode::InvalidRequestObject,
        ErrorCode::RequestNotSupported,
        ErrorCode::RequestUriNotSupported,
        ErrorCode::InvalidRequestUri,
        ErrorCode::LoginRequired,
        ErrorCode::ConsentRequired,
        ErrorCode::InteractionRequired,
        ErrorCode::AccountSelectionRequired,
        ErrorCode::UnmetAuthenticationRequirements,
    ];

    /// Parses a wire value this crate knows.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The HTTP status of a token endpoint error (RFC 6749 §5.2): 401 for `invalid_client`, else 400.
    pub const fn token_endpoint_status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient => 401,
            _ => 400,
        }
    }

    /// The wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::InvalidRequestObject => "invalid_request_object",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::InvalidRequestUri => "invalid_request_uri",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::AccountSelectionRequired => "account_selection_required",
            ErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
        }
    }
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The body or query is larger than [`MAX_FORM_LEN`](crate::MAX_FORM_LEN).
    #[error("request too large")]
    TooLarge,
    /// Not valid `application/x-www-form-urlencoded` (bad percent-encoding or UTF-8).
    #[error("malformed form encoding")]
    MalformedForm,
    /// A parameter appears more than once (RFC 6749 §3.1).
    #[error("parameter {0} is repeated")]
    RepeatedParameter(String),
    /// A required parameter is absent (or empty).
    #[error("missing parameter {0}")]
    MissingParameter(&'static str),
    /// A parameter has an invalid value.
    #[error("invalid value for {0}")]
    InvalidParameter(&'static str),
    /// `response_type` is not one this crate supports.
    #[error("unsupported response_type")]
    UnsupportedResponseType,
    /// `grant_type` is not one this crate supports.
    #[error("unsupported grant_type")]
    UnsupportedGrantType,
    /// PKCE parameters are malformed or use a refused method.
    #[error("PKCE: {0}")]
    Pkce(#[from] portcullis_pkce::PkceError),
    /// Client authentication material is malformed, ambiguous (several methods at once) or inconsistent.
    #[error("invalid client authentication: {0}")]
    ClientAuthentication(&'static str),
    /// A request object (RFC 9101) was refused: signature, type, issuer, audience, expiry or `client_id`
    /// disagreement.
    #[error("invalid request object: {0}")]
    RequestObject(&'static str),
    /// The grant (code, refresh token) is invalid, expired, revoked, or bound to another client, redirect URI
    /// or PKCE challenge.
    #[error("invalid grant: {0}")]
    InvalidGrant(&'static str),
    /// The client is not registered for this grant or response type.
    #[error("unauthorized client: {0}")]
    UnauthorizedClient(&'static str),
    /// The requested scope is unknown, not allowed for the client, or wider than the original grant.
    #[error("invalid scope")]
    InvalidScope,
    /// `request` and `request_uri` were both given.
    #[error("request and request_uri are mutually exclusive")]
    RequestAndRequestUri,
}

impl OidcError {
    /// The `error` code to answer with.
    pub fn code(&self) -> ErrorCode {
        match self {
            OidcError::UnsupportedResponseType => ErrorCode::UnsupportedResponseType,
            OidcError::UnsupportedGrantType => ErrorCode::UnsupportedGrantType,
            OidcError::ClientAuthentication(_) => ErrorCode::InvalidClient,
            OidcError::RequestObject(_) => ErrorCode::InvalidRequestObject,
            OidcError::InvalidGrant(_) => ErrorCode::InvalidGrant,
            OidcError::UnauthorizedClient(_) => ErrorCode::UnauthorizedClient,
            OidcError::InvalidScope => ErrorCode::InvalidScope,
            _ => ErrorCode::InvalidRequest,
        }
    }
}
