//! `/Factor/Authenticate` end to end: each factor passed over HTTP (e-mail through a real SMTP server), the
//! Auth Token it yields, and the refusals next to each accept — callbacks that are not registered or only look
//! like it, unknown factors, wrong, expired, reused and guessed codes, a replayed authenticator-app code, a pass
//! by another user, a step from another browser.

use crate::common::*;
use crate::factor_support::*;
use portcullis_factor::{
    Factor, FactorError, FactorTokenValidator, InMemoryReplayGuard, TOKEN_TYPE,
};
use portcullis_jose::jws;
use reqwest::StatusCode;

/// Validates `token` as the `app` client would (all of the provider's algorithms, its JWKS).
async fn validate(
    op: &Op,
    client: &str,
    token: &str,
    required: &[Factor],
    guard: &InMemoryReplayGuard,
) -> Result<portcullis_factor::FactorClaims, FactorError> {
    FactorTokenValidator::new(op.base.clone(), client, op.jwks().await, ALGS).validate(
        token,
        required,
        Some(300),
        guard,
    )
}

/// Passes the e-mail factor on `page` (the send button), reading the code from the SMTP server.
async fn pass_email(b: &mut Browser, op: &Op, mail: &Mailbox, page: &str, to: &str) -> Answer {
    let sent = post_step(b, op, page, &[("method", "email"), ("step", "begin")]).await;
    let sent = sent.page().to_owned();
    assert!(
        sent.contains("We sent a code by e-mail to a***@example.com"),
        "{sent}"
    );
    let code = mail.code_for(to).await;
    post_step(
        b,
        op,
        &sent,
        &[
            ("method", "email"),
            ("ceremony", &ceremony_of(&sent)),
            ("code", &code),
        ],
    )
    .await
}

#[tokio::test]
async fn auth_token_proves_each_factor_passed_for_the_signed_in_user() {
    let (op, mail) = op_with_factors(|c| c).await;
    let seed = enrol_app(&op, "alice").await;
    enrol(&op, "alice", "email", "alice@example.com").await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let callback = format!("{RP}?r=/Home/Restricted");
    let first = ask(
        &mut b,
        &op,
        &factor_query("public", &callback, "email mobile_app"),
    )
    .await;
    let page = first.page().to_owned();
    // One factor at a time, in the order asked: only the e-mail step now.
    assert!(
        page.contains("id=\"send-email\"") && !page.contains("id=\"app-code\""),
        "{page}"
    );
    let after_email = pass_email(&mut b, &op, &mail, &page, "alice@example.com").await;
    let page = after_email.page().to_owned();
    assert!(
        page.contains("id=\"app-code\"") && page.contains("Done: a code sent by e-mail"),
        "{page}"
    );
    let back = post_step(
        &mut b,
        &op,
        &page,
        &[
            ("method", "mobile_app"),
            ("username", "alice"),
            ("code", &app_code(&seed)),
        ],
    )
    .await
    .back();
    // Back to the callback with its own parameter kept, and the token added.
    assert_eq!(back["r"], "/Home/Restricted");
    let token = &back["auth_token"];
    let header = jws::decode_unverified(token).unwrap().header;
    assert_eq!(header.typ.as_deref(), Some(TOKEN_TYPE));
    assert!(header.kid.is_some(), "names the key");
    let guard = InMemoryReplayGuard::default();
    let claims = validate(
        &op,
        "public",
        token,
        &[Factor::Email, Factor::MobileApp],
        &guard,
    )
    .await
    .unwrap();
    assert_eq!(
        claims.sub,
        user_id(&op, "alice").await,
        "the public client's sub"
    );
    assert_eq!(claims.aud, "public");
    assert_eq!(claims.auth_factor, [Factor::Email, Factor::MobileApp]);
    assert_eq!(claims.amr, ["otp", "mfa"]);
    assert_eq!(claims.exp - claims.iat, 300, "5 minutes by default");
    // Single use at the relying party; refused for another client; refused when tampered with.
    assert_eq!(
        validate(&op, "public", token, &[], &guard).await,
        Err(FactorError::Replayed)
    );
    let fresh = InMemoryReplayGuard::default();
    assert!(validate(&op, "app", token, &[], &fresh).await.is_err());
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    assert!(
        validate(&op, "public", &tampered, &[], &fresh)
            .await
            .is_err()
    );
    // Expired: a validator a little after `exp`.
    let late = FactorTokenValidator::new(op.base.clone(), "public", op.jwks().await, ALGS)
        .at_time(claims.exp + 60);
    assert!(late.validate(token, &[], None, &fresh).is_err());
    // A factor the action needs and the token does not prove.
    assert_eq!(
        validate(&op, "public", token, &[Factor::Sms], &fresh).await,
        Err(FactorError::MissingFactor(Factor::Sms))
    );
}

