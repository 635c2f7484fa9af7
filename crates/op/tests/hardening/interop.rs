//! Issue 22, interoperability items: the signing algorithm a client gets when it registered none (17), and
//! discovery that tells the truth, with signed UserInfo (21).
//!
//! Must not: change the provider or weaken what another test proves.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_op::admin;
use serde_json::Value;

use crate::common::*;

fn header_alg(jws: &str) -> String {
    let h = jws.split('.').next().unwrap();
    let h: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
    h["alg"].as_str().unwrap().to_owned()
}

/// OIDC Dynamic Client Registration §2 and JARM: a client registered without `id_token_signed_response_alg`
/// or `authorization_signed_response_alg` gets RS256 (what an RP using the spec's defaults verifies), and the
/// demo client, which registers ES256, keeps ES256.
#[tokio::test]
async fn unregistered_signing_algs_default_to_rs256() {
    let op = Op::sqlite().await;
    let mut b = Browser::default();
    // The seeded `public` client registers no algorithm.
    let req = AuthReq::new("public", "id_token", "openid");
    let step = b.authorize(&op, &req.query()).await;
    let cb = b.complete(&op, step, "alice").await;
    let loc = cb.location().replace('#', "?");
    let cb = params_of(&loc);
    assert_eq!(header_alg(&cb["id_token"]), "RS256");
    let req = AuthReq::new("public", "code", "openid").set("response_mode", "jwt");
    let cb = b.authorize(&op, &req.query()).await.redirect();
    assert_eq!(header_alg(&cb["response"]), "RS256");

    // The demo client's registration names ES256 for both.
    admin::add_client(&op.provider.store, "demo", &admin::demo_metadata())
        .await
        .unwrap();
    for mode in ["fragment", "jwt"] {
        let req = AuthReq::new("demo", "code id_token", "openid")
            .set("redirect_uri", admin::DEMO_REDIRECT)
            .set("response_mode", mode);
        let step = b.authorize(&op, &req.query()).await;
        let loc = b
            .complete(&op, step, "alice")
            .await
            .location()
            .replace('#', "?");
        let cb = params_of(&loc);
        let jws = cb.get("id_token").or(cb.get("response")).unwrap();
        assert_eq!(header_alg(jws), "ES256", "{mode}");
    }
}

