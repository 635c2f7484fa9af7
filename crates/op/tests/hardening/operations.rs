//! Issue 26 (the operator's view): `/health` and `/ready`, and the audit events a security team reads — a
//! failed and a successful sign-in by method and account, consent, refresh token reuse — with no secret in them.
//!
//! Must not: change the provider or weaken what another test proves.

use reqwest::StatusCode;

use crate::common::*;

#[tokio::test]
async fn health_and_readiness_answer() {
    let op = Op::sqlite().await;
    for path in ["/health", "/ready"] {
        let r = op.http.get(op.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let body = op
        .http
        .get(op.url("/ready"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "ready");
}

#[tokio::test]
async fn sign_ins_consent_and_refresh_reuse_are_audited_without_secrets() {
    let op = Op::sqlite().await;
    let alice = op
        .provider
        .store
        .user_by_name("alice")
        .await
        .unwrap()
        .unwrap();
    // A failed attempt naming alice, then a sign-in and consent.
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid offline_access").set("prompt", "consent");
    let Step::Login(page) = b.authorize(&op, &req.query()).await else {
        panic!("login page")
    };
    let wrong = "not-her-password-9f3k";
    let step = b
        .submit(
            &op,
            &page,
            "/login",
            &[("username", "alice"), ("password", wrong)],
        )
        .await;
    let Step::Login(page) = step else {
        panic!("the page again: {step:?}")
    };
    let step = b.login(&op, &page, "alice").await;
    let cb = b.complete(&op, step, "alice").await.redirect();
    let (status, tokens) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    // Refresh once, then replay the first refresh token: reuse.
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |t: String| {
        let op = &op;
        async move {
            token(
                op,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &t),
                    ("client_id", "public"),
                ],
                None,
            )
            .await
        }
    };
    assert_eq!(refresh(rt.clone()).await.0, StatusCode::OK);
    assert_eq!(refresh(rt.clone()).await.0, StatusCode::BAD_REQUEST);
    let events = op.provider.store.audit_events(None, 0, 100).await.unwrap();
    let seen: Vec<(String, String, Option<String>, String)> = events
        .iter()
        .map(|e| {
            (
                e.kind.clone(),
                e.outcome.clone(),
                e.user_id.clone(),
                e.detail.clone(),
            )
        })
        .collect();
    let has = |kind: &str, outcome: &str, user: Option<&str>| {
        seen.iter()
            .any(|(k, o, u, _)| k == kind && o == outcome && u.as_deref() == user)
    };
    assert!(has("sign_in", "failure", Some(&alice.id)), "{seen:?}");
    assert!(has("sign_in", "success", Some(&alice.id)), "{seen:?}");
    assert!(has("consent", "given", Some(&alice.id)), "{seen:?}");
    assert!(has("refresh_reuse", "grant_revoked", None), "{seen:?}");
    let sign_in = events.iter().find(|e| e.kind == "sign_in").unwrap();
    assert_eq!(sign_in.client_id.as_deref(), Some("public"));
    assert!(sign_in.address.is_some(), "{sign_in:?}");
    // Every event of a request carries the client's address.
    for e in &events {
        assert_eq!(e.address.as_deref(), Some("127.0.0.1"), "{e:?}");
    }
    // Nothing secret in any event: not the password tried, the right one, the code or a token.
    let all = format!("{events:?}");
    for secret in [
        wrong,
        PASSWORD,
        cb["code"].as_str(),
        rt.as_str(),
        tokens["access_token"].as_str().unwrap(),
    ] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
}

/// `/metrics` in the Prometheus text format, on `metrics_listen` only: requests by endpoint and status, sign-ins by
/// method and outcome, tokens by grant type, refresh reuse.
#[tokio::test]
async fn metrics_are_served_apart_and_count_what_happened() {
    let metrics_port = free_port();
    let op = Op::start_with(|c| portcullis_op::Config {
        metrics_listen: Some(format!("127.0.0.1:{metrics_port}")),
        ..c
    })
    .await;
    let mut b = Browser::default();
    let (_, tokens) = code_flow(&op, &mut b, "alice", "openid").await;
    assert!(tokens["access_token"].is_string());
    let r = op.http.get(op.url("/metrics")).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "not on the public listener"
    );
    let text = op
        .http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "portcullis_http_requests_total{endpoint=\"/authorize\",status=\"200\"} 1",
        "portcullis_http_requests_total{endpoint=\"/token\",status=\"200\"} 1",
        "portcullis_sign_ins_total{method=\"password\",outcome=\"success\"} 1",
        "portcullis_tokens_issued_total{grant_type=\"authorization_code\"} 1",
        "portcullis_refresh_token_reuse_total 0",
        "# TYPE portcullis_http_request_duration_seconds histogram",
        "portcullis_verification_queue",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}
