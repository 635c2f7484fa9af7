//! Malformed requests get a 4xx with the spec's error body, never a 5xx (RFC 6749 §5.2, RFC 6750
//! §3.1): oversized bodies and headers, invalid UTF-8 and percent-encoding, wrong content types and
//! methods, repeated parameters, unknown endpoints and grant types.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::Value;

every_case!(
    bad_input_gets_4xx_never_5xx,
    unknown_parameters_are_not_stored
);

/// Bad input gets a 4xx with the spec's error body: oversized body and headers, invalid UTF-8, wrong
/// content type, repeated parameters.
async fn bad_input_gets_4xx_never_5xx(op: &Op) {
    let post = |body: Vec<u8>, ct: &'static str| {
        op.http
            .post(op.url("/token"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let r = post(vec![b'a'; 70 * 1024], "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = post(
        b"grant_type=authorization_code&code=\xff\xfe".to_vec(),
        "application/x-www-form-urlencoded",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = post(
        b"{\"grant_type\":\"client_credentials\"}".to_vec(),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = post(
        b"grant_type=client_credentials&grant_type=client_credentials&client_id=public".to_vec(),
        "application/x-www-form-urlencoded",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = post(
        b"grant_type=password&username=a&password=b&client_id=public".to_vec(),
        "application/x-www-form-urlencoded",
    )
    .await
    .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    // Headers over the limit.
    let r = op
        .http
        .get(op.url("/jwks"))
        .header("x-big", "a".repeat(70 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // Repeated authorization parameters: error page (the redirect URI is not established yet).
    let mut b = Browser::default();
    let q = format!(
        "{}&client_id=public",
        AuthReq::new("public", "code", "openid").query()
    );
    assert!(matches!(
        b.authorize(op, &q).await,
        Step::ErrorPage(StatusCode::BAD_REQUEST, _)
    ));
    // Invalid percent-encoding / UTF-8 in the query.
    assert!(matches!(
        b.authorize(op, "client_id=%ff%fe&response_type=code").await,
        Step::ErrorPage(StatusCode::BAD_REQUEST, _)
    ));
    // Unknown endpoint: 404 JSON; wrong method: 405.
    assert_eq!(
        op.http.get(op.url("/nope")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        op.http.get(op.url("/token")).send().await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    // Userinfo: no token, a bad token, two tokens.
    let r = op.http.get(op.url("/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(
        userinfo(op, "not-a-token").await.0,
        StatusCode::UNAUTHORIZED
    );
    let r = op
        .http
        .post(op.url("/userinfo"))
        .bearer_auth("a")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("access_token=b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// An anonymous authorization request cannot make the provider store what it likes: unknown parameters (40 KB
/// of them here) are ignored and not kept with the pending request, which still completes.
async fn unknown_parameters_are_not_stored(op: &Op) {
    let filler = "x".repeat(40_000);
    let req = AuthReq::new("public", "code", "openid").set("unknown_padding", &filler);
    let mut b = Browser::default();
    let Step::Login(page) = b.authorize_post(op, &req.query()).await else {
        panic!("login page")
    };
    let id = hidden(&page, "pending").unwrap();
    let row = op
        .provider
        .store
        .pending(&id, "authorize", portcullis_op::now())
        .await
        .unwrap()
        .unwrap();
    assert!(row.params.len() < 2_000, "{} bytes kept", row.params.len());
    assert!(!row.params.contains("unknown_padding"));
    let cb = b.complete(op, Step::Login(page), "alice").await.redirect();
    assert!(cb.contains_key("code"), "{cb:?}");
}
