//! Issue 25, part 1: what the login bridge refuses. The postback: a wrong or missing API key, another site's
//! key, an unknown, expired or finished request, a replay with other claims, oversized, mistyped or unreleasable
//! claims, a body that is not JSON. The return: in another browser, before the postback, twice, after expiry.
//! And nothing half done stays usable: a refused or conflicting answer leaves no way to complete the request.
//!
//! Must not: go through the example site's form when an answer must be forged (it posts by hand).

use reqwest::StatusCode;
use serde_json::json;

use super::bridge_support::*;
use crate::common::*;

/// A request sent out to the site, not yet answered: the browser and the request id.
async fn sent(bridge: &Bridge) -> (Browser, String) {
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid email");
    let verify = bridge.send_out(&mut b, &req).await;
    (b, request_id(&verify))
}

fn is_error_page(step: &Step, status: StatusCode) -> bool {
    matches!(step, Step::ErrorPage(s, _) if *s == status)
}

#[tokio::test]
async fn postbacks_without_the_sites_key_are_refused() {
    let bridge = Bridge::start(true, false).await;
    let (mut b, id) = sent(&bridge).await;
    let body = answer(&id, "mallory", json!({"email": "m@evil.example"}));
    for key in [None, Some("wrong-key"), Some("")] {
        let (s, text) = bridge.postback(key, &body).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{key:?}: {text}");
    }
    // A key of another site (or of this one before a rotation) is no better.
    let other = portcullis_op::bridge_sites::add(
        &bridge.op.provider.store,
        portcullis_op::store::BridgeSiteRow {
            id: "other".into(),
            name: "Other".into(),
            verify_url: "https://other.example/verify".into(),
            home_url: None,
            api_key_hash: String::new(),
            trusted: true,
            signing_key: None,
            ..Default::default()
        },
        portcullis_op::now(),
    )
    .await
    .unwrap();
    let (s, _) = bridge.postback(Some(&other), &body).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not a request of that site");
    // None of that was recorded: the return is refused, and the real answer is still accepted.
    let step = b.follow(&bridge.op, &bridge.return_url(&id)).await;
    assert!(is_error_page(&step, StatusCode::BAD_REQUEST), "{step:?}");
    let (s, _) = bridge
        .postback(Some(SITE_KEY), &answer(&id, SHOPPER, json!({})))
        .await;
    assert_eq!(s, StatusCode::OK);
    let step = b.follow(&bridge.op, &bridge.return_url(&id)).await;
    assert!(matches!(step, Step::Consent(_)), "{step:?}");
}

