//! Issue 22, interoperability items: the signing algorithm a client gets when it registered none (17).
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
