//! The authorization code at the token endpoint (RFC 6749 §4.1.2–§4.1.3, §10.5; RFC 7636 §4.6):
//! plans `oidcc-codereuse` (also under concurrency) and `oidcc-codereuse-30seconds`, and a code bound to
//! its client, redirect URI and PKCE challenge, where every refused redemption revokes the code's grant.
//! Sealed codes are `sealed_codes`'; the store's side of a redemption is `store`'s.

use crate::common::*;
use crate::support::expect;
use futures_util::future::join_all;
use portcullis_oidc::verify_id_token;
use reqwest::StatusCode;
use serde_json::Value;

every_case!(
    oidcc_codereuse_revokes_tokens,
    oidcc_codereuse_concurrent_presentations,
    oidcc_code_bound_to_client_redirect_and_pkce
);

/// oidcc-codereuse: a code is single use; its second use revokes the tokens issued from it.
async fn oidcc_codereuse_revokes_tokens(op: &Op) {
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let step = b.authorize(op, &req.query()).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    let (s, tokens) = redeem(op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::OK);
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(op, at).await.0, StatusCode::OK);
    let (s, err) = redeem(op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    assert_eq!(
        userinfo(op, at).await.0,
        StatusCode::UNAUTHORIZED,
        "tokens from a replayed code are revoked"
    );
    let rt = tokens["refresh_token"].as_str().unwrap();
    let (s, err) = token(
        op,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "public"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (s, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

/// oidcc-codereuse under concurrency: the same code presented by many requests at once (they land in one
/// write batch on SQLite) is redeemed exactly once, the other presentations are replays and revoke what the
/// one success got; distinct codes presented at once all redeem.
async fn oidcc_codereuse_concurrent_presentations(op: &Op) {
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let step = b.authorize(op, &req.query()).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    let code = cb["code"].clone();
    let verifier = req.verifier.as_str().to_owned();
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let (code, verifier) = (code.clone(), verifier.clone());
            async move { redeem(op, &code, &verifier).await }
        })
        .collect();
    let results = join_all(attempts).await;
    let ok: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, v)| v)
        .collect();
    // At most one redemption succeeds. Which one depends on timing: on SQLite the presentations of one
    // moment share a write batch and the first wins; on PostgreSQL a replay may revoke the grant before the
    // first presentation has read it, and then every presentation fails — also a correct outcome.
    assert!(ok.len() <= 1, "at most one redemption: {results:?}");
    for (s, v) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*s, StatusCode::BAD_REQUEST);
        assert_eq!(v["error"], "invalid_grant");
    }
    if op.provider.store.kind() == portcullis_op::store::DbKind::Sqlite {
        assert_eq!(ok.len(), 1, "one batch: the first presentation wins");
    }
    for tokens in ok {
        let at = tokens["access_token"].as_str().unwrap();
        assert_eq!(
            userinfo(op, at).await.0,
            StatusCode::UNAUTHORIZED,
            "the replays revoked the one success"
        );
        if let Some(rt) = tokens["refresh_token"].as_str() {
            let (s, err) = token(
                op,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt),
                    ("client_id", "public"),
                ],
                None,
            )
            .await;
            assert_eq!(s, StatusCode::BAD_REQUEST);
            assert_eq!(err["error"], "invalid_grant");
        }
    }

    // Six different codes of the same user, redeemed at once: all succeed, each with its own nonce.
    let mut flows = Vec::new();
    for _ in 0..6 {
        let req = AuthReq::new("public", "code", "openid");
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        flows.push((req, cb["code"].clone()));
    }
    let jwks = op.jwks().await;
    let results = join_all(
        flows
            .iter()
            .map(|(req, code)| async move { redeem(op, code, req.verifier.as_str()).await }),
    )
    .await;
    let mut subs = Vec::new();
    for ((req, _), (s, tokens)) in flows.iter().zip(&results) {
        assert_eq!(*s, StatusCode::OK, "{tokens}");
        let idt = verify_id_token(
            tokens["id_token"].as_str().unwrap(),
            &jwks,
            ALGS,
            &expect(op, "public", &req.nonce),
        )
        .unwrap();
        let sub = idt.claims.registered.sub.clone().unwrap();
        let (s, info) = userinfo(op, tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(info["sub"], sub);
        subs.push(sub);
    }
    subs.dedup();
    assert_eq!(subs.len(), 1, "one user, one subject");
}

/// The code is bound to the client, the redirect URI and the PKCE challenge.
async fn oidcc_code_bound_to_client_redirect_and_pkce(op: &Op) {
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let step = b.authorize(op, &req.query()).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    let code = cb["code"].clone();
    // Another client (authenticated) cannot redeem it. Each failure burns the code? No: binding failures
    // happen after the atomic consume, so the code is gone after the first attempt, as RFC 6749 allows.
    let (s, err) = token(
        op,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RP),
            ("code_verifier", req.verifier.as_str()),
        ],
        Some(("confidential", "s3cret-s3cret")),
    )
    .await;
    assert_eq!(
        (s, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_refusal_revoked_grant(op, &code, "another client").await;
    for (redirect, verifier, what) in [
        ("https://rp.example/other", None, "redirect_uri"),
        (
            RP,
            Some(portcullis_pkce::CodeVerifier::generate()),
            "code_verifier",
        ),
    ] {
        let req = AuthReq::new("public", "code", "openid");
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        let v = verifier
            .as_ref()
            .map(|v| v.as_str().to_owned())
            .unwrap_or_else(|| req.verifier.as_str().to_owned());
        let (s, err) = token(
            op,
            &[
                ("grant_type", "authorization_code"),
                ("code", &cb["code"]),
                ("redirect_uri", redirect),
                ("client_id", "public"),
                ("code_verifier", &v),
            ],
            None,
        )
        .await;
        assert_eq!(
            (s, err["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{what}"
        );
        assert_refusal_revoked_grant(op, &cb["code"], what).await;
    }
    // Missing verifier when a challenge was sent.
    let req = AuthReq::new("public", "code", "openid");
    let step = b.authorize(op, &req.query()).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    let (s, err) = token(
        op,
        &[
            ("grant_type", "authorization_code"),
            ("code", &cb["code"]),
            ("redirect_uri", RP),
            ("client_id", "public"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (s, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_refusal_revoked_grant(op, &cb["code"], "missing verifier").await;
}

/// A refused redemption consumed the code, and its grant (with the tokens stored along with the
/// consumption) is revoked.
/// (A sealed code is consumed when a grant exists under the id it carries.)
async fn assert_refusal_revoked_grant(op: &Op, code: &str, what: &str) {
    let grant_id = match op.provider.sealed_code_grant(code) {
        Some(g) => g,
        None => {
            let key = portcullis_op::store::TokenKey::of(code);
            let portcullis_op::store::Consumed::Replayed(grant_id) =
                op.provider.store.consume_code(&key).await.unwrap()
            else {
                panic!("the refused code was consumed ({what})");
            };
            grant_id
        }
    };
    let Some(grant) = op.provider.store.grant(&grant_id).await.unwrap() else {
        panic!("the refused code was consumed ({what})");
    };
    assert!(
        grant.revoked,
        "{what}: the refused redemption revoked the grant"
    );
}

/// oidcc-codereuse-30seconds / code lifetime: a code older than its lifetime is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_expires() {
    let op = Op::start_with(|mut c| {
        c.code_lifetime = 1;
        c
    })
    .await;
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let step = b.authorize(&op, &req.query()).await;
    let cb = b.complete(&op, step, "alice").await.redirect();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, e) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}
