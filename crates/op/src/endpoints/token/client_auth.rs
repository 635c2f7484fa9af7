//! Client authentication at the back-channel endpoints (token, PAR, revocation, introspection): client secrets
//! (basic / post), JWT assertions (`private_key_jwt`, `client_secret_jwt`, RFC 7523, each `jti` once) and
//! mutual TLS (RFC 8705: `tls_client_auth`, `self_signed_tls_client_auth`). Only the registered method is
//! accepted.
//!
//! Must not: let a body parameter authenticate a client registered for mutual TLS, or an asymmetric JWK act as
//! an HMAC secret.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use portcullis_jose::{Algorithm, AlgorithmSet};
use portcullis_oidc::{
    AssertionError, ClientAuthMethod, ClientAuthentication, ClientCertificate, OidcError, Params,
    check_self_signed, client_authentication, verify_client_assertion,
};
use serde_json::{Map, Value};

use crate::clients::Client;
use crate::http::{self, HttpResult, oerr};
use crate::now;
use crate::provider::Provider;

/// Algorithms accepted for `private_key_jwt` assertions.
pub(crate) const ASSERTION_ALGS: [Algorithm; 7] = [
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::Rs256,
    Algorithm::Rs384,
    Algorithm::Ps256,
    Algorithm::Ps384,
    Algorithm::EdDsa,
];
/// Algorithms accepted for `client_secret_jwt` assertions (a client may register one of them).
pub(crate) const HMAC_ASSERTION_ALGS: [Algorithm; 3] =
    [Algorithm::Hs256, Algorithm::Hs384, Algorithm::Hs512];

impl Provider {
    /// Authenticates the client of a back-channel request.
    pub(crate) async fn authenticate(
        &self,
        auth: &ClientAuthentication,
        peer: Option<&[u8]>,
    ) -> Result<Arc<Client>, OidcError> {
        let fail = OidcError::ClientAuthentication("client authentication failed");
        let client_id = match auth {
            ClientAuthentication::JwtAssertion {
                client_id: None,
                assertion,
            } => {
                // The assertion's iss names the client; verified below.
                portcullis_jose::jws::decode_unverified(assertion)
                    .ok()
                    .and_then(|u| serde_json::from_slice::<Map<String, Value>>(&u.payload).ok())
                    .and_then(|m| m.get("iss").and_then(Value::as_str).map(str::to_owned))
                    .ok_or(fail.clone())?
            }
            other => other.client_id().ok_or(fail.clone())?.to_owned(),
        };
        let client = self
            .client(&client_id)
            .await
            .map_err(|_| OidcError::ClientAuthentication("storage unavailable"))?
            .ok_or(fail.clone())?;
        // Mutual TLS (RFC 8705): the certificate of the connection authenticates, nothing in the body may.
        if matches!(
            client.auth_method,
            ClientAuthMethod::TlsClientAuth | ClientAuthMethod::SelfSignedTlsClientAuth
        ) {
            if !matches!(auth, ClientAuthentication::None { .. }) {
                return Err(OidcError::ClientAuthentication(
                    "authentication method differs from the registered one",
                ));
            }
            let der = peer.ok_or(OidcError::ClientAuthentication("no client certificate"))?;
            let cert = ClientCertificate::from_der(der).map_err(|_| fail.clone())?;
            let ok = match client.auth_method {
                ClientAuthMethod::TlsClientAuth => {
                    self.tls
                        .as_ref()
                        .is_some_and(|t| t.chains_to_client_ca(der))
                        && client
                            .tls_rule
                            .as_ref()
                            .is_some_and(|r| r.check(&cert).is_ok())
                }
                _ => client
                    .jwks
                    .as_ref()
                    .is_some_and(|k| check_self_signed(&cert, k).is_ok()),
            };
            return if ok { Ok(client) } else { Err(fail) };
        }
        match auth {
            ClientAuthentication::JwtAssertion { assertion, .. } => {
                let token_ep = self.endpoint("/token");
                let par_ep = self.endpoint("/par");
                let audiences = [token_ep.as_str(), self.cfg.issuer.as_str(), par_ep.as_str()];
                let mut seen: Option<(String, u64)> = None;
                let mut first_use = |jti: &str, exp: u64| {
                    seen = Some((jti.to_owned(), exp));
                    true
                };
                match client.auth_method {
                    ClientAuthMethod::PrivateKeyJwt => {
                        // Asymmetric only: the key type decides, and no JWK of the client's set can become an
                        // HMAC secret.
                        let keys = client.jwks.as_ref().ok_or(fail.clone())?;
                        // A registered token_endpoint_auth_signing_alg is the only one accepted.
                        let algs = match &client.assertion_alg {
                            Some(a) => AlgorithmSet::from(std::slice::from_ref(a)),
                            None => AlgorithmSet::from(ASSERTION_ALGS),
                        };
                        verify_client_assertion(
                            assertion,
                            &client.id,
                            keys,
                            algs,
                            &audiences,
                            self.cfg.client_assertion_max_lifetime,
                            &mut first_use,
                        )
                        .map_err(|e| OidcError::ClientAuthentication(assertion_refused(&e)))?;
                    }
                    ClientAuthMethod::ClientSecretJwt => {
                        // OIDC Core §9: HMAC keyed by the octets of the client secret.
                        let secret = client
                            .secret_sealed
                            .as_deref()
                            .and_then(|s| self.sealer.open(&client.id, s))
                            .ok_or(fail.clone())?;
                        let key =
                            portcullis_jose::HmacKey::new(&secret).map_err(|_| fail.clone())?;
                        verify_client_assertion(
                            assertion,
                            &client.id,
                            &key,
                            AlgorithmSet::from(client.assertion_hmac_algs.as_slice()),
                            &audiences,
                            self.cfg.client_assertion_max_lifetime,
                            &mut first_use,
                        )
                        .map_err(|e| OidcError::ClientAuthentication(assertion_refused(&e)))?;
                    }
                    _ => {
                        return Err(OidcError::ClientAuthentication(
                            "authentication method differs from the registered one",
                        ));
                    }
                }
                let (jti, exp) = seen.ok_or(fail.clone())?;
                let fresh = self
                    .store
                    .record_jti(&client.id, &jti, exp as i64, now())
                    .await
                    .map_err(|_| OidcError::ClientAuthentication("storage unavailable"))?;
                if !fresh {
                    return Err(OidcError::ClientAuthentication("assertion replayed"));
                }
                Ok(client)
            }
            other => {
                client.check_secret_auth(other)?;
                Ok(client)
            }
        }
    }
}