#[tokio::test]
async fn malformed_oversized_and_unreleasable_answers_are_refused() {
    let bridge = Bridge::start(true, false).await;
    let (_b, id) = sent(&bridge).await;
    let key = Some(SITE_KEY);
    let cases = [
        (json!({"email_verified": "yes"}), StatusCode::BAD_REQUEST),
        (json!({"sub": "someone-else"}), StatusCode::BAD_REQUEST),
        (json!({"name": "x".repeat(5000)}), StatusCode::BAD_REQUEST),
        (json!({"favourite_colour": "blue"}), StatusCode::BAD_REQUEST),
    ];
    for (claims, status) in cases {
        let (s, text) = bridge
            .postback(key, &answer(&id, SHOPPER, claims.clone()))
            .await;
        assert_eq!(s, status, "{claims}: {text}");
    }
    let (s, _) = bridge
        .postback_raw(key, "application/json", "x".repeat(20_000))
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, _) = bridge
        .postback_raw(
            key,
            "application/x-www-form-urlencoded",
            format!("request_id={id}"),
        )
        .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _) = bridge
        .postback_raw(key, "application/json", "{".into())
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // After all that, a good answer is still the first one.
    let (s, _) = bridge.postback(key, &answer(&id, SHOPPER, json!({}))).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn unknown_expired_and_finished_requests_are_refused() {
    let bridge = Bridge::start(true, false).await;
    let key = Some(SITE_KEY);
    let (s, _) = bridge
        .postback(
            key,
            &answer("unknown-request-id-0123456789", SHOPPER, json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (mut b, id) = sent(&bridge).await;
    bridge.expire(&id).await;
    let (s, _) = bridge.postback(key, &answer(&id, SHOPPER, json!({}))).await;
    assert_eq!(s, StatusCode::GONE);
    let step = b.follow(&bridge.op, &bridge.return_url(&id)).await;
    assert!(is_error_page(&step, StatusCode::BAD_REQUEST), "{step:?}");

    // Posted, then expired before the browser came back.
    let (mut b, id) = sent(&bridge).await;
    let (s, _) = bridge.postback(key, &answer(&id, SHOPPER, json!({}))).await;
    assert_eq!(s, StatusCode::OK);
    bridge.expire(&id).await;
    let step = b.follow(&bridge.op, &bridge.return_url(&id)).await;
    assert!(is_error_page(&step, StatusCode::BAD_REQUEST), "{step:?}");

    // Completed: neither a postback nor a second return does anything.
    let (mut b, id) = sent(&bridge).await;
    let (s, _) = bridge.postback(key, &answer(&id, SHOPPER, json!({}))).await;
    assert_eq!(s, StatusCode::OK);
    let step = b.follow(&bridge.op, &bridge.return_url(&id)).await;
    assert!(matches!(step, Step::Consent(_)), "{step:?}");
    let (s, _) = bridge.postback(key, &answer(&id, SHOPPER, json!({}))).await;
    assert_eq!(s, StatusCode::GONE);
    let step = b.follow(&bridge.op, &bridge.return_url(&id)).await;
    assert!(
        is_error_page(&step, StatusCode::BAD_REQUEST),
        "twice: {step:?}"
    );
}

#[tokio::test]
async fn a_retry_is_accepted_and_a_different_replay_cancels_the_request() {
    let bridge = Bridge::start(true, false).await;
    let key = Some(SITE_KEY);
    let (mut b, id) = sent(&bridge).await;
    let first = answer(
        &id,
        SHOPPER,
        json!({"email": "sam@shop.example", "name": "Sam"}),
    );
    assert_eq!(bridge.postback(key, &first).await.0, StatusCode::OK);
    // The same answer again (the site lost the first 200): accepted, claims in any order.
    let same = answer(
        &id,
        SHOPPER,
        json!({"name": "Sam", "email": "sam@shop.example"}),
    );
    assert_eq!(bridge.postback(key, &same).await.0, StatusCode::OK);
    // Another answer: refused, and the request can no longer complete with either.
    let other = answer(
        &id,
        "someone-else",
        json!({"email": "sam@shop.example", "name": "Sam"}),
    );
    assert_eq!(bridge.postback(key, &other).await.0, StatusCode::CONFLICT);
    assert_eq!(bridge.postback(key, &first).await.0, StatusCode::GONE);
    let step = b.follow(&bridge.op, &bridge.return_url(&id)).await;
    assert!(is_error_page(&step, StatusCode::BAD_REQUEST), "{step:?}");
}

#[tokio::test]
async fn the_return_completes_only_in_the_browser_sent_out_and_only_after_the_postback() {
    let bridge = Bridge::start(true, false).await;
    let key = Some(SITE_KEY);
    let (mut b, id) = sent(&bridge).await;
    // Before the postback.
    let step = b.follow(&bridge.op, &bridge.return_url(&id)).await;
    assert!(is_error_page(&step, StatusCode::BAD_REQUEST), "{step:?}");
    assert_eq!(
        bridge
            .postback(key, &answer(&id, SHOPPER, json!({})))
            .await
            .0,
        StatusCode::OK
    );
    // Another browser without the code (somebody who saw the request id): refused, and that does not spoil the
    // request for the browser it belongs to.
    for mut other in [Browser::default(), {
        let mut o = Browser::default();
        let _ = o
            .authorize(
                &bridge.op,
                &AuthReq::new("public", "code", "openid").query(),
            )
            .await;
        o
    }] {
        let step = other
            .follow(&bridge.op, &bridge.return_url_without_code(&id))
            .await;
        assert!(is_error_page(&step, StatusCode::FORBIDDEN), "{step:?}");
    }
    let step = b.follow(&bridge.op, &bridge.return_url(&id)).await;
    assert!(matches!(step, Step::Consent(_)), "{step:?}");
    // No request id, or a made-up one.
    let step = b
        .follow(&bridge.op, &format!("{}/bridge/return", bridge.op.base))
        .await;
    assert!(is_error_page(&step, StatusCode::BAD_REQUEST), "{step:?}");
}

/// The attack of the review: the attacker starts a bridge sign-in in their own browser and has the site answer
/// it in the victim's browser (a link to the site's verify page; the victim is signed in there, so the site
/// vouches at once). The site sends the *victim's* browser back with the code: refused there (another browser),
/// and the request is cancelled; the attacker's browser, without the code, gets nothing either.
#[tokio::test]
async fn a_sign_in_answered_in_another_persons_browser_completes_for_nobody() {
    let bridge = Bridge::start(true, false).await;
    // The victim is signed in at the site.
    let mut victim = Browser::default();
    let req = AuthReq::new("public", "code", "openid email");
    let verify = bridge.send_out(&mut victim, &req).await;
    let back = bridge.sign_in_at_site(&verify, SHOPPER_PASSWORD).await;
    let site_cookie = back.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // The attacker's request, answered in the victim's browser.
    let mut attacker = Browser::default();
    let verify = bridge.send_out(&mut attacker, &req).await;
    let id = request_id(&verify);
    let back = bridge
        .site_http
        .get(&verify)
        .header("cookie", &site_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), StatusCode::SEE_OTHER, "the site vouched");
    let to_victim = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(to_victim.contains("&code="), "{to_victim}");
    let step = victim.follow(&bridge.op, &to_victim).await;
    assert!(is_error_page(&step, StatusCode::FORBIDDEN), "{step:?}");
    // Cancelled: not even the code helps the attacker now, and without it there was nothing to begin with.
    for url in [bridge.return_url_without_code(&id), to_victim] {
        let step = attacker.follow(&bridge.op, &url).await;
        assert!(
            matches!(step, Step::ErrorPage(s, _) if s.is_client_error()),
            "{step:?}"
        );
    }
    // And a return without the code in the browser that started it ends that request too.
    let (mut b, id) = sent(&bridge).await;
    assert_eq!(
        bridge
            .postback(Some(SITE_KEY), &answer(&id, SHOPPER, json!({})))
            .await
            .0,
        StatusCode::OK
    );
    let step = b
        .follow(&bridge.op, &bridge.return_url_without_code(&id))
        .await;
    assert!(is_error_page(&step, StatusCode::FORBIDDEN), "{step:?}");
    let step = b.follow(&bridge.op, &bridge.return_url(&id)).await;
    assert!(is_error_page(&step, StatusCode::BAD_REQUEST), "{step:?}");
}

/// Without a site's key, a caller learns nothing about a request: 401 whether the id exists or not.
#[tokio::test]
async fn a_postback_without_a_key_says_nothing_about_requests() {
    let bridge = Bridge::start(true, false).await;
    let (_b, id) = sent(&bridge).await;
    for rid in [id.as_str(), "unknown-request-id-0123456789"] {
        let (s, _) = bridge
            .postback(Some("wrong-key"), &answer(rid, SHOPPER, json!({})))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{rid}");
    }
}

#[tokio::test]
async fn the_bridge_is_refused_at_the_login_endpoint_and_for_unknown_sites() {
    let bridge = Bridge::start(true, false).await;
    let mut b = Browser::default();
    let Step::Login(page) = b
        .authorize(
            &bridge.op,
            &AuthReq::new("public", "code", "openid").query(),
        )
        .await
    else {
        panic!("login page")
    };
    let step = b
        .submit(
            &bridge.op,
            &page,
            "/login",
            &[("method", "bridge"), ("site", "shop")],
        )
        .await;
    assert!(is_error_page(&step, StatusCode::BAD_REQUEST), "{step:?}");
    let step = b
        .submit(&bridge.op, &page, "/bridge/start", &[("site", "nope")])
        .await;
    assert!(is_error_page(&step, StatusCode::BAD_REQUEST), "{step:?}");
    // A forged start without the page's CSRF token.
    let step = b
        .submit(
            &bridge.op,
            &page.replace("name=\"csrf\" value=\"", "name=\"csrf\" value=\"x"),
            "/bridge/start",
            &[("site", "shop")],
        )
        .await;
    assert!(is_error_page(&step, StatusCode::FORBIDDEN), "{step:?}");
    // The login page's CSP lets its forms lead to the site.
    let r = bridge
        .op
        .http
        .get(format!(
            "{}?{}",
            bridge.op.url("/authorize"),
            AuthReq::new("public", "code", "openid").query()
        ))
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains(&format!(
            "form-action 'self' https://rp.example {}",
            bridge.site_base
        )),
        "{csp}"
    );
}

