//! Sending an authorization response (success or error) to the client in its response mode: query or fragment
//! redirect, auto-submitting form (form_post), or any of those carrying a JARM response JWT.
//!
//! Must not: send anything to a redirect URI that was not established by [`super::request`].

use axum::http::StatusCode;
use axum::response::Response;
use portcullis_oidc::{AuthorizationResponse, ErrorCode, Params, ResponseMode, redirect_with};

use super::checks::Refusal;
use super::request::ErrorTarget;
use crate::clients::Client;
use crate::http;
use crate::provider::Provider;

impl Provider {
    /// Sends an authorization response (success or error) to the client in its response mode: query or
    /// fragment redirect, auto-submitting form, or any of those carrying a JARM response JWT.
    pub(crate) fn deliver(
        &self,
        client: &Client,
        redirect_uri: &str,
        mode: ResponseMode,
        resp: &AuthorizationResponse,
    ) -> Response {
        let params = if mode.is_jwt() {
            let keys = self.keys();
            let signed = keys
                .signer(client.jarm_alg)
                .map(|key| resp.to_jarm(&client.id, 300, client.jarm_alg, key));
            match signed {
                Some(Ok(jwt)) => Params::from_pairs([("response", jwt.into())]),
                _ => return http::unavailable(),
            }
        } else {
            resp.to_params()
        };
        match mode {
            ResponseMode::FormPost | ResponseMode::FormPostJwt => http::html(
                StatusCode::OK,
                crate::pages::form_post(redirect_uri, &params),
                http::FORM_POST_CSP,
            ),
            _ => match redirect_with(redirect_uri, mode, &params) {
                Ok(url) => http::redirect(&url),
                Err(_) => http::error_page(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the redirect URI cannot carry a response",
                ),
            },
        }
    }

    /// Sends an error to the client.
    pub(crate) fn auth_error(
        &self,
        t: &ErrorTarget,
        code: ErrorCode,
        description: &str,
    ) -> Response {
        let resp = AuthorizationResponse::Error {
            error: code,
            description: Some(description.to_owned()),
            state: t.state.clone(),
            iss: self.cfg.issuer.clone(),
        };
        self.deliver(&t.client, &t.redirect_uri, t.mode, &resp)
    }

    /// Sends a [`Refusal`] of a check to the client.
    pub(crate) fn refuse(&self, t: &ErrorTarget, r: Refusal) -> Response {
        self.auth_error(t, r.code, &r.description)
    }
}
