//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2–§3): the session ends, and only a
//! registered `post_logout_redirect_uri` is redirected to.

use crate::common::*;
use reqwest::StatusCode;

every_case!(rp_initiated_logout);

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
