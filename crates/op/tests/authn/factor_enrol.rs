//! Enrolling step-up factors on the account page (`/account/factors`): an authenticator app from its QR code and
//! first code, an e-mail address (the code through the SMTP server) and a phone number (the code in the
//! development outbox) each by a code, a second password — and the refusals: a wrong first code, a wrong or
//! missing CSRF token, a form from another site, no session, a second password equal to the password. The TOTP
//! seed is stored sealed.

use crate::account::{csrf_of, post};
use crate::common::*;
use crate::factor_support::*;
use portcullis_op::authn::factors::app;
use reqwest::StatusCode;

async fn factors_page(op: &Op, b: &Browser) -> (StatusCode, String) {
    let mut r = op.http.get(op.url("/account/factors"));
    if let Some(c) = b.cookie_header() {
        r = r.header("cookie", c);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

/// Passes the account page's confirmation with the e-mail factor (the code through the SMTP server).
async fn confirm_with_email(op: &Op, b: &mut Browser, mail: &Mailbox) {
    let page = confirm_page(op, b).await;
    let sent = post_step(b, op, &page, &[("method", "email"), ("step", "begin")]).await;
    let sent = sent.page().to_owned();
    let code = mail.code_for("alice@example.com").await;
    let back = post_step(
        b,
        op,
        &sent,
        &[
            ("method", "email"),
            ("ceremony", &ceremony_of(&sent)),
            ("code", &code),
        ],
    )
    .await;
    assert!(back.back().is_empty());
}

/// The text of the element with `id` (up to the next `<`).
fn text_of(page: &str, id: &str) -> String {
    let at = page.find(&format!("id=\"{id}\"")).expect(id);
    let start = page[at..].find('>').unwrap() + at + 1;
    let end = page[start..].find('<').unwrap() + start;
    page[start..end].to_owned()
}

#[tokio::test]
async fn an_authenticator_app_is_set_up_from_its_qr_code_and_confirmed_by_a_first_code() {
    let (op, _mail) = op_with_factors(|c| c).await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let (s, page) = factors_page(&op, &b).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Not set up."), "{page}");
    let (s, setup) = post(
        &op,
        &mut b,
        "/account/factors/app",
        &[("csrf", &csrf_of(&page))],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{setup}");
    assert!(
        setup.contains("<svg") && setup.contains("</svg>"),
        "a QR code"
    );
    let seed = text_of(&setup, "app-secret");
    let uri = text_of(&setup, "otpauth-uri").replace("&amp;", "&");
    assert!(uri.starts_with("otpauth://totp/127.0.0.1:alice?"), "{uri}");
    assert!(uri.contains(&format!("secret={seed}")), "{uri}");
    // Not usable before it is confirmed.
    let user = user_id(&op, "alice").await;
    assert!(
        op.provider
            .store
            .factor(&user, "mobile_app")
            .await
            .unwrap()
            .is_none()
    );
    // A wrong first code: refused, the set-up shown again.
    let right = app::code_at(&seed, portcullis_op::now() as u64).unwrap();
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (s, again) = post(
        &op,
        &mut b,
        "/account/factors/app/confirm",
        &[("csrf", &csrf_of(&setup)), ("code", wrong)],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(again.contains(&seed), "the same set-up");
    let (s, done) = post(
        &op,
        &mut b,
        "/account/factors/app/confirm",
        &[("csrf", &csrf_of(&again)), ("code", &right)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert!(
        done.contains("Authenticator app set up.") && done.contains("id=\"app-state\">Set up."),
        "{done}"
    );
    // Sealed at rest: the database holds no seed in clear.
    let db = op.dir.path().join("portcullis.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let stored: String =
        sqlx::query_scalar("SELECT secret FROM user_factors WHERE kind = 'mobile_app'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        stored.starts_with("kek1.") && !stored.contains(&seed),
        "{stored}"
    );
    // The confirming code cannot pass a step-up afterwards (its time step is used).
    let page = ask(&mut b, &op, &factor_query("app", CALLBACK, "mobile_app")).await;
    let replay = post_step(
        &mut b,
        &op,
        page.page(),
        &[
            ("method", "mobile_app"),
            ("username", "alice"),
            ("code", &right),
        ],
    )
    .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_email_address_and_a_phone_number_are_verified_by_a_code_sent_there() {
    let (op, mail) = op_with_factors(|c| c).await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let (_, page) = factors_page(&op, &b).await;
    let (s, sent) = post(
        &op,
        &mut b,
        "/account/factors/email",
        &[
            ("csrf", &csrf_of(&page)),
            ("destination", "alice@example.com"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{sent}");
    let code = mail.code_for("alice@example.com").await;
    let (s, done) = post(
        &op,
        &mut b,
        "/account/factors/email/confirm",
        &[("csrf", &csrf_of(&sent)), ("code", &code)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert!(done.contains("Verified: a***@example.com."), "{done}");
    // From now on alice has a factor: a change needs a pass of one of them first (here the e-mail).
    confirm_with_email(&op, &mut b, &mail).await;
    let done = factors_page(&op, &b).await.1;
    // The code worked once.
    let (s, _) = post(
        &op,
        &mut b,
        "/account/factors/email/confirm",
        &[("csrf", &csrf_of(&done)), ("code", &code)],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // No SMS gateway configured: the code goes to the development outbox in the data directory.
    let (s, sent) = post(
        &op,
        &mut b,
        "/account/factors/sms",
        &[
            ("csrf", &csrf_of(&done)),
            ("destination", "+1 555 123 4567"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{sent}");
    let outbox = op.dir.path().join("outbox.log");
    let text = std::fs::read_to_string(&outbox).unwrap();
    let line = text.lines().last().unwrap();
    let entry: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        (entry["channel"].as_str(), entry["to"].as_str()),
        (Some("sms"), Some("+15551234567"))
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&outbox).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let code = code_in(entry["body"].as_str().unwrap());
    let (s, done) = post(
        &op,
        &mut b,
        "/account/factors/sms/confirm",
        &[("csrf", &csrf_of(&sent)), ("code", &code)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert!(done.contains("Verified: ***4567."), "{done}");
    // Bad destinations are refused before anything is sent.
    let before = mail.count();
    for (action, bad) in [
        ("/account/factors/email", "not-an-address"),
        (
            "/account/factors/email",
            "a@example.com\r\nBcc: victim@example.com",
        ),
        ("/account/factors/sms", "5551234567"),
    ] {
        let (s, _) = post(
            &op,
            &mut b,
            action,
            &[("csrf", &csrf_of(&done)), ("destination", bad)],
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    // Another new address at once: nothing sent (no flooding other people's inboxes from this page) — not even
    // after the first code was used up by wrong tries.
    let (s, _) = post(
        &op,
        &mut b,
        "/account/factors/email",
        &[
            ("csrf", &csrf_of(&done)),
            ("destination", "one@example.com"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    for _ in 0..5 {
        let (s, _) = post(
            &op,
            &mut b,
            "/account/factors/email/confirm",
            &[("csrf", &csrf_of(&done)), ("code", "000000")],
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
    let (s, page) = post(
        &op,
        &mut b,
        "/account/factors/email",
        &[
            ("csrf", &csrf_of(&done)),
            ("destination", "two@example.com"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("sent moments ago"), "{page}");
    assert_eq!(mail.count(), before + 1);
    // A quota per user: at most 10 codes an hour, whatever the destinations and however long one waits
    // between them. Sent so far: the e-mail code, the confirmation's, the SMS code, and one more.
    let user = user_id(&op, "alice").await;
    let store = &op.provider.store;
    let t = portcullis_op::now() + 60;
    let mut allowed = 0;
    for i in 0..12 {
        if store.count_send(&user, t + i, (10, 3600)).await.unwrap() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10 - 4, "the quota counts every code sent");
}

#[tokio::test]
async fn a_second_password_is_set_and_then_passes_a_step_up() {
    let (op, _mail) = op_with_factors(|c| c).await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let (_, page) = factors_page(&op, &b).await;
    let csrf = csrf_of(&page);
    let (s, _) = post(
        &op,
        &mut b,
        "/account/factors/second_password",
        &[("csrf", &csrf), ("second_password", PASSWORD)],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "the password itself");
    let (s, _) = post(
        &op,
        &mut b,
        "/account/factors/second_password",
        &[("csrf", &csrf), ("second_password", "short")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, done) = post(
        &op,
        &mut b,
        "/account/factors/second_password",
        &[
            ("csrf", &csrf),
            ("second_password", "another secret phrase"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    let page = ask(
        &mut b,
        &op,
        &factor_query("app", CALLBACK, "second_password"),
    )
    .await;
    let page = page.page().to_owned();
    let wrong = post_step(
        &mut b,
        &op,
        &page,
        &[
            ("method", "second_password"),
            ("username", "alice"),
            ("second_password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(
        wrong.status(),
        StatusCode::UNAUTHORIZED,
        "the first password is not the second"
    );
    let page = match wrong {
        Answer::Page(_, p) => p,
        other => panic!("{other:?}"),
    };
    let ok = post_step(
        &mut b,
        &op,
        &page,
        &[
            ("method", "second_password"),
            ("username", "alice"),
            ("second_password", "another secret phrase"),
        ],
    )
    .await;
    assert!(ok.back().contains_key("auth_token"));
    // Removing it: the next request names it as not set up.
    let (_, page) = factors_page(&op, &b).await;
    let (s, _) = post(
        &op,
        &mut b,
        "/account/factors/remove",
        &[("csrf", &csrf_of(&page)), ("kind", "second_password")],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let page = ask(
        &mut b,
        &op,
        &factor_query("app", CALLBACK, "second_password"),
    )
    .await;
    assert!(page.page().contains("no second_password set up"));
}

#[tokio::test]
async fn enrolment_needs_the_session_its_csrf_token_and_a_same_site_form() {
    let (op, _mail) = op_with_factors(|c| c).await;
    let (s, _) = factors_page(&op, &Browser::default()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "no session");
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let (s, _) = post(&op, &mut b, "/account/factors/app", &[]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no CSRF token");
    let (s, _) = post(&op, &mut b, "/account/factors/app", &[("csrf", "forged")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a forged token");
    // Bob's token on alice's session.
    let mut bob = Browser::default();
    sign_in(&op, &mut bob, "bob").await;
    let (_, bobs) = factors_page(&op, &bob).await;
    let (s, _) = post(
        &op,
        &mut b,
        "/account/factors/app",
        &[("csrf", &csrf_of(&bobs))],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "another session's token");
    // A form from another site.
    let (_, page) = factors_page(&op, &b).await;
    let resp = op
        .http
        .post(op.url("/account/factors/app"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .header("cookie", b.cookie_header().unwrap())
        .body(format!("csrf={}", csrf_of(&page)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let user = user_id(&op, "alice").await;
    assert!(
        op.provider
            .store
            .factor_kinds(&user)
            .await
            .unwrap()
            .is_empty(),
        "nothing changed"
    );
}
