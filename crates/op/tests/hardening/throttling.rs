//! Issue 22, items 5 and 6: password guessing (back-off per account and address, a cap per pending request, a
//! bounded verification queue) and anonymous storage amplification (a size cap on what a pending request keeps,
//! and a login-page rate per address).
//!
//! The provider here trusts an `x-client-ip` header for the client's address (`client_ip_header`), so that one
//! test can speak from several addresses.
//!
//! Must not: change the provider or weaken what another test proves.

use futures_util::future::join_all;
use reqwest::StatusCode;

use super::earlier::{form, post_raw};
use crate::common::*;

const IP_HEADER: &str = "x-client-ip";

async fn op_with(
    f: impl FnOnce(portcullis_op::config::Config) -> portcullis_op::config::Config,
) -> Op {
    Op::start_with(|c| {
        f(portcullis_op::config::Config {
            client_ip_header: Some(IP_HEADER.into()),
            ..c
        })
    })
    .await
}

/// A fresh login page in a fresh browser.
async fn login_page(op: &Op) -> (Browser, String) {
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    match b.authorize(op, &req.query()).await {
        Step::Login(page) => (b, page),
        other => panic!("expected the login page, got {other:?}"),
    }
}

/// Posts a sign-in attempt from `ip`.
async fn attempt(
    op: &Op,
    b: &Browser,
    page: &str,
    ip: &str,
    user: &str,
    password: &str,
) -> reqwest::Response {
    post_raw(
        op,
        "/login",
        b.cookie_header().as_deref(),
        &[(IP_HEADER, ip)],
        form(page, &[("username", user), ("password", password)]),
    )
    .await
}

