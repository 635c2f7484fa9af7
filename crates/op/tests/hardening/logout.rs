//! Issue 22, item 10: logout without a valid `id_token_hint` for the session's user asks the user on a
//! confirmation page (a single-use, session- and browser-bound POST from this site), and everything is
//! validated before anything ends.
//!
//! Must not: change the provider or weaken what another test proves.

use reqwest::StatusCode;

use super::earlier::post_raw;
use crate::common::*;

/// A signed-in browser and its ID token.
async fn signed_in(op: &Op, user: &str) -> (Browser, String) {
    let mut b = Browser::default();
    let (_, t) = code_flow(op, &mut b, user, "openid").await;
    (b, t["id_token"].as_str().unwrap().to_owned())
}

async fn get(op: &Op, b: &Browser, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut r = op.http.get(op.url(path));
    if let Some(c) = b.cookie_header() {
        r = r.header("cookie", c);
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

/// Whether the browser's session still gets codes silently.
async fn still_signed_in(op: &Op, b: &mut Browser) -> bool {
    let req = AuthReq::new("public", "code", "openid").set("prompt", "none");
    b.authorize(op, &req.query())
        .await
        .redirect()
        .contains_key("code")
}

fn confirm_form(page: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("pending", &hidden(page, "pending").unwrap())
        .append_pair("csrf", &hidden(page, "csrf").unwrap())
        .finish()
}

/// The attack: a cross-site GET (an image tag on another site) to `/end_session` without a hint. The user is
/// asked, and stays signed in until they confirm.
#[tokio::test]
async fn logout_without_hint_asks_the_user_first() {
    let op = Op::sqlite().await;
    let (mut b, _) = signed_in(&op, "alice").await;
    let r = get(
        &op,
        &b,
        "/end_session?client_id=public&post_logout_redirect_uri=https%3A%2F%2Frp.example%2Fbye&state=s9",
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("action=\"/end_session/confirm\""), "{page}");
    assert!(still_signed_in(&op, &mut b).await);
    // The user confirms: signed out, and sent to the registered URI with the state.
    let cookie = b.cookie_header();
    let r = post_raw(
        &op,
        "/end_session/confirm",
        cookie.as_deref(),
        &[("sec-fetch-site", "same-origin")],
        confirm_form(&page),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "https://rp.example/bye?state=s9");
    assert!(!still_signed_in(&op, &mut b).await);
}

/// The confirmation form answers once, only from the same site, browser and session.
#[tokio::test]
async fn logout_confirmation_is_bound_and_single_use() {
    let op = Op::sqlite().await;
    let (mut b, _) = signed_in(&op, "alice").await;
    let page = get(&op, &b, "/end_session", &[])
        .await
        .text()
        .await
        .unwrap();
    let form = confirm_form(&page);
    let cookie = b.cookie_header().unwrap();
    let session_only = format!("portcullis_session={}", b.session.clone().unwrap());
    // Posted from another site; from another browser (no binding cookie); from another session.
    let (mut other, _) = signed_in(&op, "bob").await;
    let other_cookie = format!(
        "portcullis_session={}; {}",
        other.session.clone().unwrap(),
        b.browser.clone().unwrap()
    );
    for (cookie, site, why) in [
        (cookie.as_str(), "cross-site", "another site"),
        (session_only.as_str(), "same-origin", "another browser"),
        (other_cookie.as_str(), "same-origin", "another session"),
    ] {
        let r = post_raw(
            &op,
            "/end_session/confirm",
            Some(cookie),
            &[("sec-fetch-site", site)],
            form.clone(),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{why}");
    }
    assert!(still_signed_in(&op, &mut b).await);
    assert!(still_signed_in(&op, &mut other).await);
    // A forged token.
    let forged = form.replace("csrf=", "csrf=x");
    let r = post_raw(&op, "/end_session/confirm", Some(&cookie), &[], forged).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The real answer works once.
    let r = post_raw(
        &op,
        "/end_session/confirm",
        Some(&cookie),
        &[],
        form.clone(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("You are signed out"));
    let r = post_raw(&op, "/end_session/confirm", Some(&cookie), &[], form).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!still_signed_in(&op, &mut b).await);
}

/// A valid hint for the session's user ends the session at once; a hint for another user asks first.
#[tokio::test]
async fn only_a_hint_for_the_sessions_user_skips_confirmation() {
    let op = Op::sqlite().await;
    let (_, bobs_hint) = signed_in(&op, "bob").await;
    let (mut b, hint) = signed_in(&op, "alice").await;
    let r = get(
        &op,
        &b,
        &format!("/end_session?id_token_hint={bobs_hint}"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("/end_session/confirm"));
    assert!(still_signed_in(&op, &mut b).await);
    let r = get(&op, &b, &format!("/end_session?id_token_hint={hint}"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("You are signed out"));
    assert!(!still_signed_in(&op, &mut b).await);
}

/// Everything is validated before anything ends: a bad redirect URI, a forged hint or an unknown client is a
/// 400, and the session is still there.
#[tokio::test]
async fn logout_validates_before_ending_anything() {
    let op = Op::sqlite().await;
    let (mut b, hint) = signed_in(&op, "alice").await;
    let evil = "post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F";
    let mut forged = hint.clone();
    forged.pop();
    forged.push(if hint.ends_with('A') { 'B' } else { 'A' });
    for query in [
        format!("id_token_hint={hint}&{evil}"),
        format!("client_id=public&{evil}"),
        format!("id_token_hint={forged}"),
        "client_id=nobody".to_owned(),
        format!("id_token_hint={hint}&client_id=confidential"),
        "post_logout_redirect_uri=https%3A%2F%2Frp.example%2Fbye".to_owned(),
    ] {
        let r = get(&op, &b, &format!("/end_session?{query}"), &[]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(still_signed_in(&op, &mut b).await, "{query}");
    }
}

/// A full login in a browser that already had a session (`prompt=login`, or another user) ends that session:
/// its cookie, wherever a copy of it went, no longer works.
#[tokio::test]
async fn a_new_login_ends_the_session_it_replaces() {
    let op = Op::sqlite().await;
    let (mut b, _) = signed_in(&op, "alice").await;
    let old = b.clone();
    let req = AuthReq::new("public", "code", "openid").set("prompt", "login");
    let step = b.authorize(&op, &req.query()).await;
    let cb = b.complete(&op, step, "bob").await.redirect();
    assert!(cb.contains_key("code"));
    let mut copy = old;
    assert!(
        !still_signed_in(&op, &mut copy).await,
        "the replaced session ended"
    );
    assert!(still_signed_in(&op, &mut b).await);
}