#[tokio::test]
async fn pairwise_client_gets_its_pairwise_sub_and_a_shorter_lifetime_when_it_asks() {
    let (op, _mail) = op_with_factors(|c| c).await;
    portcullis_op::admin::add_client(
        &op.provider.store,
        "short",
        &serde_json::json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none",
                            "factor_token_lifetime": 60}),
    )
    .await
    .unwrap();
    let seed = enrol_app(&op, "alice").await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let mut subs = Vec::new();
    for (client, lifetime) in [("app", 300), ("short", 60)] {
        let page = ask(&mut b, &op, &factor_query(client, CALLBACK, "mobile_app")).await;
        // Each code once: wait for the next time step rather than reuse one.
        let code = loop {
            let c = app_code(&seed);
            if !subs.iter().any(|(_, used): &(String, String)| *used == c) {
                break c;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        };
        let back = post_step(
            &mut b,
            &op,
            page.page(),
            &[
                ("method", "mobile_app"),
                ("username", "alice"),
                ("code", &code),
            ],
        )
        .await
        .back();
        let claims = validate(
            &op,
            client,
            &back["auth_token"],
            &[Factor::MobileApp],
            &Default::default(),
        )
        .await
        .unwrap();
        assert_eq!(claims.exp - claims.iat, lifetime, "{client}");
        subs.push((claims.sub, code));
    }
    let alice = user_id(&op, "alice").await;
    assert_ne!(subs[0].0, alice, "pairwise: not the internal id");
    assert_eq!(subs[1].0, alice, "a public client sees the internal id");
}

