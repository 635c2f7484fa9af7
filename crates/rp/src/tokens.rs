//! The token endpoint (code exchange and refresh, OIDC Core §3.1.3 and §12) and ID token verification through the
//! provider's key cache. Must not loosen the ID token expectations: callers only add the hashes' inputs.

use portcullis_oidc::{
    Grant, IdToken, IdTokenExpectations, TokenRequest, TokenResponse, verify_id_token,
};
use serde_json::Value;

use crate::{Login, Provider, RelyingParty, RpError};

/// Tokens from a refresh.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The new access token.
    pub access_token: String,
    /// The rotated refresh token, if the provider rotated it.
    pub refresh_token: Option<String>,
    /// A new ID token, verified (same `iss`, `sub`, `aud` as before; no nonce), if one came.
    pub id_token: Option<IdToken>,
    /// Lifetime in seconds.
    pub expires_in: Option<u64>,
}

impl RelyingParty {
    /// What every ID token from `issuer` must satisfy; callers add the hashes' inputs.
    pub(crate) fn expectations<'a>(
        &'a self,
        issuer: &'a str,
        nonce: Option<&'a str>,
        max_age: Option<u64>,
    ) -> IdTokenExpectations<'a> {
        IdTokenExpectations {
            issuer,
            client_id: &self.config.client_id,
            nonce,
            max_age,
            access_token: None,
            access_token_from_front_channel: false,
            code: None,
            leeway: self.config.leeway,
        }
    }

    pub(crate) async fn verify_id_token(
        &self,
        p: &Provider,
        token: &str,
        e: &IdTokenExpectations<'_>,
    ) -> Result<IdToken, RpError> {
        let algs = self.config.algorithms;
        Ok(p.jwks
            .with_keys(&self.http, |keys| verify_id_token(token, keys, algs, e))
            .await??)
    }

    pub(crate) async fn token_request(
        &self,
        url: &str,
        req: &TokenRequest,
    ) -> Result<TokenResponse, RpError> {
        let (body, header) = req.to_wire();
        let obj = self.post_form("token_endpoint", url, body, header).await?;
        let tr: TokenResponse =
            serde_json::from_value(Value::Object(obj)).map_err(|e| RpError::Malformed {
                endpoint: "token_endpoint",
                reason: e.to_string(),
            })?;
        if !tr.token_type.eq_ignore_ascii_case("bearer") {
            return Err(RpError::Malformed {
                endpoint: "token_endpoint",
                reason: format!("token_type {} is not Bearer", tr.token_type),
            });
        }
        if tr.access_token.is_empty() {
            return Err(RpError::Malformed {
                endpoint: "token_endpoint",
                reason: "empty access_token".into(),
            });
        }
        Ok(tr)
    }

    /// Uses a refresh token. A returned ID token is verified and must keep `iss`, `sub` and `aud` of the
    /// login's (OIDC Core §12.2).
    pub async fn refresh(
        &self,
        issuer: &str,
        login: &Login,
        refresh_token: &str,
    ) -> Result<Refreshed, RpError> {
        let p = self.provider(issuer).await?;
        let token_ep = p
            .metadata
            .token_endpoint
            .as_deref()
            .ok_or(RpError::Unsupported("the token endpoint"))?;
        let req = TokenRequest {
            grant: Grant::RefreshToken {
                refresh_token: refresh_token.to_owned(),
                scope: None,
            },
            client: self.client_authentication(token_ep)?,
        };
        let tr = self.token_request(token_ep, &req).await?;
        let id_token = match &tr.id_token {
            Some(raw) => {
                let t = self
                    .verify_id_token(
                        &p,
                        raw,
                        &IdTokenExpectations {
                            access_token: Some(&tr.access_token),
                            ..self.expectations(&p.metadata.issuer, None, None)
                        },
                    )
                    .await?;
                if t.claims.registered.sub != login.id_token.claims.registered.sub {
                    return Err(RpError::IdTokenMismatch("sub"));
                }
                Some(t)
            }
            None => None,
        };
        Ok(Refreshed {
            access_token: tr.access_token,
            refresh_token: tr.refresh_token,
            id_token,
            expires_in: tr.expires_in,
        })
    }
}
