//! Issue 25, part 1, after the attack review: what a site's claims and times are worth. A site replaces its
//! user's claims at each sign-in (an address it no longer says is verified is not); a site not trusted for
//! verification cannot say `email_verified`; a site releases only its list of claims; its `auth_time` becomes the
//! session's and a relying party's `max_age` holds against it.
//!
//! Must not: go through the example site (the answers are posted by hand, to say exactly what is tested).

use reqwest::StatusCode;
use serde_json::json;

use super::bridge_support::*;
use super::support::id_token;
use crate::common::*;

/// A sign-in of `req` through `bridge` answered by hand with `body(request_id)`: the tokens.
async fn signed_in(
    bridge: &Bridge,
    req: &AuthReq,
    body: impl Fn(&str) -> serde_json::Value,
) -> Result<serde_json::Value, Step> {
    signed_in_with(bridge, SITE_KEY, req, body).await
}

/// [`signed_in`], posting with `key`.
async fn signed_in_with(
    bridge: &Bridge,
    key: &str,
    req: &AuthReq,
    body: impl Fn(&str) -> serde_json::Value,
) -> Result<serde_json::Value, Step> {
    let mut b = Browser::default();
    let id = request_id(&bridge.send_out(&mut b, req).await);
    let (s, text) = bridge.postback(Some(key), &body(&id)).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let step = match b.follow(&bridge.op, &bridge.return_url(&id)).await {
        Step::Consent(page) => {
            b.submit(&bridge.op, &page, "/consent", &[("decision", "allow")])
                .await
        }
        other => other,
    };
    let Step::Redirect(to) = step else {
        return Err(step);
    };
    let cb = params_of(&to);
    let (status, tokens) = redeem(&bridge.op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    Ok(tokens)
}

async fn info(bridge: &Bridge, tokens: &serde_json::Value) -> serde_json::Value {
    userinfo(&bridge.op, tokens["access_token"].as_str().unwrap())
        .await
        .1
}

#[tokio::test]
async fn each_sign_in_replaces_the_sites_claims() {
    let bridge = Bridge::start(true, true).await;
    let req = || AuthReq::new("public", "code", "openid email");
    let first = signed_in(&bridge, &req(), |id| {
        answer(
            id,
            "u-7",
            json!({"email": "mallory@shop.example", "email_verified": true}),
        )
    })
    .await
    .unwrap();
    assert_eq!(info(&bridge, &first).await["email_verified"], true);
    // The same site user, a new address, no word on its verification: not verified.
    let second = signed_in(&bridge, &req(), |id| {
        answer(id, "u-7", json!({"email": "victim@corp.example"}))
    })
    .await
    .unwrap();
    let i = info(&bridge, &second).await;
    assert_eq!(i["email"], "victim@corp.example");
    assert!(i.get("email_verified").is_none(), "{i}");
}

#[tokio::test]
async fn an_untrusted_site_cannot_say_an_address_is_verified_or_release_more_than_its_list() {
    let bridge = Bridge::start(true, true).await;
    let key = portcullis_op::bridge_sites::add(
        &bridge.op.provider.store,
        portcullis_op::store::BridgeSiteRow {
            id: "shop".into(),
            name: "Example Shop".into(),
            verify_url: format!("{}/verify", bridge.site_base),
            trusted: true,
            claims: "name email email_verified".into(),
            trust_verified: false,
            ..Default::default()
        },
        portcullis_op::now(),
    )
    .await
    .unwrap();
    let req = AuthReq::new("public", "code", "openid email profile phone");
    // Asked only for what it may release.
    let verify = bridge.send_out(&mut Browser::default(), &req).await;
    let asked = params_of(&verify)["claims"].clone();
    assert!(
        asked.contains("email") && !asked.contains("phone_number"),
        "{asked}"
    );
    let tokens = signed_in_with(&bridge, &key, &req, |id| {
        answer(
            id,
            "u-1",
            json!({"name": "Nat", "email": "ceo@hub.example", "email_verified": true}),
        )
    })
    .await
    .unwrap();
    let i = info(&bridge, &tokens).await;
    assert_eq!(
        (i["name"].as_str(), i["email"].as_str()),
        (Some("Nat"), Some("ceo@hub.example"))
    );
    assert!(i.get("email_verified").is_none(), "not trusted for it: {i}");
    // A claim outside its list.
    let id = request_id(&bridge.send_out(&mut Browser::default(), &req).await);
    let (s, text) = bridge
        .postback(
            Some(&key),
            &answer(&id, "u-1", json!({"phone_number": "+1 555 0100"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(text.contains("may release"), "{text}");
}

#[tokio::test]
async fn the_sites_auth_time_is_the_sessions_and_max_age_holds_against_it() {
    let bridge = Bridge::start(true, true).await;
    let now = portcullis_op::now();
    let req = AuthReq::new("public", "code", "openid").set("max_age", "600");
    let tokens = signed_in(
        &bridge,
        &req,
        |id| json!({"request_id": id, "identifier": "u-9", "auth_time": now - 120, "claims": {}}),
    )
    .await
    .unwrap();
    let idt = id_token(&bridge.op, &tokens, &req.nonce).await;
    assert_eq!(idt["auth_time"], now - 120);
    // Older than the relying party allows: refused, no code.
    let req = AuthReq::new("public", "code", "openid").set("max_age", "60");
    let step = signed_in(
        &bridge,
        &req,
        |id| json!({"request_id": id, "identifier": "u-9", "auth_time": now - 3600, "claims": {}}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(step, Step::ErrorPage(StatusCode::BAD_REQUEST, ref body) if body.contains("older than")),
        "{step:?}"
    );
    // A time in the future counts as now.
    let req = AuthReq::new("public", "code", "openid");
    let tokens = signed_in(&bridge, &req, |id| {
        json!({"request_id": id, "identifier": "u-9", "auth_time": now + 86_400, "claims": {}})
    })
    .await
    .unwrap();
    let idt = id_token(&bridge.op, &tokens, &req.nonce).await;
    assert!(idt["auth_time"].as_i64().unwrap() <= portcullis_op::now());
}
