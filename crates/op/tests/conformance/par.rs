//! Pushed authorization requests (RFC 9126): push, then authorize with the `request_uri` only, once and
//! by the client that pushed it; a client registered with `require_pushed_authorization_requests` is
//! served only that way (§6). Request objects are `request_objects`'.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

every_case!(pushed_authorization_requests, par_required_per_client);

/// RFC 9126: push, then authorize with the request_uri only; single use; bound to the client.
async fn pushed_authorization_requests(op: &Op) {
    let req = AuthReq::new("confidential", "code", "openid email");
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
    let uri = v["request_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    let q = |client: &str| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", client)
            .append_pair("request_uri", &uri)
            .finish()
    };
    let mut b = Browser::default();
    assert!(
        matches!(
            b.authorize(op, &q("public")).await,
            Step::ErrorPage(StatusCode::BAD_REQUEST, _)
        ),
        "another client"
    );
    let step = b.authorize(op, &q("confidential")).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    assert_eq!(cb["state"], req.state);
    let (s, t) = token(
        op,
        &[
            ("grant_type", "authorization_code"),
            ("code", &cb["code"]),
            ("redirect_uri", RP),
            ("code_verifier", req.verifier.as_str()),
        ],
        Some(("confidential", "s3cret-s3cret")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert!(
        matches!(
            b.authorize(op, &q("confidential")).await,
            Step::ErrorPage(StatusCode::BAD_REQUEST, _)
        ),
        "single use"
    );
    // Unauthenticated or with an unregistered redirect: refused with JSON errors.
    let r = op
        .http
        .post(op.url("/par"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(req.query())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let bad = AuthReq::new("confidential", "code", "openid")
        .set("redirect_uri", "https://evil.example/cb");
    let r = op
        .http
        .post(op.url("/par"))
        .basic_auth("confidential", Some("s3cret-s3cret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(bad.query())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// RFC 9126 §6: a client registered with require_pushed_authorization_requests is refused a plain (query)
/// authorization request — after its redirect URI is established, so the error goes back to it — and
/// served through PAR.
async fn par_required_per_client(op: &Op) {
    let store = &op.provider.store;
    portcullis_op::admin::add_client_with_secret(
        store,
        "par-only",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_basic",
                "require_pushed_authorization_requests": true,
                "grant_types": ["authorization_code"], "scope": "openid email"}),
        "par-only-secret",
    )
    .await
    .unwrap();
    assert!(
        portcullis_op::admin::add_client_with_secret(
            store,
            "par-bad",
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_basic",
                    "require_pushed_authorization_requests": "yes"}),
            "par-bad-secret",
        )
        .await
        .is_err(),
        "a non-boolean flag is refused at registration"
    );
    let req = AuthReq::new("par-only", "code", "openid");
    let mut b = Browser::default();
    let cb = b.authorize(op, &req.query()).await.redirect();
    assert_eq!(cb["error"], "invalid_request");
    assert!(cb["error_description"].contains("request_uri"), "{cb:?}");
    assert_eq!(cb["state"], req.state);
    assert_eq!(cb["iss"], op.base);
    // The same parameters pushed first go through.
    let r = op
        .http
        .post(op.url("/par"))
        .basic_auth("par-only", Some("par-only-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(req.query())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "par-only")
        .append_pair("request_uri", v["request_uri"].as_str().unwrap())
        .finish();
    let step = b.authorize(op, &q).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    assert!(cb.contains_key("code"), "{cb:?}");
    // Other clients are not affected.
    let step = b
        .authorize(op, &AuthReq::new("public", "code", "openid").query())
        .await;
    assert!(
        b.complete(op, step, "alice")
            .await
            .redirect()
            .contains_key("code")
    );
}
