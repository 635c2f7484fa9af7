//! What the provider says about a user (OpenID Connect Core §5, §8): pairwise subjects per sector,
//! the claims released by custom scopes and by the `claims` request, and each user's own claims and
//! subject — also when many users' requests are served at once. Malformed bearer tokens at UserInfo are
//! `bad_input`'s.

use crate::common::*;
use crate::support::expect;
use futures_util::future::join_all;
use portcullis_oidc::verify_id_token;
use reqwest::StatusCode;
use serde_json::Value;

every_case!(
    pairwise_subjects_and_custom_scopes,
    user_claims_are_each_users_own,
    concurrent_requests_get_their_own_answers
);

/// Pairwise subjects differ per sector and stay stable; custom scopes release their claims.
async fn pairwise_subjects_and_custom_scopes(op: &Op) {
    let mut b = Browser::default();
    let mut subs = Vec::new();
    for (client, redirect) in [
        ("pairwise-a", "https://a.example/cb"),
        ("pairwise-b", "https://b.example/cb"),
        ("pairwise-a", "https://a.example/cb"),
    ] {
        let req = AuthReq::new(client, "code", "openid").set("redirect_uri", redirect);
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        let (s, t) = token(
            op,
            &[
                ("grant_type", "authorization_code"),
                ("code", &cb["code"]),
                ("redirect_uri", redirect),
                ("client_id", client),
                ("code_verifier", req.verifier.as_str()),
            ],
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        let idt = verify_id_token(
            t["id_token"].as_str().unwrap(),
            &op.jwks().await,
            ALGS,
            &expect(op, client, &req.nonce),
        )
        .unwrap();
        subs.push(idt.claims.registered.sub.unwrap());
    }
    assert_ne!(subs[0], subs[1]);
    assert_eq!(subs[0], subs[2]);
    assert_eq!(subs[0].len(), 43);
    let (_, t) = code_flow(op, &mut b, "alice", "openid avatar payment_details").await;
    let (_, info) = userinfo(op, t["access_token"].as_str().unwrap()).await;
    assert_eq!(info["nickname"], "dee");
    assert_eq!(info["payment_details"]["holder"], "Dee Mo");
    assert!(info.get("email").is_none());
    // The claims request adds one claim.
    let claims = r#"{"userinfo":{"phone_number":null}}"#;
    let req = AuthReq::new("public", "code", "openid").set("claims", claims);
    let step = b.authorize(op, &req.query()).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    let (_, t) = redeem(op, &cb["code"], req.verifier.as_str()).await;
    let (_, info) = userinfo(op, t["access_token"].as_str().unwrap()).await;
    assert_eq!(info["phone_number"], "+1 555 0100");
    assert!(info.get("name").is_none());
}

/// Each user's claims are their own, whichever user's parsed claims the provider reused last.
async fn user_claims_are_each_users_own(op: &Op) {
    for (user, name) in [
        ("alice", "Dee Mo"),
        ("bob", "Bob"),
        ("alice", "Dee Mo"),
        ("bob", "Bob"),
    ] {
        let mut b = Browser::default();
        let req = AuthReq::new("public", "code", "openid profile");
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, user).await.redirect();
        let (s, tokens) = redeem(op, &cb["code"], req.verifier.as_str()).await;
        assert_eq!(s, StatusCode::OK, "{tokens}");
        let (s, info) = userinfo(op, tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(info["name"], name, "{user}");
    }
}

/// Concurrent requests of different users and tokens (on SQLite they share one engine batch) each get
/// their own answer: prompt=none for two logged-in users and one stranger; UserInfo for valid, revoked,
/// unknown and malformed tokens at once.
async fn concurrent_requests_get_their_own_answers(op: &Op) {
    let (mut alice, mut bob) = (Browser::default(), Browser::default());
    let (_, ta) = code_flow(op, &mut alice, "alice", "openid").await;
    let (_, tb) = code_flow(op, &mut bob, "bob", "openid").await;
    let sub_of = |t: &Value| {
        portcullis_jose::jws::decode_unverified(t["id_token"].as_str().unwrap())
            .ok()
            .and_then(|u| serde_json::from_slice::<Value>(&u.payload).ok())
            .and_then(|v| v["sub"].as_str().map(str::to_owned))
            .unwrap()
    };
    let (sub_a, sub_b) = (sub_of(&ta), sub_of(&tb));
    assert_ne!(sub_a, sub_b);

    let browsers: Vec<(Browser, Option<&str>)> = (0..4)
        .flat_map(|_| {
            [
                (alice.clone(), Some(sub_a.as_str())),
                (bob.clone(), Some(sub_b.as_str())),
                (Browser::default(), None),
            ]
        })
        .collect();
    let results = join_all(browsers.into_iter().map(|(mut b, want)| async move {
        let req = AuthReq::new("public", "code", "openid").set("prompt", "none");
        let step = b.authorize(op, &req.query()).await;
        (req, step, want)
    }))
    .await;
    let mut redeem_all = Vec::new();
    for (req, step, want) in results {
        let cb = step.redirect();
        match want {
            None => assert_eq!(cb["error"], "login_required"),
            Some(sub) => {
                assert!(cb.contains_key("code"), "{cb:?}");
                redeem_all.push((req, cb["code"].clone(), sub));
            }
        }
    }
    let tokens = join_all(
        redeem_all
            .iter()
            .map(|(req, code, _)| async move { redeem(op, code, req.verifier.as_str()).await }),
    )
    .await;
    let mut bearer: Vec<(String, StatusCode, Option<String>)> = Vec::new();
    for ((_, _, sub), (s, t)) in redeem_all.iter().zip(tokens) {
        assert_eq!(s, StatusCode::OK, "{t}");
        assert_eq!(&sub_of(&t), sub);
        bearer.push((
            t["access_token"].as_str().unwrap().to_owned(),
            StatusCode::OK,
            Some((*sub).to_owned()),
        ));
    }
    // A revoked token (RFC 7009 by its public client), an unknown one, a malformed one.
    let revoked = ta["access_token"].as_str().unwrap();
    let r = op
        .http
        .post(op.url("/revoke"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={revoked}&client_id=public"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    bearer.push((revoked.to_owned(), StatusCode::UNAUTHORIZED, None));
    bearer.push((portcullis_op::new_token(), StatusCode::UNAUTHORIZED, None));
    bearer.push(("not-a-token".into(), StatusCode::UNAUTHORIZED, None));
    let answers = join_all(bearer.iter().map(|(t, _, _)| userinfo(op, t))).await;
    for ((_, want, sub), (s, info)) in bearer.iter().zip(answers) {
        assert_eq!(s, *want, "{info}");
        if let Some(sub) = sub {
            assert_eq!(info["sub"], sub.as_str());
        }
    }
}
