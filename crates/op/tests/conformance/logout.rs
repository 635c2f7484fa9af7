//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2–§3): the session ends, and only a
//! registered `post_logout_redirect_uri` is redirected to.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

every_case!(
    rp_initiated_logout,
    post_logout_redirect_uris_are_validated_at_registration
);

/// RP-initiated logout: the session ends; only registered post-logout URIs are redirected to.
async fn rp_initiated_logout(op: &Op) {
    let mut b = Browser::default();
    let (_, t) = code_flow(op, &mut b, "alice", "openid").await;
    let hint = t["id_token"].as_str().unwrap();
    let bad = format!(
        "/end_session?id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"
    );
    let r = op
        .http
        .get(op.url(&bad))
        .header(
            "cookie",
            format!("portcullis_session={}", b.session.clone().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let good = format!(
        "/end_session?id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Frp.example%2Fbye&state=s1"
    );
    let r = op
        .http
        .get(op.url(&good))
        .header(
            "cookie",
            format!("portcullis_session={}", b.session.clone().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "https://rp.example/bye?state=s1");
    let cb = b
        .authorize(
            op,
            &AuthReq::new("public", "code", "openid")
                .set("prompt", "none")
                .query(),
        )
        .await
        .redirect();
    assert_eq!(cb["error"], "login_required", "the session is gone");
}

/// `post_logout_redirect_uris` are validated like `redirect_uris` when a client is registered: scripts, data,
/// plain http off loopback, fragments and control characters are refused (a DEL once made a handler panic when it
/// was put in a `Location` header); acceptable ones register and redirect.
async fn post_logout_redirect_uris_are_validated_at_registration(op: &Op) {
    let store = &op.provider.store;
    for bad in [
        json!(["javascript:alert(1)"]),
        json!(["data:text/html,hi"]),
        json!(["http://evil.example/bye"]),
        json!(["https://rp.example/bye#frag"]),
        json!(["https://rp.example/bye\u{7f}"]),
        json!(["https://rp.example/by e"]),
        json!("https://rp.example/bye"),
        json!([1]),
    ] {
        let meta = json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none",
                          "post_logout_redirect_uris": bad});
        assert!(
            portcullis_op::admin::add_client(store, "bad-logout", &meta)
                .await
                .is_err(),
            "{bad}"
        );
        assert!(store.client("bad-logout").await.unwrap().is_none());
    }
    let meta = json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none",
                      "post_logout_redirect_uris": ["https://rp.example/bye", "http://127.0.0.1:9/bye",
                                                    "com.example.app:/bye"]});
    portcullis_op::admin::add_client(store, "good-logout", &meta)
        .await
        .unwrap();
    let r = op
        .http
        .get(op.url("/end_session?client_id=good-logout&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fbye"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("http://127.0.0.1:9/bye"), "{location}");
}