/// A successful sign-in answers with the consent page (first time for this client) or the redirect.
fn signed_in(s: StatusCode) -> bool {
    matches!(s, StatusCode::OK | StatusCode::SEE_OTHER)
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The attack: guess after guess on one login page. Each pending request allows MAX_ATTEMPTS failures; the
/// last one uses it up, and even the right password cannot complete it then. (Each guess names another
/// account, so that the per-account back-off stays out of the way.)
#[tokio::test]
async fn failed_attempts_per_pending_request_are_capped() {
    let op = op_with(|c| c).await;
    let (b, page) = login_page(&op).await;
    let max = portcullis_op::endpoints::login::MAX_ATTEMPTS;
    for i in 1..max {
        let r = attempt(&op, &b, &page, "192.0.2.1", &format!("guess{i}"), "nope").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = attempt(&op, &b, &page, "192.0.2.1", "guess-last", "nope").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("too many failed attempts"));
    let r = attempt(&op, &b, &page, "192.0.2.1", "alice", PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the request is used up"
    );
}

/// The attack: one address guessing one account's password. After a few failures each attempt must wait
/// (429 with `Retry-After`, and the password is not even checked: the right one is refused too); once the wait
/// is over the right password works. Another address is not held back by this pair.
#[tokio::test]
async fn failures_back_off_per_account_and_address() {
    let op = op_with(|c| c).await;
    let attacker = "198.51.100.7";
    // The pages first, so that the fourth attempt follows the third failure at once (the first back-off is one
    // second; a busy machine must not let it pass between them).
    let mut pages = Vec::new();
    for _ in 0..4 {
        pages.push(login_page(&op).await);
    }
    for (b, page) in &pages[..3] {
        let r = attempt(&op, b, page, attacker, "alice", "wrong").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let (b, page) = &pages[3];
    let r = attempt(&op, b, page, attacker, "Alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "case folded too");
    let wait = retry_after(&r);
    assert!((1..=2).contains(&wait), "{wait}");
    assert!(r.text().await.unwrap().contains("Too many attempts"));
    // The user, elsewhere, signs in at once.
    let (b2, page2) = login_page(&op).await;
    let r = attempt(&op, &b2, &page2, "203.0.113.5", "alice", PASSWORD).await;
    assert!(signed_in(r.status()), "another address: {}", r.status());
    // After the wait the attacker's address may try again (and would succeed with the right password).
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    let r = attempt(&op, b, page, attacker, "alice", PASSWORD).await;
    assert!(signed_in(r.status()), "{}", r.status());
}

/// The attack: one address spraying one guess over many accounts. After ADDRESS_FREE failures the address
/// waits, whichever account it names.
#[tokio::test]
async fn one_address_cannot_spray_many_accounts() {
    let op = op_with(|c| c).await;
    let sprayer = "198.51.100.9";
    let free = portcullis_op::authn::throttle::ADDRESS_FREE;
    // The pages first, so that the attempts follow each other at once.
    let mut pages = Vec::new();
    for _ in 0..free + 4 {
        pages.push(login_page(&op).await);
    }
    for (i, (b, page)) in pages[..free as usize].iter().enumerate() {
        let r = attempt(&op, b, page, sprayer, &format!("user{i}"), "Winter2026!").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{i}");
    }
    // The first wait is one second and each further failure doubles it (1, 2, 4 s): a machine slow enough to
    // spend a whole wait between two attempts lets one more through, and the next must wait twice as long.
    let mut refused = None;
    for (i, (b, page)) in pages[free as usize..free as usize + 3].iter().enumerate() {
        let r = attempt(&op, b, page, sprayer, &format!("bob{i}"), "Winter2026!").await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{i}");
    }
    let refused = refused.expect("the address sprayed on without back-off");
    assert!(retry_after(&refused) >= 1);
    let (b, page) = &pages[free as usize + 3];
    let r = attempt(&op, b, page, "192.0.2.77", "bob", PASSWORD).await;
    assert!(signed_in(r.status()), "other addresses are not affected");
}

/// The attack: a burst of bogus attempts, all at once, each from its own address and for its own account (so
/// no back-off applies). The verification queue is bounded: what does not fit is answered 503 with
/// `Retry-After` at once instead of queueing, and a real sign-in afterwards works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_queue_is_bounded() {
    let op = op_with(|c| c).await;
    let mut pages = Vec::new();
    for _ in 0..60 {
        pages.push(login_page(&op).await);
    }
    let answers = join_all(pages.iter().enumerate().map(|(i, (b, page))| {
        let op = &op;
        async move {
            let ip = format!("10.1.{}.{}", i / 200, i % 200 + 1);
            let r = attempt(op, b, page, &ip, &format!("nobody{i}"), "guess").await;
            let after = r.headers().get("retry-after").is_some();
            (r.status(), after)
        }
    }))
    .await;
    let busy: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!busy.is_empty(), "{answers:?}");
    assert!(busy.iter().all(|(_, after)| *after), "{answers:?}");
    assert!(
        answers.iter().all(|(s, _)| matches!(
            *s,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::UNAUTHORIZED
        )),
        "{answers:?}"
    );
    let (b, page) = login_page(&op).await;
    let r = attempt(&op, &b, &page, "192.0.2.200", "alice", PASSWORD).await;
    assert!(signed_in(r.status()), "{}", r.status());
}

/// The attack of the review: anonymous `POST /authorize` calls, each making the provider keep a pending
/// request. Past the configured burst an address gets 429 with `Retry-After` and nothing is stored; other
/// addresses are served.
#[tokio::test]
async fn login_pages_are_rate_limited_per_address() {
    let op = op_with(|c| portcullis_op::config::Config {
        login_pages_burst: 5.0,
        login_pages_per_second: 0.5,
        ..c
    })
    .await;
    let body = AuthReq::new("public", "code", "openid").query();
    let post = |ip: &'static str| {
        op.http
            .post(op.url("/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(IP_HEADER, ip)
            .body(body.clone())
            .send()
    };
    for _ in 0..5 {
        assert_eq!(post("198.51.100.1").await.unwrap().status(), StatusCode::OK);
    }
    let r = post("198.51.100.1").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) >= 1);
    assert_eq!(post("198.51.100.2").await.unwrap().status(), StatusCode::OK);
}

/// A request too large to keep while the user signs in (a huge `claims` value the client may ask for) is
/// refused back to the client instead of being stored.
#[tokio::test]
async fn oversized_pending_requests_are_not_stored() {
    let op = op_with(|c| c).await;
    let claims = format!(
        "{{\"userinfo\":{{\"email\":{{\"value\":\"{}\"}}}}}}",
        "x".repeat(20_000)
    );
    let req = AuthReq::new("public", "code", "openid").set("claims", &claims);
    let mut b = Browser::default();
    let cb = b.authorize_post(&op, &req.query()).await.redirect();
    assert_eq!(cb["error"], "invalid_request", "{cb:?}");
}
