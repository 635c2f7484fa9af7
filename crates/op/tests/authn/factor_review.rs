//! The holes an attack review of step-up found, each closed and proven with the attack as input: factors changed
//! with the password alone, guesses that a sign-in resets, codes sent without end, a form naming another user,
//! an Auth Token passed off as an ID token, a callback that already carries an answer, a confirmation racing a
//! new set-up, a callback that grows too long to store, a code sent to an address replaced since.

use crate::account::{csrf_of, post};
use crate::common::*;
use crate::factor_support::*;
use portcullis_factor::{Factor, FactorTokenValidator, InMemoryReplayGuard};
use reqwest::StatusCode;

async fn factors_page(op: &Op, b: &Browser) -> String {
    let mut r = op.http.get(op.url("/account/factors"));
    if let Some(c) = b.cookie_header() {
        r = r.header("cookie", c);
    }
    r.send().await.unwrap().text().await.unwrap()
}

/// A code of `seed` other than any in `used` (waits for the next time step).
async fn unused_code(seed: &str, used: &[String]) -> String {
    loop {
        let c = app_code(seed);
        if !used.contains(&c) {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn changing_factors_needs_a_pass_of_one_of_them_not_the_password_alone() {
    let (op, _mail) = op_with_factors(|c| c).await;
    let seed = enrol_app(&op, "alice").await;
    // The attacker has the password: a fresh password session.
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let mut other = Browser::default();
    sign_in(&op, &mut other, "alice").await;
    let page = factors_page(&op, &b).await;
    assert!(page.contains("id=\"confirm-link\""), "{page}");
    for (action, fields) in [
        ("/account/factors/app", vec![]),
        (
            "/account/factors/second_password",
            vec![("second_password", "attacker chosen one")],
        ),
        ("/account/factors/remove", vec![("kind", "mobile_app")]),
        (
            "/account/factors/email",
            vec![("destination", "attacker@example.com")],
        ),
        // Nor a passkey of the attacker's, which would then pass for a factor.
        ("/account/passkeys/new", vec![]),
        ("/account/passkeys/remove", vec![("id", "AAAA")]),
    ] {
        let mut f = vec![("csrf", csrf_of(&page))];
        f.extend(fields.into_iter().map(|(k, v)| (k, v.to_owned())));
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (s, body) = post(&op, &mut b, action, &f).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{action}: {body}");
    }
    let user = user_id(&op, "alice").await;
    let kinds = op.provider.store.factor_kinds(&user).await.unwrap();
    assert_eq!(kinds.len(), 1, "nothing changed: {kinds:?}");
    // Confirming with the app: the account page's step-up, then the change goes through.
    confirm_with_app(&op, &mut b, &seed).await;
    let page = factors_page(&op, &b).await;
    assert!(!page.contains("id=\"confirm-link\""), "{page}");
    let (s, _) = post(
        &op,
        &mut b,
        "/account/factors/second_password",
        &[
            ("csrf", &csrf_of(&page)),
            ("second_password", "a second secret"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // The change ended the user's other sessions.
    let mut r = op.http.get(op.url("/account/factors"));
    r = r.header("cookie", other.cookie_header().unwrap());
    assert_eq!(r.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_factor_locks_after_ten_wrong_answers_and_a_sign_in_does_not_reset_it() {
    let (op, _mail) = op_with_factors(|c| c).await;
    let seed = enrol_app(&op, "alice").await;
    let user = user_id(&op, "alice").await;
    let store = &op.provider.store;
    // Nine wrong answers already counted (from any address, any node).
    for _ in 0..9 {
        store
            .factor_failed(&user, "mobile_app", portcullis_op::now(), 86_400)
            .await
            .unwrap();
    }
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let page = ask(&mut b, &op, &factor_query("app", CALLBACK, "mobile_app")).await;
    let right = app_code(&seed);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let tenth = post_step(
        &mut b,
        &op,
        page.page(),
        &[("method", "mobile_app"), ("code", wrong)],
    )
    .await;
    assert_eq!(tenth.status(), StatusCode::UNAUTHORIZED);
    // Locked: the right code is refused now; signing in again with the password does not unlock it.
    sign_in(&op, &mut b, "alice").await;
    let page = ask(&mut b, &op, &factor_query("app", CALLBACK, "mobile_app")).await;
    let locked = post_step(
        &mut b,
        &op,
        page.page(),
        &[("method", "mobile_app"), ("code", &right)],
    )
    .await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS, "{locked:?}");
    let Answer::Page(_, body) = locked else {
        unreachable!()
    };
    assert!(
        body.contains("Too many wrong answers for this factor"),
        "{body}"
    );
    // An administrator's reset clears it.
    store.factor_passed(&user, None).await.unwrap();
    let page = ask(&mut b, &op, &factor_query("app", CALLBACK, "mobile_app")).await;
    let ok = post_step(
        &mut b,
        &op,
        page.page(),
        &[("method", "mobile_app"), ("code", &right)],
    )
    .await;
    assert!(ok.back().contains_key("auth_token"));
}

#[tokio::test]
async fn a_form_naming_another_user_checks_the_session_users_factor() {
    let (op, _mail) = op_with_factors(|c| c).await;
    let alice_seed = enrol_app(&op, "alice").await;
    enrol_app(&op, "bob").await;
    let mut bob = Browser::default();
    sign_in(&op, &mut bob, "bob").await;
    let page = ask(&mut bob, &op, &factor_query("app", CALLBACK, "mobile_app")).await;
    let alices = app_code(&alice_seed);
    let forged = post_step(
        &mut bob,
        &op,
        page.page(),
        &[
            ("method", "mobile_app"),
            ("username", "alice"),
            ("code", &alices),
        ],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    // Alice's code was not spent by bob's attempt: she can still use it.
    let mut alice = Browser::default();
    sign_in(&op, &mut alice, "alice").await;
    let page = ask(
        &mut alice,
        &op,
        &factor_query("app", CALLBACK, "mobile_app"),
    )
    .await;
    let ok = post_step(
        &mut alice,
        &op,
        page.page(),
        &[("method", "mobile_app"), ("code", &alices)],
    )
    .await;
    assert!(ok.back().contains_key("auth_token"), "{ok:?}");
}

#[tokio::test]
async fn an_auth_token_is_not_an_id_token_hint_and_echoes_the_nonce() {
    let (op, _mail) = op_with_factors(|c| c).await;
    let seed = enrol_app(&op, "alice").await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let query = format!("{}&nonce=n-123", factor_query("public", RP, "mobile_app"));
    let page = ask(&mut b, &op, &query).await;
    let back = post_step(
        &mut b,
        &op,
        page.page(),
        &[
            ("method", "mobile_app"),
            ("code", &unused_code(&seed, &[]).await),
        ],
    )
    .await
    .back();
    let token = back["auth_token"].clone();
    let claims = FactorTokenValidator::new(op.base.clone(), "public", op.jwks().await, ALGS)
        .validate(
            &token,
            &[Factor::MobileApp],
            None,
            &InMemoryReplayGuard::default(),
        )
        .unwrap();
    assert_eq!(claims.nonce.as_deref(), Some("n-123"));
    // Used as an id_token_hint (to log the user out without asking): refused.
    let resp = op
        .http
        .get(op.url(&format!("/end_session?id_token_hint={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn callbacks_that_carry_an_answer_or_grow_too_long_are_refused() {
    let (op, _mail) = op_with_factors(|c| c).await;
    enrol_app(&op, "alice").await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    for callback in [
        format!("{CALLBACK}?auth_token=forged"),
        format!("{CALLBACK}?r=1&error=access_denied"),
        format!("{CALLBACK}?error_description=x"),
    ] {
        let a = ask(&mut b, &op, &factor_query("app", &callback, "mobile_app")).await;
        assert_eq!(a.status(), StatusCode::BAD_REQUEST, "{callback}");
    }
    // Fits the request limit as sent (its `/` unescaped), but not once stored (each kept as `%2F`): refused at
    // once, rather than a request that can be neither answered nor cancelled.
    let query = format!(
        "redirectUrl={CALLBACK}%3Fr%3D{}&clientId=app&factors=mobile_app",
        "/".repeat(2800)
    );
    assert!(query.len() < portcullis_factor::MAX_QUERY);
    let a = ask(&mut b, &op, &query).await;
    assert_eq!(a.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn extra_step_up_callbacks_must_be_https() {
    let (op, _mail) = op_with_factors(|c| c).await;
    enrol_app(&op, "alice").await;
    portcullis_op::admin::add_client(
        &op.provider.store,
        "extra",
        &serde_json::json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none",
                            "factor_callback_uris": ["http://shop.example/stepup", "https://shop.example/stepup"]}),
    )
    .await
    .unwrap();
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let plain = ask(
        &mut b,
        &op,
        &factor_query("extra", "http://shop.example/stepup", "mobile_app"),
    )
    .await;
    assert_eq!(plain.status(), StatusCode::BAD_REQUEST);
    let tls = ask(
        &mut b,
        &op,
        &factor_query("extra", "https://shop.example/stepup?x=1", "mobile_app"),
    )
    .await;
    assert_eq!(tls.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_app_set_up_replaced_meanwhile_is_not_confirmed_with_the_old_seed() {
    let (op, _mail) = op_with_factors(|c| c).await;
    let user = user_id(&op, "alice").await;
    let store = &op.provider.store;
    let t = portcullis_op::now();
    store
        .put_factor(
            &user,
            "mobile_app-setup",
            "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            t,
        )
        .await
        .unwrap();
    // A second set-up began after the first code was checked against the first seed.
    store
        .put_factor(
            &user,
            "mobile_app-setup",
            "KRSXG5DSNFXGOIDBKRSXG5DSNFXGOIDB",
            t,
        )
        .await
        .unwrap();
    assert!(
        !store
            .confirm_app_setup(&user, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", 1, t)
            .await
            .unwrap()
    );
    assert!(store.factor(&user, "mobile_app").await.unwrap().is_none());
    assert!(
        store
            .confirm_app_setup(&user, "KRSXG5DSNFXGOIDBKRSXG5DSNFXGOIDB", 1, t)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_code_sent_before_the_address_changed_no_longer_passes() {
    let (op, mail) = op_with_factors(|c| c).await;
    enrol(&op, "alice", "email", "alice@example.com").await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let page = ask(&mut b, &op, &factor_query("app", CALLBACK, "email")).await;
    let sent = post_step(
        &mut b,
        &op,
        page.page(),
        &[("method", "email"), ("step", "begin")],
    )
    .await;
    let sent = sent.page().to_owned();
    let code = mail.code_for("alice@example.com").await;
    // Meanwhile the enrolled address is replaced.
    enrol(&op, "alice", "email", "new@example.com").await;
    let a = post_step(
        &mut b,
        &op,
        &sent,
        &[
            ("method", "email"),
            ("ceremony", &ceremony_of(&sent)),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(a.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_change_is_told_to_the_address_before_and_after_it() {
    let (op, mail) = op_with_factors(|c| c).await;
    let seed = enrol_app(&op, "alice").await;
    enrol(&op, "alice", "email", "old@example.com").await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    // Confirm with the app, then replace the e-mail address.
    confirm_with_app(&op, &mut b, &seed).await;
    let page = factors_page(&op, &b).await;
    let (s, sent) = post(
        &op,
        &mut b,
        "/account/factors/email",
        &[
            ("csrf", &csrf_of(&page)),
            ("destination", "new@example.com"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{sent}");
    let code = mail.code_for("new@example.com").await;
    let (s, _) = post(
        &op,
        &mut b,
        "/account/factors/email/confirm",
        &[("csrf", &csrf_of(&sent)), ("code", &code)],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let notices = |to: &str| {
        mail.mails
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.contains(&format!("To: {to}")) && m.contains("factors changed"))
            .count()
    };
    assert_eq!(
        notices("old@example.com"),
        1,
        "the address before the change is told"
    );
    assert_eq!(notices("new@example.com"), 1, "and the one after");
}
