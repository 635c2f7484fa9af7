//! Withdrawing consent from the account page: the application is listed with what it was given; "Remove access"
//! revokes its access and refresh tokens, forgets the consent (the application must ask again: `prompt=none`
//! gets `consent_required`), refuses a code issued before the withdrawal, and records the audit event with the
//! client address. And the refusals: no session, a form from another site or session, an application the user
//! never consented to, another user's consent left alone.
//!
//! Must not: change the provider or weaken what another test proves.

use reqwest::StatusCode;

use crate::account::{account_page, csrf_of, post};
use crate::common::*;

/// Signs `user` in to the `public` client with `offline_access` (consent given): the browser and the tokens.
async fn with_tokens(op: &Op, user: &str) -> (Browser, serde_json::Value) {
    let mut b = Browser::default();
    let (_, tokens) = code_flow(op, &mut b, user, "openid profile offline_access").await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    (b, tokens)
}

async fn refresh(op: &Op, rt: &str) -> (StatusCode, serde_json::Value) {
    token(
        op,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "public"),
        ],
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_applications_access_revokes_its_tokens_and_its_consent() {
    let op = Op::sqlite().await;
    let (mut b, tokens) = with_tokens(&op, "alice").await;
    let (bob, bob_tokens) = with_tokens(&op, "bob").await;
    // A code issued before the withdrawal, redeemed after it.
    let pending = AuthReq::new("public", "code", "openid profile offline_access");
    let step = b.authorize(&op, &pending.query()).await;
    let early = step.redirect()["code"].clone();

    let (s, page) = account_page(&op, &b).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("<li class=\"app\" data-id=\"public\">"),
        "{page}"
    );
    assert!(page.contains("openid profile offline_access"), "{page}");
    let (s, _) = post(
        &op,
        &mut b,
        "/account/apps/remove",
        &[("csrf", &csrf_of(&page)), ("client", "public")],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, page) = account_page(&op, &b).await;
    assert!(page.contains("id=\"no-apps\""), "{page}");

    // Its tokens are dead: the access token, the refresh token, and the code issued before.
    let (s, _) = userinfo(&op, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, e) = refresh(&op, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (s, e) = redeem(&op, &early, pending.verifier.as_str()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{e}"
    );
    // The application must ask again.
    let req = AuthReq::new("public", "code", "openid profile").set("prompt", "none");
    let back = b.authorize(&op, &req.query()).await.redirect();
    assert_eq!(back["error"], "consent_required");
    let req = AuthReq::new("public", "code", "openid profile");
    assert!(matches!(
        b.authorize(&op, &req.query()).await,
        Step::Consent(_)
    ));
    // Consent given again at once, for tokens from the authorization endpoint (implicit): refused, as is what
    // an authorization that read the consent just before the withdrawal issues (within WITHDRAWAL_MARGIN).
    let quick = AuthReq::new("public", "id_token token", "openid profile");
    let step = b.authorize(&op, &quick.query()).await;
    let back = b.complete(&op, step, "alice").await.location().to_owned();
    let fragment = back.split_once('#').map_or("", |(_, f)| f);
    let answer: std::collections::HashMap<String, String> =
        form_urlencoded::parse(fragment.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        answer.get("error").map(String::as_str),
        Some("access_denied"),
        "{back}"
    );
    assert!(!answer.contains_key("access_token"), "{back}");
    assert!(answer["error_description"].contains("withdrawn"), "{back}");
    // Consent given again after the margin (and the second its time is rounded to): a new code redeems.
    tokio::time::sleep(std::time::Duration::from_millis(
        (portcullis_op::store::WITHDRAWAL_MARGIN as u64 + 1) * 1000 + 100,
    ))
    .await;
    let req = AuthReq::new("public", "code", "openid profile");
    let step = b.authorize(&op, &req.query()).await;
    let cb = b.complete(&op, step, "alice").await.redirect();
    let (s, t) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::OK, "{t}");

    // Bob's consent and tokens are untouched.
    let (s, _) = userinfo(&op, bob_tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = account_page(&op, &bob).await;
    assert_eq!(s, StatusCode::OK);

    // The audit event names the user, the client and the address.
    let alice = op
        .provider
        .store
        .user_by_name("alice")
        .await
        .unwrap()
        .unwrap();
    let events = op
        .provider
        .store
        .audit_events(Some(&alice.id), 0, 100)
        .await
        .unwrap();
    let revoked = events
        .iter()
        .find(|e| e.kind == "consent" && e.outcome == "revoked")
        .expect("a consent revoked event");
    assert_eq!(revoked.client_id.as_deref(), Some("public"));
    assert_eq!(revoked.address.as_deref(), Some("127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_access_is_refused_without_the_session_its_form_or_a_consent() {
    let op = Op::sqlite().await;
    let (mut alice, tokens) = with_tokens(&op, "alice").await;
    let (mut bob, _) = with_tokens(&op, "bob").await;
    let (_, page) = account_page(&op, &alice).await;
    let csrf = csrf_of(&page);

    // No session: refused.
    let mut nobody = Browser::default();
    let (s, _) = post(
        &op,
        &mut nobody,
        "/account/apps/remove",
        &[("csrf", &csrf), ("client", "public")],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Alice's form in Bob's session: refused, and Bob's consent stays.
    let (s, _) = post(
        &op,
        &mut bob,
        "/account/apps/remove",
        &[("csrf", &csrf), ("client", "public")],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A form from another site: refused.
    let cross = op
        .http
        .post(op.url("/account/apps/remove"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .header("cookie", alice.cookie_header().unwrap())
        .body(format!("csrf={csrf}&client=public"))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    // An application alice never consented to, an unknown one, none, an oversized one: 404, nothing recorded.
    let long = "x".repeat(5000);
    for client in ["confidential", "no-such-client", "", long.as_str()] {
        let (s, _) = post(
            &op,
            &mut alice,
            "/account/apps/remove",
            &[("csrf", &csrf), ("client", client)],
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{client}");
    }
    let alice_id = op
        .provider
        .store
        .user_by_name("alice")
        .await
        .unwrap()
        .unwrap()
        .id;
    for client in ["confidential", "no-such-client"] {
        assert_eq!(
            op.provider
                .store
                .consent_withdrawn_at(&alice_id, client)
                .await
                .unwrap(),
            None
        );
    }
    // Nothing refused above took alice's access away.
    let (s, _) = userinfo(&op, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let (_, page) = account_page(&op, &bob).await;
    assert!(page.contains("data-id=\"public\""), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_client_takes_its_consents_with_it() {
    let op = Op::sqlite().await;
    let mut b = Browser::default();
    let req =
        AuthReq::new("pairwise-b", "code", "openid").set("redirect_uri", "https://b.example/cb");
    let step = b.authorize(&op, &req.query()).await;
    let cb = b.complete(&op, step, "alice").await.redirect();
    assert!(cb.contains_key("code"), "{cb:?}");
    let (_, page) = account_page(&op, &b).await;
    assert!(page.contains("data-id=\"pairwise-b\""), "{page}");
    assert!(op.provider.store.remove_client("pairwise-b").await.unwrap());
    let (_, page) = account_page(&op, &b).await;
    assert!(!page.contains("data-id=\"pairwise-b\""), "{page}");
    // Registered again under the same id: it starts with no consent.
    portcullis_op::admin::add_client(
        &op.provider.store,
        "pairwise-b",
        &serde_json::json!({"redirect_uris": ["https://b.example/cb"], "token_endpoint_auth_method": "none",
                            "subject_type": "pairwise"}),
    )
    .await
    .unwrap();
    // (The provider's client cache holds the removed client for a while; the consent is gone regardless.)
    let req = AuthReq::new("pairwise-b", "code", "openid")
        .set("redirect_uri", "https://b.example/cb")
        .set("prompt", "none");
    let back = b.authorize(&op, &req.query()).await.redirect();
    assert_eq!(back["error"], "consent_required");
}
