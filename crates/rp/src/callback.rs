//! Completing a login from the callback: JARM verification, `state` (constant time) and `iss` checks, the
//! response matching its response type, the front-channel and token-endpoint ID tokens, and the [`Login`]
//! result. Must not return anything that has not passed every check.

use portcullis_jose::jwt;
use portcullis_oidc::{AuthorizationResponse, Grant, IdToken, IdTokenExpectations, TokenRequest};
use serde_json::{Map, Value};

use crate::{Callback, LoginSession, Provider, RelyingParty, RpError};

/// A completed, fully validated login.
#[derive(Debug, Clone)]
pub struct Login {
    /// The verified ID token (the token endpoint's when the code flow ran, else the front channel's).
    pub id_token: IdToken,
    /// The ID token as received.
    pub id_token_raw: String,
    /// The access token, if one was issued.
    pub access_token: Option<String>,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<String>,
    /// Access token lifetime in seconds, if given.
    pub expires_in: Option<u64>,
    /// The granted scope, if the provider said.
    pub scope: Option<String>,
}

impl Login {
    /// The verified `sub`.
    pub fn subject(&self) -> &str {
        self.id_token.claims.registered.sub.as_deref().unwrap_or("")
    }

    /// Every verified ID token claim as one JSON object (a decoded token's `custom` map holds the whole claims
    /// set, registered claims included).
    pub fn claims(&self) -> Map<String, Value> {
        self.id_token.claims.custom.clone()
    }
}

impl RelyingParty {
    /// Reads the authorization response out of the callback: verifies a JARM JWT when the session asked for one
    /// (and refuses a plain response then, and a JARM one otherwise), checks `iss`.
    async fn authorization_response(
        &self,
        p: &Provider,
        session: &LoginSession,
        cb: &Callback,
    ) -> Result<AuthorizationResponse, RpError> {
        let mode = session.response_mode()?;
        let params = cb.params();
        if mode.is_jwt() {
            let token = params.get("response").ok_or(RpError::UnexpectedResponse(
                "a JARM response was requested but the callback has no response parameter",
            ))?;
            let v = jwt::Validation::new(self.config.algorithms)
                .issuer(&p.metadata.issuer)
                .audience(&self.config.client_id);
            // Verified through the cache (an unknown kid refetches the keys once), then read.
            let t = p
                .jwks
                .with_keys(&self.http, |keys| {
                    jwt::decode::<Map<String, Value>>(token, keys, &v)
                })
                .await??;
            return Ok(AuthorizationResponse::from_verified_jarm_claims(
                &t.claims.custom,
                &p.metadata.issuer,
            ));
        }
        if params.get("response").is_some() {
            return Err(RpError::UnexpectedResponse(
                "a JARM response arrived but none was requested",
            ));
        }
        Ok(AuthorizationResponse::from_params(
            params,
            &p.metadata.issuer,
            p.metadata.authorization_response_iss_parameter_supported,
        )?)
    }

    /// Completes a login: every check listed in the crate documentation, then the code exchange when the
    /// response type has a code.
    pub async fn complete(&self, session: &LoginSession, cb: &Callback) -> Result<Login, RpError> {
        let p = self.provider(&session.issuer).await?;
        let rt = session.response_type()?;
        let resp = self.authorization_response(&p, session, cb).await?;
        // State first (constant time), then the provider's error if it sent one.
        let (AuthorizationResponse::Error { state, .. }
        | AuthorizationResponse::Success { state, .. }) = &resp;
        if !state_matches(state.as_deref(), &session.state) {
            return Err(RpError::StateMismatch);
        }
        let (code, front_id_token, front_at, expires_in) = match resp {
            AuthorizationResponse::Error {
                error, description, ..
            } => {
                return Err(RpError::Provider {
                    endpoint: "authorization",
                    error,
                    description: description.map(|d| portcullis_oidc::sanitize_description(&d)),
                });
            }
            AuthorizationResponse::Success {
                code,
                id_token,
                access_token,
                expires_in,
                ..
            } => (code, id_token, access_token, expires_in),
        };
        if code.is_some() != rt.has_code() {
            return Err(RpError::UnexpectedResponse(
                "code presence does not match the response type",
            ));
        }
        if front_id_token.is_some() != rt.has_id_token() {
            return Err(RpError::UnexpectedResponse(
                "id_token presence does not match the response type",
            ));
        }
        if front_at.is_some() != rt.has_token() {
            return Err(RpError::UnexpectedResponse(
                "access_token presence does not match the response type",
            ));
        }
        let issuer = p.metadata.issuer.as_str();
        let front = match &front_id_token {
            Some(t) => Some(
                self.verify_id_token(
                    &p,
                    t,
                    &IdTokenExpectations {
                        access_token: front_at.as_deref(),
                        access_token_from_front_channel: front_at.is_some(),
                        code: code.as_deref(),
                        ..self.expectations(issuer, Some(&session.nonce), session.max_age)
                    },
                )
                .await?,
            ),
            None => None,
        };
        let Some(code) = code else {
            // Implicit: the front-channel ID token is the login.
            let id_token = front.ok_or(RpError::MissingIdToken)?;
            return Ok(Login {
                id_token,
                id_token_raw: front_id_token.unwrap_or_default(),
                access_token: front_at,
                refresh_token: None,
                expires_in,
                scope: None,
            });
        };
        let token_ep = p
            .metadata
            .token_endpoint
            .as_deref()
            .ok_or(RpError::Unsupported("the token endpoint"))?;
        let req = TokenRequest {
            grant: Grant::AuthorizationCode {
                code,
                redirect_uri: Some(session.redirect_uri.clone()),
                code_verifier: session.code_verifier.clone(),
            },
            client: self.client_authentication(token_ep)?,
        };
        let tr = self.token_request(token_ep, &req).await?;
        let raw = tr.id_token.clone().ok_or(RpError::MissingIdToken)?;
        let back = self
            .verify_id_token(
                &p,
                &raw,
                &IdTokenExpectations {
                    access_token: Some(&tr.access_token),
                    ..self.expectations(issuer, Some(&session.nonce), session.max_age)
                },
            )
            .await?;
        if let Some(f) = &front {
            if f.claims.registered.iss != back.claims.registered.iss {
                return Err(RpError::IdTokenMismatch("iss"));
            }
            if f.claims.registered.sub != back.claims.registered.sub {
                return Err(RpError::IdTokenMismatch("sub"));
            }
        }
        Ok(Login {
            id_token: back,
            id_token_raw: raw,
            access_token: Some(tr.access_token),
            refresh_token: tr.refresh_token,
            expires_in: tr.expires_in,
            scope: tr.scope,
        })
    }
}

fn state_matches(got: Option<&str>, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    got.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())))
}
