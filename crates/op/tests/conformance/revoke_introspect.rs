//! Token revocation (RFC 7009) and introspection (RFC 7662): who may call them, how an active, a
//! revoked and an unknown token look, and a revoked refresh token ending its grant.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

every_case!(revocation_and_introspection);

/// RFC 7009 revocation and RFC 7662 introspection.
async fn revocation_and_introspection(op: &Op) {
    let (_, t) = token(
        op,
        &[("grant_type", "client_credentials"), ("scope", "api:read")],
        Some(("confidential", "s3cret-s3cret")),
    )
    .await;
    let at = t["access_token"].as_str().unwrap();
    let intro = |tok: String| async move {
        let r = op
            .http
            .post(op.url("/introspect"))
            .basic_auth("confidential", Some("s3cret-s3cret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={tok}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()
    };
    let i = intro(at.to_owned()).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], "confidential");
    assert_eq!(i["scope"], "api:read");
    assert_eq!(intro("garbage".into()).await, json!({"active": false}));
    let r = op
        .http
        .post(op.url("/revoke"))
        .basic_auth("confidential", Some("s3cret-s3cret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={at}&token_type_hint=access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(intro(at.to_owned()).await["active"], false);
    // Unknown tokens: 200 as well. Bad client credentials: 401.
    let r = op
        .http
        .post(op.url("/revoke"))
        .basic_auth("confidential", Some("s3cret-s3cret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = op
        .http
        .post(op.url("/revoke"))
        .basic_auth("confidential", Some("nope"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Public clients cannot introspect; refresh token revocation kills the grant.
    let mut b = Browser::default();
    let (_, t) = code_flow(op, &mut b, "alice", "openid").await;
    let r = op
        .http
        .post(op.url("/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "token={}&client_id=public",
            t["access_token"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = op
        .http
        .post(op.url("/revoke"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "token={}&client_id=public",
            t["refresh_token"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        userinfo(op, t["access_token"].as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
}
