//! Issue 25, part 1: the login bridge end to end over HTTP with the example authenticating website: the sign-in,
//! consent or not (`no_prompt` both ways, trusted or not), what the relying party gets (`amr` `fed`, a `sub`
//! stable per site user, the released claims by scope), and the site's own session (no UI the second time).
//!
//! Must not: post answers by hand (`bridge_refusals` does), or change the provider.

use reqwest::StatusCode;
use serde_json::json;

use super::bridge_support::*;
use portcullis_oidc::verify_id_token;

use super::support::{expect, id_token};
use crate::common::*;

/// Completes consent when it is asked for, and redeems the code.
async fn answered(
    bridge: &Bridge,
    b: &mut Browser,
    req: &AuthReq,
    step: Step,
) -> serde_json::Value {
    let step = match step {
        Step::Consent(page) => {
            b.submit(&bridge.op, &page, "/consent", &[("decision", "allow")])
                .await
        }
        other => other,
    };
    let cb = step.redirect();
    assert_eq!(cb["state"], req.state);
    let (status, tokens) = redeem(&bridge.op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

#[tokio::test]
async fn a_site_user_signs_in_with_consent_and_gets_a_stable_federated_identity() {
    let bridge = Bridge::start(true, false).await;
    let req = AuthReq::new("public", "code", "openid email");
    let mut b = Browser::default();
    let verify = bridge.send_out(&mut b, &req).await;
    // The site is told what to ask for and for whom; where to post and come back is its configuration, never
    // a parameter (a forged link could otherwise send its answer elsewhere).
    let q = params_of(&verify);
    assert!(verify.starts_with(&format!("{}/verify?", bridge.site_base)));
    assert!(!q.contains_key("return_url") && !q.contains_key("postback_url"));
    assert_eq!(q["client_name"], "public");
    assert!(q["claims"].split(' ').any(|c| c == "email"), "{q:?}");
    assert!(!q.contains_key("prompt"));
    let back = bridge.sign_in_at_site(&verify, SHOPPER_PASSWORD).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let site_cookie = back.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let to = back.headers()["location"].to_str().unwrap().to_owned();
    // no_prompt=false: the consent page names the relying party and what it asks for.
    let step = b.follow(&bridge.op, &to).await;
    let Step::Consent(page) = &step else {
        panic!("expected consent, got {step:?}")
    };
    assert!(page.contains("email"), "{page}");
    let tokens = answered(&bridge, &mut b, &req, step).await;
    let idt = id_token(&bridge.op, &tokens, &req.nonce).await;
    assert_eq!(idt["amr"], json!(["fed"]));
    assert_eq!(idt["acr"], "urn:portcullis:acr:bridge");
    let sub = idt["sub"].as_str().unwrap().to_owned();
    // Audited: the site, the client and the browser's address.
    let events = bridge
        .op
        .provider
        .store
        .audit_events(None, 0, 100)
        .await
        .unwrap();
    let signed = events
        .iter()
        .find(|e| e.kind == "sign_in" && e.outcome == "success")
        .expect("a sign-in event");
    assert_eq!(signed.detail, "bridge:shop");
    assert_eq!(signed.client_id.as_deref(), Some("public"));
    assert_eq!(signed.address.as_deref(), Some("127.0.0.1"));
    let (status, info) = userinfo(&bridge.op, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["email"], "sam@shop.example");
    assert_eq!(info["email_verified"], true);
    assert!(info.get("phone_number").is_none(), "not in scope: {info}");

    // Again, in a new provider browser: signed in at the site already, so the site shows nothing and vouches at
    // once; consent was remembered; the same `sub`.
    let mut b2 = Browser::default();
    let verify = bridge.send_out(&mut b2, &req).await;
    let back = bridge
        .site_http
        .get(&verify)
        .header("cookie", &site_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), StatusCode::SEE_OTHER, "no UI at the site");
    let to = back.headers()["location"].to_str().unwrap().to_owned();
    let step = b2.follow(&bridge.op, &to).await;
    assert!(matches!(step, Step::Redirect(_)), "{step:?}");
    let tokens = answered(&bridge, &mut b2, &req, step).await;
    let again = id_token(&bridge.op, &tokens, &req.nonce).await;
    assert_eq!(again["sub"], sub.as_str());

    // prompt=login is passed on: the site must sign its user in afresh; so is max_age, with prompt=login.
    let mut b3 = Browser::default();
    let fresh = AuthReq::new("public", "code", "openid email").set("prompt", "login");
    let verify = bridge.send_out(&mut b3, &fresh).await;
    assert_eq!(params_of(&verify)["prompt"], "login");
    let recent = AuthReq::new("public", "code", "openid").set("max_age", "300");
    let verify = bridge.send_out(&mut Browser::default(), &recent).await;
    let q = params_of(&verify);
    assert_eq!(
        (q["prompt"].as_str(), q["max_age"].as_str()),
        ("login", "300")
    );
}

#[tokio::test]
async fn a_trusted_site_with_no_prompt_skips_consent() {
    let bridge = Bridge::start(true, true).await;
    let req = AuthReq::new("public", "code", "openid profile");
    let mut b = Browser::default();
    let step = bridge.round_trip(&mut b, &req).await;
    assert!(
        matches!(step, Step::Redirect(_)),
        "no consent page: {step:?}"
    );
    let tokens = answered(&bridge, &mut b, &req, step).await;
    let (_, info) = userinfo(&bridge.op, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info["name"], "Sam Shopper");
    // No consent was asked, none remembered: the application is still listed on the account page, by its
    // grant, and its access can be removed there.
    let (_, page) = crate::account::account_page(&bridge.op, &b).await;
    assert!(page.contains("data-id=\"public\""), "{page}");
    let (s, _) = crate::account::post(
        &bridge.op,
        &mut b,
        "/account/apps/remove",
        &[
            ("csrf", &crate::account::csrf_of(&page)),
            ("client", "public"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _) = userinfo(&bridge.op, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // prompt=consent from the relying party still shows the page.
    let mut b2 = Browser::default();
    let asked = AuthReq::new("public", "code", "openid profile").set("prompt", "consent");
    let step = bridge.round_trip(&mut b2, &asked).await;
    assert!(matches!(step, Step::Consent(_)), "{step:?}");
}

#[tokio::test]
async fn no_prompt_from_an_untrusted_site_is_not_honoured() {
    let bridge = Bridge::start(false, true).await;
    let req = AuthReq::new("public", "code", "openid");
    let mut b = Browser::default();
    let step = bridge.round_trip(&mut b, &req).await;
    assert!(matches!(step, Step::Consent(_)), "{step:?}");
}

#[tokio::test]
async fn site_users_get_pairwise_subjects_where_the_client_asks() {
    let bridge = Bridge::start(true, true).await;
    portcullis_op::admin::add_client(
        &bridge.op.provider.store,
        "pw",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none", "subject_type": "pairwise"}),
    )
    .await
    .unwrap();
    let mut subs = Vec::new();
    for client in ["pw", "public", "pw"] {
        let req = AuthReq::new(client, "code", "openid");
        let mut b = Browser::default();
        let cb = bridge.round_trip(&mut b, &req).await.redirect();
        let (status, tokens) = token(
            &bridge.op,
            &[
                ("grant_type", "authorization_code"),
                ("code", &cb["code"]),
                ("redirect_uri", RP),
                ("client_id", client),
                ("code_verifier", req.verifier.as_str()),
            ],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let mut expected = expect(&bridge.op, &req.nonce);
        expected.client_id = client;
        let jwks = bridge.op.jwks().await;
        let idt = verify_id_token(tokens["id_token"].as_str().unwrap(), &jwks, ALGS, &expected)
            .unwrap()
            .claims
            .custom;
        subs.push(idt["sub"].as_str().unwrap().to_owned());
    }
    assert_ne!(subs[0], subs[1], "pairwise differs from public");
    assert_eq!(subs[0], subs[2], "stable");
}
