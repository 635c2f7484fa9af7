//! # portcullis-oidc
//!
//! The OpenID Connect and OAuth 2.0 vocabulary shared by the provider and the client: messages parsed from the
//! wire into types that cannot hold an invalid request, every refusal mapped to its OAuth `error` code. Sans-IO.
//!
//! This first slice covers provider metadata (discovery), the closed sets (`response_type`, `response_mode`, `grant_type`, `prompt`, `display`,
//! client authentication methods), strict form parsing, the authorization request, the token request with its
//! client authentication material, and the `at_hash` / `c_hash` / `s_hash` ID token hashes.
//!
//! ```
//! use portcullis_oidc::{AuthorizationRequest, ResponseMode, ResponseType};
//!
//! let req = AuthorizationRequest::parse(
//!     "response_type=id_token%20code&client_id=s6BhdRkqt3&redirect_uri=https%3A%2F%2Fclient.example.org%2Fcb\
//!      &scope=openid%20profile%20email&state=af0ifjsldkj&nonce=n-0S6_WzA2Mj\
//!      &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
//! )?;
//! assert_eq!(req.response_type, ResponseType::CODE_ID_TOKEN);   // any order on the wire
//! assert_eq!(req.response_type.to_string(), "code id_token");
//! assert_eq!(req.effective_response_mode(), ResponseMode::Fragment);
//! assert!(req.scope.contains("openid"));
//!
//! // A parameter given twice is refused, with the OAuth error code to send back.
//! let err = AuthorizationRequest::parse("client_id=a&client_id=b&response_type=code").unwrap_err();
//! assert_eq!(err.code().as_str(), "invalid_request");
//! # Ok::<(), portcullis_oidc::OidcError>(())
//! ```
//!
//! Must not: do I/O or keep state between calls (the provider and the client do).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod authorize;
mod bridge;
mod claims;
mod claims_request;
mod client;
mod discovery;
mod error;
mod grants;
mod hashes;
mod initiation;
mod jar;
mod mtls;
mod params;
mod responses;
mod sector;
mod token;
mod types;

pub use authorize::{AuthorizationRequest, Scope};
pub use bridge::{
    MAX_CLAIM_OBJECT, MAX_CLAIM_STRING, MAX_IDENTIFIER, MAX_POSTBACK, MAX_POSTBACK_CLAIMS,
    Postback, PostbackError, STANDARD_CLAIMS, VERIFIED_CLAIMS, check_released_claim,
};
pub use claims::{
    Address, IdToken, IdTokenBuilder, IdTokenError, IdTokenExpectations, ScopeClaims, UserInfo,
    verify_id_token,
};
pub use claims_request::{ClaimRequest, ClaimsRequest, MAX_REQUESTED_CLAIMS};
pub use client::{
    ASSERTION_LEEWAY, AssertionError, ClientMetadata, RedirectUriRule, acceptable_redirect_uri,
    verify_client_assertion,
};
pub use discovery::{MAX_METADATA_LEN, MetadataError, ProviderMetadata};
pub use error::{ErrorCode, OidcError};
pub use grants::{ClientPermissions, IssuedCode};
pub use hashes::{check_token_hash, token_hash};
pub use initiation::{InitiationError, LoginInitiation, MAX_IDP_ID, MAX_LOGIN_HINT};
pub use jar::{
    PAR_REQUEST_URI_PREFIX, PushedAuthorizationRequest, PushedAuthorizationResponse,
    REQUEST_OBJECT_LEEWAY, REQUEST_OBJECT_TYPES, RequestObjectPolicy, VerifiedRequestObject,
    is_par_request_uri, new_par_request_uri, verify_request_object, verify_request_object_once,
};
pub use mtls::{
    ClientCertificate, DistinguishedName, MAX_CERTIFICATE_LEN, MtlsError, TlsClientAuthRule,
    certificate_thumbprint_s256, check_certificate_binding, check_self_signed,
};
pub use params::{MAX_FORM_LEN, Params};
pub use responses::{
    AuthorizationResponse, NO_STORE_HEADERS, TokenErrorResponse, TokenResponse, form_post_html,
    redirect_with, sanitize_description,
};
pub use sector::{
    MAX_SECTOR_DOCUMENT, MAX_SECTOR_URIS, parse_sector_document, unlisted_redirect_uri,
};
pub use token::{
    ClientAuthentication, Grant, JWT_BEARER_ASSERTION, TokenRequest, client_authentication,
};
pub use types::{
    ClientAuthMethod, Display, GrantType, Prompt, ResponseMode, ResponseType, SECOND_FACTOR_ACR,
};
