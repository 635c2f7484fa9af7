//! Issue 22, item 1: a `claims` request releases only what the client's allowed scopes release; the consent
//! page lists the claims asked for by name; remembered consent covers exactly what was shown.
//!
//! Must not: change the provider or weaken what another test proves.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_op::admin;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

/// Every claim the seeded user has, asked for by name in both members.
const ASK_EVERYTHING: &str = r#"{"userinfo":{"email":null,"email_verified":null,"payment_details":null,
    "phone_number":null,"name":null,"nickname":null,"address":null},
    "id_token":{"email":null,"payment_details":null,"name":null}}"#;

fn id_token_claims(t: &Value) -> Value {
    let idt = t["id_token"].as_str().expect("an id_token");
    let payload = idt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn redeem_for(op: &Op, client: &str, code: &str, req: &AuthReq) -> Value {
    let (s, t) = token(
        op,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP),
            ("client_id", client),
            ("code_verifier", req.verifier.as_str()),
        ],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    t
}

/// The attack of the review: a client allowed only `openid` asks for every claim by name.
#[tokio::test]
async fn claims_request_cannot_reach_past_the_clients_scopes() {
    let op = Op::sqlite().await;
    admin::add_client(
        &op.provider.store,
        "openid-only",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none", "scope": "openid"}),
    )
    .await
    .unwrap();
    let mut b = Browser::default();
    let req = AuthReq::new("openid-only", "code", "openid").set("claims", ASK_EVERYTHING);
    let step = b.authorize(&op, &req.query()).await;
    let Step::Login(page) = step else {
        panic!("expected the login page, got {step:?}")
    };
    let Step::Consent(consent) = b.login(&op, &page, "alice").await else {
        panic!("expected the consent page")
    };
    // Nothing the client may not have is even offered for consent.
    for claim in ["email", "payment_details", "phone_number", "name"] {
        let item = format!("<li>{claim}</li>");
        assert!(!consent.contains(&item), "{claim} offered: {consent}");
    }
    assert!(!consent.contains("id=\"claims\""), "{consent}");
    let cb = b
        .submit(&op, &consent, "/consent", &[("decision", "allow")])
        .await
        .redirect();
    let t = redeem_for(&op, "openid-only", &cb["code"], &req).await;
    let (s, info) = userinfo(&op, t["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let keys: Vec<&String> = info.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["sub"], "{info}");
    let idt = id_token_claims(&t);
    for claim in ["email", "payment_details", "name"] {
        assert!(idt.get(claim).is_none(), "{claim} in the ID token: {idt}");
    }
    // And later prompt=none requests release nothing more either.
    let again = AuthReq::new("openid-only", "code", "openid")
        .set("claims", ASK_EVERYTHING)
        .set("prompt", "none");
    let cb = b.authorize(&op, &again.query()).await.redirect();
    let t = redeem_for(&op, "openid-only", &cb["code"], &again).await;
    let (_, info) = userinfo(&op, t["access_token"].as_str().unwrap()).await;
    assert_eq!(info.as_object().unwrap().len(), 1, "{info}");
}

/// A claim asked for by name is shown by name on the consent page, and the consent remembered covers that
/// claim and no other: asking for another one later needs consent again (`prompt=none`: `consent_required`).
#[tokio::test]
async fn consent_lists_claims_by_name_and_covers_only_those_shown() {
    let op = Op::sqlite().await;
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid").set(
        "claims",
        r#"{"userinfo":{"email":null},"id_token":{"sub":null}}"#,
    );
    let step = b.authorize(&op, &req.query()).await;
    let Step::Login(page) = step else {
        panic!("expected the login page, got {step:?}")
    };
    let Step::Consent(consent) = b.login(&op, &page, "alice").await else {
        panic!("expected the consent page")
    };
    assert!(
        consent.contains("<ul id=\"claims\">\n<li>email</li>\n</ul>"),
        "{consent}"
    );
    let cb = b
        .submit(&op, &consent, "/consent", &[("decision", "allow")])
        .await
        .redirect();
    let (_, t) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    let (_, info) = userinfo(&op, t["access_token"].as_str().unwrap()).await;
    assert_eq!(info["email"], "demo@portcullis.example");
    assert!(info.get("payment_details").is_none());

    // The same request again: covered, no page.
    let same = AuthReq::new("public", "code", "openid")
        .set("claims", r#"{"userinfo":{"email":null}}"#)
        .set("prompt", "none");
    let cb = b.authorize(&op, &same.query()).await.redirect();
    assert!(cb.contains_key("code"), "{cb:?}");

    // Another claim by name was never shown: silent release is refused.
    let more = AuthReq::new("public", "code", "openid")
        .set("claims", r#"{"userinfo":{"payment_details":null}}"#)
        .set("prompt", "none");
    let cb = b.authorize(&op, &more.query()).await.redirect();
    assert_eq!(cb["error"], "consent_required", "{cb:?}");

    // Without prompt=none, the page asks for exactly the new claim.
    let more = AuthReq::new("public", "code", "openid")
        .set("claims", r#"{"userinfo":{"payment_details":null}}"#);
    let Step::Consent(consent) = b.authorize(&op, &more.query()).await else {
        panic!("expected the consent page")
    };
    assert!(
        consent.contains("<ul id=\"claims\">\n<li>payment_details</li>\n</ul>"),
        "{consent}"
    );
}
