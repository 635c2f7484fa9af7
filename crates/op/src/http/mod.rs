//! HTTP plumbing every endpoint shares, and nothing endpoint-specific:
//! - [`limits`]: bodies and header blocks under the configured limits, strict forms and headers;
//! - [`error`]: the OAuth error response ([`OAuthError`]), error pages, storage failures as 503;
//! - [`responses`]: JSON, HTML pages with their security headers and CSP, redirects;
//! - [`cookies`]: the session cookie;
//! - [`csrf`]: the provider's own forms' CSRF tokens;
//! - [`binding`]: pending requests bound to the browser they were shown to; cross-site form posts refused;
//! - [`front`]: the middleware in front of every endpoint;
//! - [`client_addr`]: the client's address, for throttling;
//! - [`deadline`]: connections whose peer stops reading are closed.
//!
//! Must not: hold protocol rules or touch storage beyond reporting its errors.

pub mod binding;
pub mod client_addr;
pub mod cookies;
pub mod csrf;
pub mod deadline;
pub mod error;
pub mod front;
pub mod limits;
pub mod responses;

pub use cookies::{SESSION_COOKIE, cookie, session_cookie};
pub use error::{
    HttpResult, OAuthError, bearer_error, db, error_page, oauth_error, oerr, oidc_error,
    unavailable,
};
pub use limits::{READ_TIMEOUT, form_body, header_str, is_form, read_body, read_form};
pub use responses::{
    FORM_POST_CSP, PAGE_CSP, form_page_csp, form_page_csp_to, html, html_csp, json_response,
    redirect,
};
