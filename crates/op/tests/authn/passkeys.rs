//! Passkeys as a login method, over HTTP with a software authenticator (webauthn-authenticator-rs's soft
//! passkey): registration (in-process, for now), the username-first sign-in ceremony, and its refusals — a
//! replayed answer, another origin, a tampered signature, a sign counter that went backwards (marked as a
//! possible clone), a registration without user verification.
//!
//! Must not: change the provider or weaken what another test proves.

use portcullis_op::authn::{Methods, PasskeyLogin, PasswordLogin};
use portcullis_op::store::Store;
use reqwest::StatusCode;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{PublicKeyCredential, RequestChallengeResponse, Url};

use crate::common::*;

async fn op_with_passkeys() -> Op {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // WebAuthn needs a domain name: localhost, not 127.0.0.1.
    let cfg = portcullis_op::Config {
        issuer: format!("http://localhost:{port}"),
        ..config(dir.path(), port, None)
    };
    let passkey = PasskeyLogin::for_issuer(&cfg.issuer).unwrap();
    let methods = Methods::new(vec![Box::new(PasswordLogin), Box::new(passkey)]).unwrap();
    Op::start_methods(cfg, dir, methods).await
}

/// Registers a soft passkey for `user` (the registration ceremony, run in-process).
pub(crate) async fn register(
    op: &Op,
    store: &Store,
    user: &str,
    authenticator: &mut SoftPasskey,
) -> bool {
    let method = PasskeyLogin::for_issuer(&op.base).unwrap();
    let user = store.user_by_name(user).await.unwrap().unwrap();
    let registration = method.start_registration(store, &user).await.unwrap();
    let options = registration.options.clone();
    let Ok(answer) = authenticator.do_registration(method.origin().clone(), options) else {
        return false;
    };
    method
        .finish_registration(
            store,
            &user,
            &registration,
            &answer,
            "soft",
            portcullis_op::now(),
        )
        .await
        .unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The WebAuthn request options a passkey page carries.
pub(crate) fn options_of(page: &str) -> RequestChallengeResponse {
    let start = page
        .find("id=\"passkey-options\" value=\"")
        .expect("options")
        + 28;
    let end = page[start..].find('"').unwrap() + start;
    serde_json::from_str(&unescape(&page[start..end])).unwrap()
}

/// Begins the passkey method as `user` (username first); the page of the browser's step.
pub(crate) async fn begin(op: &Op, b: &mut Browser, page: &str, user: &str) -> String {
    let step = b
        .submit(
            op,
            page,
            "/login",
            &[("method", "passkey"), ("step", "begin"), ("username", user)],
        )
        .await;
    let Step::Login(page) = step else {
        panic!("expected the passkey step, got {step:?}")
    };
    assert!(
        page.contains("<script src=\"/passkey.js\"></script>"),
        "{page}"
    );
    page
}

/// Posts an assertion for the ceremony of `page`.
pub(crate) async fn answer(op: &Op, b: &mut Browser, page: &str, credential: &str) -> Step {
    let ceremony = hidden(page, "ceremony").unwrap();
    b.submit(
        op,
        page,
        "/login",
        &[
            ("method", "passkey"),
            ("ceremony", &ceremony),
            ("credential", credential),
        ],
    )
    .await
}

pub(crate) fn assert_of(
    authenticator: &mut SoftPasskey,
    origin: &str,
    page: &str,
) -> PublicKeyCredential {
    authenticator
        .do_authentication(Url::parse(origin).unwrap(), options_of(page))
        .unwrap()
}

pub(crate) async fn login_page(op: &Op, b: &mut Browser) -> String {
    let req = AuthReq::new("public", "code", "openid");
    let Step::Login(page) = b.authorize(op, &req.query()).await else {
        panic!("expected the login page")
    };
    page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_signs_in_and_refuses_replays_origins_and_tampering() {
    let op = op_with_passkeys().await;
    let store = &op.provider.store;
    let mut key = SoftPasskey::new(true);
    assert!(register(&op, store, "alice", &mut key).await);
    let mut b = Browser::default();
    let page = login_page(&op, &mut b).await;
    assert!(page.contains("Sign in with a passkey"), "{page}");

    // Another origin of the same host (another port: a different web origin): refused.
    let step_page = begin(&op, &mut b, &page, "alice").await;
    let evil = assert_of(&mut key, "http://localhost:1", &step_page);
    let step = answer(
        &op,
        &mut b,
        &step_page,
        &serde_json::to_string(&evil).unwrap(),
    )
    .await;
    assert!(
        matches!(step, Step::Login(ref p) if p.contains("not accepted")),
        "{step:?}"
    );

    // A tampered signature: refused.
    let step_page = begin(&op, &mut b, &page, "alice").await;
    let mut good = serde_json::to_value(assert_of(&mut key, &op.base, &step_page)).unwrap();
    let sig = good["response"]["signature"].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('A') { "B" } else { "A" },
        &sig[1..]
    );
    good["response"]["signature"] = serde_json::json!(flipped);
    let step = answer(&op, &mut b, &step_page, &good.to_string()).await;
    assert!(matches!(step, Step::Login(_)), "{step:?}");

    // The real answer signs in; the same answer again (a replay) is refused.
    let step_page = begin(&op, &mut b, &page, "alice").await;
    let real = serde_json::to_string(&assert_of(&mut key, &op.base, &step_page)).unwrap();
    let step = answer(&op, &mut b, &step_page, &real).await;
    let cb = b.complete(&op, step, "alice").await.redirect();
    assert!(cb.contains_key("code"), "{cb:?}");
    let replay = answer(&op, &mut Browser::default(), &step_page, &real).await;
    assert!(!matches!(replay, Step::Redirect(_)), "{replay:?}");
    let row = &store
        .passkeys_of(&store.user_by_name("alice").await.unwrap().unwrap().id)
        .await
        .unwrap()[0];
    assert!(row.last_used_at.is_some());
}

/// A sign counter that went backwards (the stored counter is ahead of the authenticator's: a clone that signs
/// with an older state) is refused and marks the credential as a possible clone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_that_went_backwards_is_refused_and_recorded() {
    let op = op_with_passkeys().await;
    let store = &op.provider.store;
    let mut key = SoftPasskey::new(true);
    assert!(register(&op, store, "alice", &mut key).await);
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    let row = store.passkeys_of(&alice.id).await.unwrap().remove(0);
    // The original authenticator has already signed 100 times: the stored counter says so.
    let mut credential: serde_json::Value = serde_json::from_str(&row.credential).unwrap();
    credential["cred"]["counter"] = serde_json::json!(100);
    store
        .passkey_used(
            &row.credential_id,
            &credential.to_string(),
            (false, false),
            1,
        )
        .await
        .unwrap();
    let mut b = Browser::default();
    let page = login_page(&op, &mut b).await;
    let step_page = begin(&op, &mut b, &page, "alice").await;
    let stale = serde_json::to_string(&assert_of(&mut key, &op.base, &step_page)).unwrap();
    let step = answer(&op, &mut b, &step_page, &stale).await;
    assert!(matches!(step, Step::Login(_)), "{step:?}");
    assert!(store.passkeys_of(&alice.id).await.unwrap()[0].suspect_clone);
    // A credential marked so is no longer offered.
    let step_page = begin(&op, &mut b, &page, "alice").await;
    assert!(
        options_of(&step_page)
            .public_key
            .allow_credentials
            .is_empty()
    );
}

/// User verification is required: an authenticator that does not verify its user cannot register.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_without_user_verification_is_refused() {
    let op = op_with_passkeys().await;
    let store = &op.provider.store;
    let mut no_uv = SoftPasskey::new(false);
    assert!(!register(&op, store, "alice", &mut no_uv).await);
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    assert!(store.passkeys_of(&alice.id).await.unwrap().is_empty());
    // The login page still offers passwords; a passkey ceremony for alice has nothing to answer with.
    let mut b = Browser::default();
    let page = login_page(&op, &mut b).await;
    let step = b
        .submit(
            &op,
            &page,
            "/login",
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("method", "password"),
            ],
        )
        .await;
    assert!(!matches!(
        step,
        Step::ErrorPage(StatusCode::INTERNAL_SERVER_ERROR, _)
    ));
}