/// Discovery tells the truth (item 21): `claims_supported` lists every claim the configured scopes release
/// (the review found `locale`, `phone_number_verified`, `updated_at`, `website` missing); RP-hosted
/// `request_uri` values are not fetched, so `request_uri_parameter_supported` is false; signed UserInfo is
/// offered with the provider's signing algorithms.
#[tokio::test]
async fn discovery_lists_what_the_provider_does() {
    let op = Op::sqlite().await;
    let doc: Value = op
        .http
        .get(op.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claims: Vec<&str> = doc["claims_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in [
        "sub",
        "auth_time",
        "acr",
        "amr",
        "locale",
        "phone_number_verified",
        "updated_at",
        "website",
        "zoneinfo",
        "birthdate",
        "email_verified",
        "address",
        "nickname",
        "picture",
        "payment_details",
    ] {
        assert!(claims.contains(&c), "{c} missing from {claims:?}");
    }
    assert_eq!(doc["request_uri_parameter_supported"], false);
    let ui_algs = doc["userinfo_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    for a in ["RS256", "ES256", "PS256", "EdDSA"] {
        assert!(ui_algs.iter().any(|x| x == a), "{a}");
    }
    // An RP-hosted request_uri is refused (with an error page: the client is not yet trusted).
    let q = AuthReq::new("public", "code", "openid")
        .set("request_uri", "https://rp.example/request.jwt")
        .query();
    let mut b = Browser::default();
    assert!(matches!(
        b.authorize(&op, &q).await,
        Step::ErrorPage(reqwest::StatusCode::BAD_REQUEST, _)
    ));
}

/// Signed UserInfo (OIDC Core §5.3.2): a client registered with `userinfo_signed_response_alg` gets a JWT
/// (`application/jwt`) with `iss` and `aud`, signed with that algorithm; other clients keep JSON; an algorithm
/// the provider does not sign with cannot be registered.
#[tokio::test]
async fn userinfo_is_signed_when_the_client_registered_an_alg() {
    use portcullis_jose::{Algorithm, Validation, jwt};
    let op = Op::sqlite().await;
    admin::add_client(
        &op.provider.store,
        "signed-ui",
        &serde_json::json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none",
                            "userinfo_signed_response_alg": "PS256"}),
    )
    .await
    .unwrap();
    for bad in ["HS256", "none", "RS512x"] {
        let meta = serde_json::json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none",
                                      "userinfo_signed_response_alg": bad});
        assert!(
            admin::add_client(&op.provider.store, "bad-ui", &meta)
                .await
                .is_err(),
            "{bad}"
        );
    }
    let mut b = Browser::default();
    let req = AuthReq::new("signed-ui", "code", "openid email");
    let step = b.authorize(&op, &req.query()).await;
    let cb = b.complete(&op, step, "alice").await.redirect();
    let (_, t) = token(
        &op,
        &[
            ("grant_type", "authorization_code"),
            ("code", &cb["code"]),
            ("redirect_uri", RP),
            ("client_id", "signed-ui"),
            ("code_verifier", req.verifier.as_str()),
        ],
        None,
    )
    .await;
    let resp = op
        .http
        .get(op.url("/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/jwt");
    let text = resp.text().await.unwrap();
    assert_eq!(header_alg(&text), "PS256");
    let v = Validation::new(Algorithm::Ps256)
        .issuer(op.base.clone())
        .audience("signed-ui")
        .without_time_checks();
    let verified: jwt::Jwt<serde_json::Map<String, Value>> =
        jwt::decode(&text, &op.jwks().await, &v).unwrap();
    assert_eq!(verified.claims.custom["email"], "demo@portcullis.example");
    assert!(verified.claims.registered.sub.is_some());
    // Another client still gets JSON.
    let (_, t) = code_flow(&op, &mut b, "alice", "openid").await;
    let (s, info) = userinfo(&op, t["access_token"].as_str().unwrap()).await;
    assert_eq!(s, reqwest::StatusCode::OK);
    assert!(info["sub"].is_string());
}

/// RFC 8252 §7.3: a native client (`application_type: native`) may use any port on a registered loopback IP
/// redirect URI, and only that: not another host, path or scheme; a web client's redirect URI stays exact.
#[tokio::test]
async fn native_clients_may_use_any_loopback_port() {
    let op = Op::sqlite().await;
    for (id, kind) in [("cli", "native"), ("site", "web")] {
        admin::add_client(
            &op.provider.store,
            id,
            &serde_json::json!({"redirect_uris": ["http://127.0.0.1:8081/callback"],
                                "token_endpoint_auth_method": "none", "application_type": kind}),
        )
        .await
        .unwrap();
    }
    let random_port = "http://127.0.0.1:54321/callback";
    let mut b = Browser::default();
    let req = AuthReq::new("cli", "code", "openid").set("redirect_uri", random_port);
    let step = b.authorize(&op, &req.query()).await;
    let cb = b.complete(&op, step, "alice").await;
    assert!(cb.location().starts_with(random_port), "{}", cb.location());
    let cb = cb.redirect();
    let (s, t) = token(
        &op,
        &[
            ("grant_type", "authorization_code"),
            ("code", &cb["code"]),
            ("redirect_uri", random_port),
            ("client_id", "cli"),
            ("code_verifier", req.verifier.as_str()),
        ],
        None,
    )
    .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{t}");
    for (client, uri) in [
        ("site", random_port),
        ("cli", "http://localhost:54321/callback"),
        ("cli", "http://127.0.0.1:54321/other"),
        ("cli", "https://127.0.0.1:54321/callback"),
        ("cli", "http://127.0.0.1:54321/callback?x=1"),
        ("cli", "http://127.0.0.2:8081/callback"),
    ] {
        let req = AuthReq::new(client, "code", "openid").set("redirect_uri", uri);
        assert!(
            matches!(
                b.authorize(&op, &req.query()).await,
                Step::ErrorPage(reqwest::StatusCode::BAD_REQUEST, _)
            ),
            "{client} {uri}"
        );
    }
    assert!(
        admin::add_client(
            &op.provider.store,
            "odd",
            &serde_json::json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none",
                                "application_type": "desktop"}),
        )
        .await
        .is_err()
    );
}
