//! `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3): the metadata document, built once at
//! start-up from the configuration and served as is.
//!
//! Must not: compute anything per request.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::token::client_auth::{ASSERTION_ALGS, HMAC_ASSERTION_ALGS};
use crate::config::Config;
use crate::keys::SIGNING_ALGS;
use crate::provider::Provider;

/// The claims the provider itself puts in ID tokens (and `sub` in UserInfo).
const PROVIDER_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "at_hash",
    "c_hash",
];

/// The discovery document.
/// `acr` and `amr`: the values the login methods can produce (`amr_values_supported` is not in OpenID Connect
/// Discovery 1.0; it lists the RFC 8176 values an ID token may carry, as several providers do).
pub(crate) fn metadata(
    cfg: &Config,
    mtls: bool,
    (acr, amr): (&[&str], &[&str]),
    create: bool,
) -> Value {
    let iss = &cfg.issuer;
    let mut scopes: Vec<String> = [
        "openid",
        "profile",
        "email",
        "phone",
        "address",
        "offline_access",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    scopes.extend(cfg.scopes.keys().cloned());
    let algs: Vec<&str> = SIGNING_ALGS.iter().map(|a| a.as_str()).collect();
    // Every claim the provider sets, then every claim a configured scope can release.
    let mut claims: Vec<String> = PROVIDER_CLAIMS.iter().map(|c| (*c).to_owned()).collect();
    for c in cfg.scope_claims().all_claims() {
        if !claims.contains(&c) {
            claims.push(c);
        }
    }
    let assertion_algs: Vec<&str> = ASSERTION_ALGS
        .iter()
        .chain(&HMAC_ASSERTION_ALGS)
        .map(|a| a.as_str())
        .collect();
    let mut m = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/jwks"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "end_session_endpoint": format!("{iss}/end_session"),
        "pushed_authorization_request_endpoint": format!("{iss}/par"),
        "scopes_supported": scopes,
        "response_types_supported": ["code", "id_token", "id_token token", "code id_token", "code token", "code id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post", "jwt", "query.jwt", "fragment.jwt", "form_post.jwt"],
        "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": algs,
        "userinfo_signing_alg_values_supported": algs,
        "request_object_signing_alg_values_supported": algs,
        "authorization_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims,
        "claims_parameter_supported": true,
        "request_parameter_supported": true,
        // Only the provider's own (PAR) request_uri values are accepted, never RP-hosted ones.
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": acr,
        "amr_values_supported": amr,
        "display_values_supported": ["page"],
        "ui_locales_supported": ["en"],
    });
    if create {
        // OpenID Connect Prompt Create 1.0: accounts created by a relying party's signed request.
        m["prompt_values_supported"] = json!(["none", "login", "consent", "create"]);
    }
    if mtls {
        m["token_endpoint_auth_methods_supported"] = json!([
            "none",
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "tls_client_auth",
            "self_signed_tls_client_auth"
        ]);
        m["tls_client_certificate_bound_access_tokens"] = json!(true);
    }
    m
}

/// The discovery document (cacheable for five minutes).
pub async fn discovery(State(p): State<Arc<Provider>>) -> Response {
    let mut r = Response::new(Body::from(p.metadata.clone()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    r
}
