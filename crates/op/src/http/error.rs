//! The error responses every endpoint shares: the OAuth JSON error ([`OAuthError`], one `IntoResponse` type
//! for the token, PAR, revocation, introspection and UserInfo endpoints), the error page for requests whose
//! redirect target cannot be trusted, and the mapping of storage failures to 503.
//!
//! Must not: decide *which* error a request earns (the endpoints do), or ever answer 500.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_oidc::{ErrorCode, OidcError, sanitize_description};
use serde_json::json;

use super::responses::{PAGE_CSP, html, json_response};
use crate::store::StoreError;

/// An error at an endpoint, already in its HTTP form.
pub type HttpResult<T> = Result<T, Response>;

/// Which `WWW-Authenticate` challenge an [`OAuthError`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// None.
    None,
    /// `Basic` (RFC 6749 §5.2: a 401 at the token endpoint).
    Basic,
    /// `Bearer` with the error code (RFC 6750 §3: protected resources such as UserInfo).
    Bearer,
}

/// An OAuth 2.0 error response: JSON `error` / `error_description` with `Cache-Control: no-store`.
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// HTTP status.
    pub status: StatusCode,
    /// The `error` code (empty for a bare Bearer challenge: no token was sent, RFC 6750 §3.1).
    pub code: Cow<'static, str>,
    /// `error_description`.
    pub description: String,
    /// The challenge header, if any.
    pub challenge: Challenge,
}

impl OAuthError {
    /// An error with `status`; a 401 carries a `Basic` challenge.
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>, description: &str) -> Self {
        OAuthError {
            status,
            code: code.into(),
            description: description.to_owned(),
            challenge: if status == StatusCode::UNAUTHORIZED {
                Challenge::Basic
            } else {
                Challenge::None
            },
        }
    }

    /// A protected-resource error with a `Bearer` challenge (RFC 6750 §3).
    pub fn bearer(status: StatusCode, code: &'static str, description: &str) -> Self {
        OAuthError {
            status,
            code: code.into(),
            description: description.to_owned(),
            challenge: Challenge::Bearer,
        }
    }
}

impl From<&OidcError> for OAuthError {
    /// The token-endpoint style error (401 for `invalid_client`, 400 otherwise).
    fn from(e: &OidcError) -> Self {
        let code = e.code();
        let status = if code == ErrorCode::InvalidClient {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        OAuthError::new(status, code.as_str(), &e.to_string())
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        match self.challenge {
            Challenge::Bearer => {
                let mut r = json_response(
                    self.status,
                    &json!({"error": self.code, "error_description": self.description}),
                    true,
                );
                let v = if self.code.is_empty() {
                    "Bearer realm=\"portcullis\"".to_owned()
                } else {
                    format!(
                        "Bearer realm=\"portcullis\", error=\"{}\", error_description=\"{}\"",
                        self.code, self.description
                    )
                };
                if let Ok(h) = HeaderValue::from_str(&v) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, h);
                }
                r
            }
            challenge => {
                let mut r = json_response(
                    self.status,
                    &json!({"error": self.code, "error_description": sanitize_description(&self.description)}),
                    true,
                );
                if challenge == Challenge::Basic {
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"portcullis\""),
                    );
                }
                r
            }
        }
    }
}

/// An OAuth JSON error (`error`, `error_description`), as a response.
pub fn oauth_error(status: StatusCode, code: &'static str, description: &str) -> Response {
    OAuthError::new(status, code, description).into_response()
}

/// The token-endpoint style error for an [`OidcError`] (401 for `invalid_client`).
pub fn oidc_error(e: &OidcError) -> Response {
    OAuthError::from(e).into_response()
}

/// [`oidc_error`] by value, for `map_err`.
pub fn oerr(e: OidcError) -> Response {
    oidc_error(&e)
}

/// A protected-resource error with a `Bearer` challenge.
pub fn bearer_error(status: StatusCode, code: &'static str, description: &str) -> Response {
    OAuthError::bearer(status, code, description).into_response()
}

/// Storage unavailable: 503 with `Retry-After`, never a 500 and never details.
pub fn unavailable() -> Response {
    let mut r = oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "storage is unavailable, try again",
    );
    r.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    r
}

/// A storage failure, logged, as [`unavailable`].
pub fn db(e: StoreError) -> Response {
    tracing::error!("storage: {e}");
    unavailable()
}

/// The error page for requests whose redirect target cannot be trusted.
pub fn error_page(status: StatusCode, code: &str, description: &str) -> Response {
    html(status, crate::pages::error(code, description), PAGE_CSP)
}
