//! `/token` (RFC 6749 §3.2): reads the request under the limits, authenticates the client
//! ([`client_auth`]), binds tokens to the client certificate when registered (RFC 8705 §3), and hands the grant
//! to its module: [`authorization_code`], [`refresh_token`], [`client_credentials`]. [`response`] builds what
//! all of them answer.
//!
//! Must not: issue anything before the client is authenticated.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_oidc::{Grant, OidcError, TokenRequest, certificate_thumbprint_s256};

use crate::http::client_addr::ClientIp;
use crate::http::{self, HttpResult, oerr};
use crate::now;
use crate::provider::Provider;
use crate::tls::PeerCertificate;

pub mod authorization_code;
pub mod client_auth;
pub mod client_credentials;
pub mod refresh_token;
pub mod response;

/// The token endpoint.
pub async fn token(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    peer: Option<axum::Extension<PeerCertificate>>,
    body: Body,
) -> Response {
    token_inner(&p, (super::peer_der(peer), ip), &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn token_inner(
    p: &Provider,
    (peer, ip): (Option<Arc<Vec<u8>>>, std::net::IpAddr),
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let bytes = http::read_body(body, p.cfg.max_request_bytes).await?;
    if !http::is_form(headers) {
        return Err(oerr(OidcError::InvalidParameter("content-type")));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| oerr(OidcError::MalformedForm))?;
    let auth = http::header_str(headers, header::AUTHORIZATION).map_err(oerr)?;
    let req = TokenRequest::parse(text, auth).map_err(oerr)?;
    let client = p
        .authenticate(&req.client, peer.as_deref().map(Vec::as_slice))
        .await
        .map_err(oerr)?;
    let t = now();
    // Certificate-bound access tokens (RFC 8705 §3): a client registered for them gets none without a
    // certificate (never an unbound bearer token instead).
    let cnf = match (client.bind_tokens, peer.as_deref()) {
        (true, Some(der)) => Some(certificate_thumbprint_s256(der)),
        (true, None) => {
            return Err(http::OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "this client's tokens are bound to its certificate: connect with it",
            )
            .into_response());
        }
        (false, _) => None,
    };
    let cnf = cnf.as_deref();
    let grant_type = match &req.grant {
        Grant::AuthorizationCode { .. } => "authorization_code",
        Grant::RefreshToken { .. } => "refresh_token",
        Grant::ClientCredentials { .. } => "client_credentials",
    };
    let issued = match req.grant {
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            authorization_code::redeem(
                p,
                &client,
                &code,
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
                cnf,
                t,
            )
            .await
        }
        Grant::RefreshToken {
            refresh_token,
            scope,
        } => refresh_token::refresh(p, &client, &refresh_token, (scope.as_ref(), cnf, ip), t).await,
        Grant::ClientCredentials { scope } => {
            client_credentials::issue(p, &client, scope.as_ref(), cnf, t).await
        }
    };
    if issued.is_ok() {
        p.metrics
            .tokens
            .get_or_create(&crate::metrics::GrantLabels {
                grant_type: grant_type.to_owned(),
            })
            .inc();
    }
    issued
}
