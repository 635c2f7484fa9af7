//! The UserInfo endpoint (OIDC Core §5.3): plain JSON or a signed JWT, bounded in size, and its `sub` checked
//! against the login's ID token. Must not return claims for another subject.

use portcullis_jose::jwt;
use serde_json::{Map, Value};

use crate::http;
use crate::{Login, MAX_RESPONSE_LEN, RelyingParty, RpError};

impl RelyingParty {
    /// Fetches UserInfo with the login's access token and checks its `sub` against the ID token's. A signed
    /// (`application/jwt`) answer is verified like an ID token's signature, `iss` and `aud`.
    pub async fn userinfo(
        &self,
        issuer: &str,
        login: &Login,
    ) -> Result<Map<String, Value>, RpError> {
        let at = login
            .access_token
            .as_deref()
            .ok_or(RpError::Config("no access token".into()))?;
        let claims = self.userinfo_raw(issuer, at).await?;
        if claims.get("sub").and_then(Value::as_str) != Some(login.subject()) {
            return Err(RpError::SubjectMismatch);
        }
        Ok(claims)
    }

    async fn userinfo_raw(&self, issuer: &str, at: &str) -> Result<Map<String, Value>, RpError> {
        const EP: &str = "userinfo_endpoint";
        let p = self.provider(issuer).await?;
        let url = p
            .metadata
            .userinfo_endpoint
            .as_deref()
            .ok_or(RpError::Unsupported("UserInfo"))?;
        let resp = self
            .http
            .get(url)
            .bearer_auth(at)
            .header("accept", "application/json, application/jwt")
            .send()
            .await
            .map_err(|e| http::http_error(EP, e))?;
        let status = resp.status();
        let media = http::media_type(&resp);
        let body = http::read_limited(EP, resp, MAX_RESPONSE_LEN).await?;
        if !status.is_success() {
            return Err(http::oauth_error(EP, &body).unwrap_or(RpError::Status {
                endpoint: EP,
                status: status.as_u16(),
            }));
        }
        let malformed = |reason: String| RpError::Malformed {
            endpoint: EP,
            reason,
        };
        if media == "application/jwt" {
            let text = std::str::from_utf8(&body).map_err(|e| malformed(e.to_string()))?;
            let v = jwt::Validation::new(self.config.algorithms)
                .issuer(&p.metadata.issuer)
                .audience(&self.config.client_id)
                .exp_optional();
            let t = p
                .jwks
                .with_keys(&self.http, |keys| {
                    jwt::decode::<Map<String, Value>>(text.trim(), keys, &v)
                })
                .await??;
            return Ok(t.claims.custom);
        }
        if media != "application/json" {
            return Err(malformed(format!("unexpected content type {media:?}")));
        }
        portcullis_jose::parse_strict_object(&body).map_err(|e| malformed(e.to_string()))
    }
}