/// Why an assertion was refused, for `error_description`: a fixed text per reason (nothing from the assertion
/// itself, and no character RFC 6749 forbids there).
fn assertion_refused(e: &AssertionError) -> &'static str {
    use portcullis_jose::Error as J;
    match e {
        AssertionError::Jwt(J::Expired) => "the client assertion has expired",
        AssertionError::Jwt(J::NotYetValid | J::IssuedInFuture) => {
            "the client assertion is not valid yet"
        }
        AssertionError::Jwt(J::AudienceMismatch) => {
            "the client assertion's aud must be the token endpoint or the issuer"
        }
        AssertionError::Jwt(
            J::AlgorithmNotAllowed(_) | J::UnsupportedAlgorithm(_) | J::MissingAlgorithm,
        ) => "the client assertion's alg is not one this client may use",
        AssertionError::Jwt(
            J::InvalidSignature
            | J::InvalidSignatureLength { .. }
            | J::UnknownKeyId
            | J::NoMatchingKey(_)
            | J::KeyAlgorithmMismatch(_),
        ) => "the client assertion's signature does not verify with the client's keys",
        AssertionError::Jwt(J::MissingClaim(_)) => {
            "the client assertion lacks a required claim (exp, aud)"
        }
        AssertionError::Jwt(_) => "the client assertion is not a well-formed signed JWT",
        AssertionError::WrongSubject => "the client assertion's iss and sub must be the client_id",
        AssertionError::MissingJti => "the client assertion has no jti",
        AssertionError::Replayed => "the client assertion was used before",
        AssertionError::LifetimeTooLong => {
            "the client assertion's exp is further ahead than the provider accepts (client_assertion_max_lifetime)"
        }
    }
}

/// Reads a back-channel form (revocation, introspection) and authenticates the client that sent it.
pub(crate) async fn authenticated_form(
    p: &Provider,
    peer: Option<Arc<Vec<u8>>>,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<(Params, Arc<Client>)> {
    let bytes = http::read_body(body, p.cfg.max_request_bytes).await?;
    let form = http::form_body(headers, &bytes).map_err(oerr)?;
    let auth = http::header_str(headers, header::AUTHORIZATION).map_err(oerr)?;
    let client_auth = client_authentication(&form, auth).map_err(oerr)?;
    let client = p
        .authenticate(&client_auth, peer.as_deref().map(Vec::as_slice))
        .await
        .map_err(oerr)?;
    Ok((form, client))
}
