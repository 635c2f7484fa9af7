//! Discovery and the basic code flow as a relying party first meets the provider: plan
//! `oidcc-server` (metadata, code flow with PKCE, ID token checked against the published JWKS, UserInfo) and
//! the metadata and JWKS documents themselves (OpenID Connect Discovery 1.0 §3, RFC 7517 §5). Keys over
//! time (rotation, per-client signing algorithms) are `signing_keys`'; nothing here changes the keys.

use crate::common::*;
use crate::support::expect;
use portcullis_jose::{Algorithm, AlgorithmSet};
use portcullis_oidc::verify_id_token;
use reqwest::StatusCode;
use serde_json::{Value, json};

every_case!(
    oidcc_server_code_flow,
    discovery_and_jwks,
    oauth_authorization_server_metadata_is_the_same_document
);

/// oidcc-server: discovery, code flow with PKCE, ID token verified with the published keys, UserInfo.
async fn oidcc_server_code_flow(op: &Op) {
    let meta: Value = op
        .http
        .get(op.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parsed =
        portcullis_oidc::ProviderMetadata::parse_for(&op.base, meta.to_string().as_bytes())
            .unwrap();
    assert_eq!(parsed.issuer, op.base);
    let mut b = Browser::default();
    let (req, tokens) = code_flow(op, &mut b, "alice", "openid profile email").await;
    let at = tokens["access_token"].as_str().unwrap();
    let mut e = expect(op, "public", &req.nonce);
    e.access_token = Some(at);
    let idt = verify_id_token(
        tokens["id_token"].as_str().unwrap(),
        &op.jwks().await,
        ALGS,
        &e,
    )
    .unwrap();
    let sub = idt.claims.registered.sub.clone().unwrap();
    assert!(idt.claims.custom.contains_key("auth_time"));
    assert!(idt.claims.custom.contains_key("sid"));
    // The client registered no id_token_signed_response_alg: RS256 (OIDC Dynamic Client Registration §2).
    assert_eq!(idt.header.alg, Algorithm::Rs256);
    assert!(tokens["refresh_token"].is_string());
    let (s, info) = userinfo(op, at).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(info["sub"], sub);
    assert_eq!(info["email"], "demo@portcullis.example");
    assert_eq!(info["name"], "Dee Mo");
    assert!(
        info.get("phone_number").is_none(),
        "phone scope not granted"
    );
}

/// Discovery and JWKS: every advertised member, keys with kid, never a private member.
async fn discovery_and_jwks(op: &Op) {
    let meta: Value = op
        .http
        .get(op.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], op.base);
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert!(
        meta["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("avatar"))
    );
    let raw: Value = op
        .http
        .get(op.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = raw["keys"].as_array().unwrap();
    assert_eq!(
        keys.len(),
        8,
        "current and next for EC, RSA (RS256), RSA (PS256), OKP"
    );
    for k in keys {
        assert!(k["kid"].is_string());
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none());
        }
    }
    let _ = AlgorithmSet::from(ALGS);
}

/// RFC 8414 §3: OAuth clients find the same metadata at `/.well-known/oauth-authorization-server`.
async fn oauth_authorization_server_metadata_is_the_same_document(op: &Op) {
    let fetch = |path: &'static str| async move {
        let r = op.http.get(op.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], "application/json", "{path}");
        r.text().await.unwrap()
    };
    let oidc = fetch("/.well-known/openid-configuration").await;
    let oauth = fetch("/.well-known/oauth-authorization-server").await;
    assert_eq!(oidc, oauth);
    let meta: Value = serde_json::from_str(&oauth).unwrap();
    assert_eq!(meta["issuer"], op.base);
}