#[tokio::test]
async fn unregistered_and_look_alike_callbacks_get_an_error_page_never_a_redirect() {
    let (op, _mail) = op_with_factors(|c| c).await;
    enrol_app(&op, "alice").await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    for callback in [
        "https://app.example.evil.com/Auth/Callback",
        "https://evil.example/Auth/Callback",
        "https://app.example/Auth/CallbackX",
        "https://app.example/Auth/Callback/extra",
        "https://app.example/Auth",
        "https://app.example/Auth/Callback/../../evil",
        "https://app.example/Auth/%2e%2e/Callback",
        "https://app.example@evil.example/Auth/Callback",
        "https://evil.example@app.example/Auth/Callback",
        "http://app.example/Auth/Callback",
        "https://app.example:8443/Auth/Callback",
        "https://app.example/Auth/Callback#frag",
        "https://app.example\\@evil.example/Auth/Callback",
        "javascript:alert(1)//app.example/Auth/Callback",
        "//evil.example/Auth/Callback",
    ] {
        let a = ask(&mut b, &op, &factor_query("app", callback, "mobile_app")).await;
        assert_eq!(a.status(), StatusCode::BAD_REQUEST, "{callback}: {a:?}");
    }
    // The registered callback with extra parameters is accepted.
    let ok = ask(
        &mut b,
        &op,
        &factor_query("app", &format!("{CALLBACK}?r=/x&y=2"), "mobile_app"),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    // Unknown client and unknown or repeated factors, a parameter given twice, none at all.
    for query in [
        factor_query("nobody", CALLBACK, "mobile_app"),
        factor_query("app", CALLBACK, "retina"),
        factor_query("app", CALLBACK, "email email"),
        factor_query("app", CALLBACK, ""),
        format!("{}&clientId=public", factor_query("app", CALLBACK, "sms")),
        String::new(),
    ] {
        let a = ask(&mut b, &op, &query).await;
        assert_eq!(a.status(), StatusCode::BAD_REQUEST, "{query}: {a:?}");
    }
}

#[tokio::test]
async fn without_a_session_the_user_signs_in_first_then_passes_the_factor() {
    let (op, _mail) = op_with_factors(|c| c).await;
    let seed = enrol_app(&op, "alice").await;
    let mut b = Browser::default();
    let first = ask(&mut b, &op, &factor_query("app", CALLBACK, "mobile_app")).await;
    let page = first.page().to_owned();
    assert!(
        page.contains("id=\"password\"") && !page.contains("id=\"app-code\""),
        "{page}"
    );
    let signed = post_step(
        &mut b,
        &op,
        &page,
        &[
            ("method", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert!(b.session.is_some(), "signed in");
    let page = signed.page().to_owned();
    assert!(page.contains("id=\"app-code\""), "{page}");
    let back = post_step(
        &mut b,
        &op,
        &page,
        &[
            ("method", "mobile_app"),
            ("username", "alice"),
            ("code", &app_code(&seed)),
        ],
    )
    .await;
    assert!(back.back().contains_key("auth_token"));
}

#[tokio::test]
async fn a_replayed_app_code_and_another_users_code_are_refused() {
    let (op, _mail) = op_with_factors(|c| c).await;
    let alice_seed = enrol_app(&op, "alice").await;
    enrol_app(&op, "bob").await;
    let mut alice = Browser::default();
    sign_in(&op, &mut alice, "alice").await;
    let page = ask(
        &mut alice,
        &op,
        &factor_query("app", CALLBACK, "mobile_app"),
    )
    .await;
    let code = app_code(&alice_seed);
    let ok = post_step(
        &mut alice,
        &op,
        page.page(),
        &[
            ("method", "mobile_app"),
            ("username", "alice"),
            ("code", &code),
        ],
    )
    .await;
    assert!(ok.back().contains_key("auth_token"));
    // The same code again, in a new request: refused (its time step was used).
    let page = ask(
        &mut alice,
        &op,
        &factor_query("app", CALLBACK, "mobile_app"),
    )
    .await;
    let again = post_step(
        &mut alice,
        &op,
        page.page(),
        &[
            ("method", "mobile_app"),
            ("username", "alice"),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "{again:?}");
    // Bob's step answered with alice's name and a fresh code of alice's: not bob's factor, refused.
    let mut bob = Browser::default();
    sign_in(&op, &mut bob, "bob").await;
    let page = ask(&mut bob, &op, &factor_query("app", CALLBACK, "mobile_app")).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let next = alice_seed_code_unused(&alice_seed, &code).await;
    let forged = post_step(
        &mut bob,
        &op,
        page.page(),
        &[
            ("method", "mobile_app"),
            ("username", "alice"),
            ("code", &next),
        ],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED, "{forged:?}");
}

/// A code of `seed` other than `used` (waits for the next time step).
async fn alice_seed_code_unused(seed: &str, used: &str) -> String {
    loop {
        let c = app_code(seed);
        if c != used {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn wrong_expired_reused_and_guessed_email_codes_are_refused() {
    let (op, mail) = op_with_factors(|c| c).await;
    enrol(&op, "alice", "email", "alice@example.com").await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let query = factor_query("app", CALLBACK, "email");
    // A right code works once.
    let page = ask(&mut b, &op, &query).await.page().to_owned();
    let ok = pass_email(&mut b, &op, &mail, &page, "alice@example.com").await;
    let used = mail.code_for("alice@example.com").await;
    assert!(ok.back().contains_key("auth_token"));
    // Reused: the code is gone.
    let page = ask(&mut b, &op, &query).await.page().to_owned();
    let sent = post_step(
        &mut b,
        &op,
        &page,
        &[("method", "email"), ("step", "begin")],
    )
    .await;
    let sent = sent.page().to_owned();
    let fresh = mail.code_for("alice@example.com").await;
    assert_ne!(fresh, used, "a new code was sent");
    let reused = post_step(
        &mut b,
        &op,
        &sent,
        &[
            ("method", "email"),
            ("ceremony", &ceremony_of(&sent)),
            ("code", &used),
        ],
    )
    .await;
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);
    // Guessed: five wrong tries of one code (the reused one above, and four more: the store's count, whatever
    // the back-off), then the right one no longer works.
    let user = user_id(&op, "alice").await;
    let store = &op.provider.store;
    for i in 0..4 {
        let wrong = if fresh == "000000" {
            "111111"
        } else {
            "000000"
        };
        let check = portcullis_op::authn::factors::code::check_code(store, (&user, "email"), wrong)
            .await
            .unwrap();
        assert_eq!(check, portcullis_op::store::CodeCheck::Wrong, "try {i}");
    }
    let late = portcullis_op::authn::factors::code::check_code(store, (&user, "email"), &fresh)
        .await
        .unwrap();
    assert_eq!(
        late,
        portcullis_op::store::CodeCheck::NoCode,
        "used up by guesses"
    );
    // Expired: a code whose time has passed is refused even when right.
    let t = portcullis_op::now();
    store
        .put_code(
            &user,
            "email",
            "424242",
            "alice@example.com",
            t - 400,
            t - 100,
        )
        .await
        .unwrap();
    let expired =
        portcullis_op::authn::factors::code::check_code(store, (&user, "email"), "424242")
            .await
            .unwrap();
    assert_eq!(expired, portcullis_op::store::CodeCheck::NoCode);
    // Over HTTP, guesses from one address meet the back-off first.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let page = ask(&mut b, &op, &query).await;
        let page = page.page().to_owned();
        let sent = post_step(
            &mut b,
            &op,
            &page,
            &[("method", "email"), ("step", "begin")],
        )
        .await;
        if let Answer::Page(StatusCode::OK, sent) = sent {
            let a = post_step(
                &mut b,
                &op,
                &sent,
                &[
                    ("method", "email"),
                    ("ceremony", &ceremony_of(&sent)),
                    ("code", "999999"),
                ],
            )
            .await;
            statuses.push(a.status());
        } else {
            statuses.push(sent.status());
        }
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn cancel_goes_back_with_an_error_and_a_missing_factor_is_named() {
    let (op, _mail) = op_with_factors(|c| c).await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let page = ask(&mut b, &op, &factor_query("app", CALLBACK, "sms")).await;
    let page = page.page().to_owned();
    assert!(page.contains("no sms set up"), "{page}");
    assert!(!page.contains("name=\"method\""), "nothing to pass");
    let back = post_step(&mut b, &op, &page, &[("cancel", "1")])
        .await
        .back();
    assert_eq!(back["error"], "access_denied");
    assert!(!back.contains_key("auth_token"));
    // The request is gone after cancelling.
    let again = post_step(&mut b, &op, &page, &[("cancel", "1")]).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_step_is_answered_only_from_its_browser_and_session() {
    let (op, _mail) = op_with_factors(|c| c).await;
    let seed = enrol_app(&op, "alice").await;
    let mut alice = Browser::default();
    sign_in(&op, &mut alice, "alice").await;
    let page = ask(
        &mut alice,
        &op,
        &factor_query("app", CALLBACK, "mobile_app"),
    )
    .await;
    let page = page.page().to_owned();
    // Another browser (bob's session, its own binding cookie) posting alice's form: refused.
    let mut bob = Browser::default();
    sign_in(&op, &mut bob, "bob").await;
    let stolen = post_step(
        &mut bob,
        &op,
        &page,
        &[
            ("method", "mobile_app"),
            ("username", "alice"),
            ("code", &app_code(&seed)),
        ],
    )
    .await;
    assert_eq!(stolen.status(), StatusCode::FORBIDDEN, "{stolen:?}");
    // Alice's browser with bob's session cookie: refused too.
    let mut mixed = Browser {
        session: bob.session.clone(),
        browser: alice.browser.clone(),
    };
    let swapped = post_step(
        &mut mixed,
        &op,
        &page,
        &[
            ("method", "mobile_app"),
            ("username", "alice"),
            ("code", &app_code(&seed)),
        ],
    )
    .await;
    assert_eq!(swapped.status(), StatusCode::FORBIDDEN, "{swapped:?}");
    // A method the page did not offer.
    let other = post_step(
        &mut alice,
        &op,
        &page,
        &[
            ("method", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(other.status(), StatusCode::BAD_REQUEST);
}
