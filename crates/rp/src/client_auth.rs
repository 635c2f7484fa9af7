//! How the client authenticates at the token and PAR endpoints ([`ClientAuth`]): secrets, JWT assertions
//! (RFC 7523) and mTLS, and the client's own signing key. Must not send requests itself.

use portcullis_jose::{Algorithm, Jwk, JwkAlgorithm, SigningKey, jws, jwt};
use portcullis_oidc::ClientAuthentication;
use serde_json::json;
use zeroize::Zeroizing;

use crate::{RelyingParty, RpError, random_token};

/// How the client authenticates at the token and PAR endpoints.
#[derive(Clone)]
pub enum ClientAuth {
    /// A public client (PKCE is always used).
    None,
    /// `client_secret_basic`.
    SecretBasic(Zeroizing<String>),
    /// `client_secret_post`.
    SecretPost(Zeroizing<String>),
    /// `client_secret_jwt` (OIDC Core §9, RFC 7523): an HS256 assertion keyed by the client secret (at least
    /// 32 bytes, RFC 7518 §3.2).
    SecretJwt(Zeroizing<String>),
    /// `private_key_jwt` (RFC 7523) with this private key; the same key signs request objects.
    PrivateKeyJwt(Box<Jwk>),
    /// `tls_client_auth` / `self_signed_tls_client_auth` (RFC 8705): the certificate is configured on the HTTP
    /// client (see [`http_client_builder`](crate::http_client_builder) and `reqwest::Identity`); only
    /// `client_id` goes in the body.
    Tls,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientAuth::None => "None",
            ClientAuth::SecretBasic(_) => "SecretBasic(..)",
            ClientAuth::SecretPost(_) => "SecretPost(..)",
            ClientAuth::SecretJwt(_) => "SecretJwt(..)",
            ClientAuth::PrivateKeyJwt(_) => "PrivateKeyJwt(..)",
            ClientAuth::Tls => "Tls",
        })
    }
}

pub(crate) fn signing_material(jwk: &Jwk) -> Result<(SigningKey, Algorithm), RpError> {
    let sk = jwk.signing_key().map_err(portcullis_jose::Error::from)?;
    let alg = match jwk.alg() {
        Some(JwkAlgorithm::Jws(a)) => *a,
        _ => sk.default_algorithm(),
    };
    Ok((sk, alg))
}

impl RelyingParty {
    fn client_assertion(&self, audience: &str) -> Result<Option<String>, RpError> {
        let now = jwt::NumericDate::now().as_secs();
        let claims = json!({
            "iss": self.config.client_id, "sub": self.config.client_id, "aud": audience,
            "jti": random_token(), "iat": now, "exp": now + 60,
        });
        match &self.config.auth {
            ClientAuth::PrivateKeyJwt(jwk) => {
                let (sk, alg) = signing_material(jwk)?;
                Ok(Some(jwt::encode_value(
                    &jws::Header::new(alg).with_typ("JWT"),
                    &claims,
                    &sk,
                )?))
            }
            ClientAuth::SecretJwt(secret) => {
                let key = portcullis_jose::HmacKey::new(secret.as_bytes())?;
                Ok(Some(jwt::encode_value(
                    &jws::Header::new(Algorithm::Hs256).with_typ("JWT"),
                    &claims,
                    &key,
                )?))
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn client_authentication(
        &self,
        endpoint: &str,
    ) -> Result<ClientAuthentication, RpError> {
        let client_id = self.config.client_id.clone();
        Ok(match &self.config.auth {
            ClientAuth::None | ClientAuth::Tls => ClientAuthentication::None { client_id },
            ClientAuth::SecretBasic(s) => ClientAuthentication::SecretBasic {
                client_id,
                secret: s.to_string(),
            },
            ClientAuth::SecretPost(s) => ClientAuthentication::SecretPost {
                client_id,
                secret: s.to_string(),
            },
            ClientAuth::PrivateKeyJwt(_) | ClientAuth::SecretJwt(_) => {
                ClientAuthentication::JwtAssertion {
                    client_id: Some(client_id),
                    assertion: self.client_assertion(endpoint)?.unwrap_or_default(),
                }
            }
        })
    }
}