/// A site registered with a signing key: its answers must be a JWS (`typ` bridge-postback+jwt) signed with that
/// key, on top of the API key. Plain JSON, another key, or another `typ` are refused.
#[tokio::test]
async fn a_site_with_a_signing_key_must_sign_its_answers() {
    use portcullis_jose::{Algorithm, Jwk, jws};
    let bridge = Bridge::start(true, false).await;
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let api_key = portcullis_op::bridge_sites::add(
        &bridge.op.provider.store,
        portcullis_op::store::BridgeSiteRow {
            id: "signed".into(),
            name: "Signed Shop".into(),
            verify_url: "https://signed.example/verify".into(),
            home_url: None,
            api_key_hash: String::new(),
            trusted: false,
            signing_key: Some(key.to_public().unwrap().to_json()),
            ..Default::default()
        },
        portcullis_op::now(),
    )
    .await
    .unwrap();
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let id = request_id(&bridge.send_out_to(&mut b, &req, "signed").await);
    let body = answer(&id, SHOPPER, json!({}));
    let sign = |k: &Jwk, typ: &str| {
        jws::sign(
            &jws::Header::new(Algorithm::Es256).with_typ(typ),
            body.to_string().as_bytes(),
            &k.signing_key().unwrap(),
        )
        .unwrap()
    };
    let (s, _) = bridge.postback(Some(&api_key), &body).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "unsigned");
    let other = Jwk::generate(Algorithm::Es256).unwrap();
    for (token, why) in [
        (sign(&other, "bridge-postback+jwt"), "another key"),
        (sign(&key, "JWT"), "another typ"),
    ] {
        let (s, _) = bridge
            .postback_raw(Some(&api_key), "application/jwt", token)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{why}");
    }
    let good = sign(&key, "bridge-postback+jwt");
    let (s, _) = bridge
        .postback_raw(Some("wrong-key"), "application/jwt", good.clone())
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the API key is still needed");
    let (s, text) = bridge
        .postback_raw(Some(&api_key), "application/jwt", good)
        .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let step = b.follow(&bridge.op, &bridge.return_url(&id)).await;
    assert!(matches!(step, Step::Consent(_)), "{step:?}");
    // A site without a key posting a JWS is refused too (one way per site).
    let (_b, plain) = sent(&bridge).await;
    let token = jws::sign(
        &jws::Header::new(Algorithm::Es256).with_typ("bridge-postback+jwt"),
        answer(&plain, SHOPPER, json!({})).to_string().as_bytes(),
        &key.signing_key().unwrap(),
    )
    .unwrap();
    let (s, _) = bridge
        .postback_raw(Some(SITE_KEY), "application/jwt", token)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
