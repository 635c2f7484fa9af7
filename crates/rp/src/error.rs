//! Why a relying-party operation failed ([`RpError`]): one precise variant per refusal. Must not carry
//! partially validated data.

use portcullis_oidc::{ErrorCode, IdTokenError, MetadataError, OidcError};

/// Why a relying-party operation failed. Every variant is a refusal: nothing partially validated is returned.
#[derive(Debug, thiserror::Error)]
pub enum RpError {
    /// The HTTP exchange itself failed (connection, timeout, TLS).
    #[error("HTTP request to {endpoint} failed: {reason}")]
    Http {
        /// Which endpoint.
        endpoint: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A response body exceeded its size limit.
    #[error("{endpoint} response larger than {limit} bytes")]
    TooLarge {
        /// Which endpoint.
        endpoint: &'static str,
        /// The limit.
        limit: usize,
    },
    /// An endpoint answered with an unexpected status and no OAuth error body.
    #[error("{endpoint} answered HTTP {status}")]
    Status {
        /// Which endpoint.
        endpoint: &'static str,
        /// The status code.
        status: u16,
    },
    /// An endpoint (or the authorization response) returned an OAuth error.
    #[error("{endpoint} returned {}{}", error.as_str(), description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider {
        /// Which endpoint (`authorization` for the redirect).
        endpoint: &'static str,
        /// The `error` code.
        error: ErrorCode,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// A body was not the JSON (or JWT) it should be.
    #[error("{endpoint} response is malformed: {reason}")]
    Malformed {
        /// Which endpoint.
        endpoint: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The discovery document was refused.
    #[error("discovery: {0}")]
    Metadata(#[from] MetadataError),
    /// A third-party initiated login request (OIDC Core §4) that is malformed.
    #[error("third-party login initiation: {0}")]
    Initiation(String),
    /// The issuer is not one this relying party is configured for.
    #[error("issuer {0} is not configured")]
    UnknownIssuer(String),
    /// The provider does not offer what was asked (an endpoint, a response type, PAR, ...).
    #[error("the provider does not support {0}")]
    Unsupported(&'static str),
    /// The callback's `state` is missing or differs from the session's (CSRF or a stale tab).
    #[error("state mismatch")]
    StateMismatch,
    /// The authorization response is malformed, comes from another issuer (RFC 9207), or does not carry what the
    /// requested response type promises.
    #[error("authorization response refused: {0}")]
    Response(#[from] OidcError),
    /// The authorization response does not carry what the response type promises, or carries what it should not.
    #[error("authorization response refused: {0}")]
    UnexpectedResponse(&'static str),
    /// The ID token was refused.
    #[error("ID token refused: {0}")]
    IdToken(#[from] IdTokenError),
    /// A token response without an ID token, for an `openid` login.
    #[error("the token response has no id_token")]
    MissingIdToken,
    /// The two ID tokens of a hybrid flow disagree on `iss` or `sub` (OIDC Core §3.3.3.6).
    #[error("the front- and back-channel ID tokens disagree on {0}")]
    IdTokenMismatch(&'static str),
    /// UserInfo's `sub` is not the ID token's (OIDC Core §5.3.4).
    #[error("UserInfo sub differs from the ID token's")]
    SubjectMismatch,
    /// A JOSE operation failed (signing a client assertion or request object, a signed UserInfo response).
    #[error(transparent)]
    Jose(#[from] portcullis_jose::Error),
    /// A step-up Auth Token was refused.
    #[error("auth_token refused: {0}")]
    AuthToken(#[from] portcullis_factor::FactorError),
    /// A valid Auth Token for another step-up (`nonce`) or another user (`sub`) than this session's.
    #[error("auth_token refused: its {0} is not this session's")]
    StepUpMismatch(&'static str),
    /// The client configuration cannot do what was asked.
    #[error("client configuration: {0}")]
    Config(String),
}
