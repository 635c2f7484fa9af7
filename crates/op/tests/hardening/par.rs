//! Issue 22, item 23: a pushed request's `request_uri` can be visited again until an authorization made from it
//! completes (a reloaded login page works), and is consumed by the first one that completes; it stays bound to
//! its client and expires.
//!
//! Must not: change the provider or weaken what another test proves.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::*;

/// Pushes `req` for the `confidential` client; its `request_uri`.
pub(crate) async fn push(op: &Op, req: &AuthReq) -> String {
    let r = op
        .http
        .post(op.url("/par"))
        .basic_auth("confidential", Some("s3cret-s3cret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(req.query())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    v["request_uri"].as_str().unwrap().to_owned()
}

/// The authorization request that visits a pushed `uri` as `client`.
pub(crate) fn visit(client: &str, uri: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client)
        .append_pair("request_uri", uri)
        .finish()
}

/// The review's case: the user reloads the login page of a pushed request. Both pages work; the one answered
/// completes the authorization; after that the `request_uri` (and the other page) are used up.
#[tokio::test]
async fn pushed_request_can_be_revisited_until_completed() {
    let op = Op::sqlite().await;
    let req = AuthReq::new("confidential", "code", "openid");
    let uri = push(&op, &req).await;
    let mut b = Browser::default();
    let Step::Login(first) = b.authorize(&op, &visit("confidential", &uri)).await else {
        panic!("the first visit shows the login page")
    };
    let Step::Login(reloaded) = b.authorize(&op, &visit("confidential", &uri)).await else {
        panic!("a reload shows the login page again, not invalid_request_uri")
    };
    // Still bound to its client.
    assert!(matches!(
        b.authorize(&op, &visit("public", &uri)).await,
        Step::ErrorPage(StatusCode::BAD_REQUEST, _)
    ));
    let step = b.login(&op, &reloaded, "alice").await;
    let cb = b.complete(&op, step, "alice").await.redirect();
    assert_eq!(cb["state"], req.state);
    assert!(cb.contains_key("code"));
    // Completed: the request_uri is used up, and so is the first page's copy of it.
    match b.authorize(&op, &visit("confidential", &uri)).await {
        Step::ErrorPage(StatusCode::BAD_REQUEST, page) => {
            assert!(page.contains("invalid_request_uri"), "{page}")
        }
        other => panic!("expected invalid_request_uri, got {other:?}"),
    }
    let step = b.login(&op, &first, "alice").await;
    match step {
        Step::ErrorPage(StatusCode::BAD_REQUEST, page) => {
            assert!(page.contains("invalid_request_uri"), "{page}")
        }
        other => panic!("the first page cannot complete it again: {other:?}"),
    }
}

/// With a session, a pushed request completes at once; the same `request_uri` cannot complete a second time.
#[tokio::test]
async fn pushed_request_completes_once() {
    let op = Op::sqlite().await;
    let mut b = Browser::default();
    let _ = code_flow(&op, &mut b, "alice", "openid").await;
    let req = AuthReq::new("confidential", "code", "openid");
    let uri = push(&op, &req).await;
    let step = b.authorize(&op, &visit("confidential", &uri)).await;
    let cb = b.complete(&op, step, "alice").await.redirect();
    assert!(cb.contains_key("code"), "{cb:?}");
    assert!(matches!(
        b.authorize(&op, &visit("confidential", &uri)).await,
        Step::ErrorPage(StatusCode::BAD_REQUEST, _)
    ));
}
