//! Plan `oidcc-refresh-token` (RFC 6749 §6, RFC 9700 §4.14.2): a refresh rotates the token and may
//! narrow the scope but never widen it; the reuse of a rotated token revokes the whole family. Refresh
//! tokens stored by older versions are `store`'s.

use crate::common::*;
use crate::support::expect;
use portcullis_oidc::verify_id_token;
use reqwest::StatusCode;

every_case!(
    oidcc_refresh_token_rotation_and_reuse,
    refresh_token_of_another_client_is_neither_consumed_nor_reuse
);

/// oidcc-refresh-token: rotation; reuse of a rotated token revokes the family.
async fn oidcc_refresh_token_rotation_and_reuse(op: &Op) {
    let mut b = Browser::default();
    let (req, t1) = code_flow(op, &mut b, "alice", "openid email offline_access").await;
    let rt1 = t1["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String, scope: Option<&'static str>| async move {
        let mut body = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", rt),
            ("client_id", "public".to_owned()),
        ];
        if let Some(s) = scope {
            body.push(("scope", s.to_owned()));
        }
        let body: Vec<(&str, &str)> = body.iter().map(|(k, v)| (*k, v.as_str())).collect();
        token(op, &body, None).await
    };
    let (s, t2) = refresh(rt1.clone(), Some("openid email")).await;
    assert_eq!(s, StatusCode::OK, "{t2}");
    assert_eq!(t2["scope"], "openid email");
    let rt2 = t2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    let mut e = expect(op, "public", &req.nonce);
    e.nonce = None;
    verify_id_token(t2["id_token"].as_str().unwrap(), &op.jwks().await, ALGS, &e).unwrap();
    // Widening is invalid_scope.
    let (s, err) = refresh(rt2.clone(), Some("openid phone")).await;
    assert_eq!(
        (s, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    // rt2 was consumed by the failed attempt? No: scope is checked after the atomic consume, so rt2 is used.
    // Reuse of rt1 (rotated) revokes the whole family, including t2's access token.
    let (s, err) = refresh(rt1, None).await;
    assert_eq!(
        (s, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        userinfo(op, t2["access_token"].as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, _) = refresh(rt2, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// A refresh token presented by another (authenticated) client is refused without being consumed, and a rotated
/// one presented by another client is not taken as reuse: the owner's grant lives on.
async fn refresh_token_of_another_client_is_neither_consumed_nor_reuse(op: &Op) {
    let mut b = Browser::default();
    let (_, t1) = code_flow(op, &mut b, "alice", "openid offline_access").await;
    let rt1 = t1["refresh_token"].as_str().unwrap().to_owned();
    let by_public = |rt: String| async move {
        token(
            op,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("client_id", "public"),
            ],
            None,
        )
        .await
    };
    let by_other = |rt: String| async move {
        token(
            op,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            Some(("confidential", "s3cret-s3cret")),
        )
        .await
    };
    let (s, e) = by_other(rt1.clone()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{e}"
    );
    // Still fresh for its owner.
    let (s, t2) = by_public(rt1.clone()).await;
    assert_eq!(s, StatusCode::OK, "{t2}");
    let rt2 = t2["refresh_token"].as_str().unwrap().to_owned();
    // The rotated rt1, presented by the other client: refused, and the family is not revoked.
    let (s, e) = by_other(rt1).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{e}"
    );
    assert_eq!(
        userinfo(op, t2["access_token"].as_str().unwrap()).await.0,
        StatusCode::OK
    );
    let (s, t3) = by_public(rt2).await;
    assert_eq!(s, StatusCode::OK, "{t3}");
}
