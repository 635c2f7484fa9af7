//! Step-up: only the missing factor is asked, of the session's own user, from its own browser; `max_age` counts
//! only recent steps.

use crate::common::*;
use crate::support::*;
use portcullis_oidc::{IdTokenExpectations, verify_id_token};
use portcullis_op::authn::{AuthRecord, MFA_ACR};
use portcullis_op::store::SessionRow;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn step_up_asks_only_for_the_missing_factor() {
    let (op, outbox) = op_with_code(None).await;
    let mut b = Browser::default();
    // A password session.
    let (_, t) = code_flow(&op, &mut b, "alice", "openid").await;
    let first = verify_id_token(
        t["id_token"].as_str().unwrap(),
        &op.jwks().await,
        ALGS,
        &IdTokenExpectations {
            nonce: None,
            ..expect(&op, "")
        },
    );
    let first_auth_time = first.unwrap().claims.custom["auth_time"].as_i64().unwrap();
    let password_cookie = b.session.clone().unwrap();
    // An RP wants two factors: only the code method is offered, for alice.
    let req = AuthReq::new("public", "code", "openid").set("acr_values", MFA_ACR);
    let Step::Login(page) = b.authorize(&op, &req.query()).await else {
        panic!("step-up page")
    };
    assert_eq!(page.matches("action=\"/login\"").count(), 1, "{page}");
    assert!(page.contains("name=\"method\" value=\"code\"") && !page.contains("id=\"password\""));
    assert!(!page.contains("code-username"), "the user is known");
    // The password form cannot be used for this step.
    let pw = b.login(&op, &page, "alice").await;
    assert!(
        matches!(pw, Step::ErrorPage(StatusCode::BAD_REQUEST, _)),
        "{pw:?}"
    );
    // Nor can the step-up request be answered as a consent.
    let consent = b
        .submit(&op, &page, "/consent", &[("decision", "allow")])
        .await;
    assert!(
        matches!(consent, Step::ErrorPage(StatusCode::BAD_REQUEST, _)),
        "{consent:?}"
    );
    let step = begin_code(&mut b, &op, &page, "").await;
    let code = last_code(&outbox, "alice");
    let done = finish_code(&mut b, &op, &step, &code).await;
    assert_ne!(
        b.session.as_deref(),
        Some(password_cookie.as_str()),
        "a new cookie"
    );
    let t = consent_and_redeem(&mut b, &op, done, &req).await;
    let idt = id_token(&op, &t, &req.nonce).await;
    assert_eq!(idt["acr"], MFA_ACR);
    assert_eq!(idt["amr"], json!(["pwd", "otp", "mfa"]));
    assert!(idt["auth_time"].as_i64().unwrap() >= first_auth_time);
    // The old cookie no longer signs in.
    let mut old = Browser {
        session: Some(password_cookie),
        ..Default::default()
    };
    assert!(matches!(
        old.authorize(&op, &AuthReq::new("public", "code", "openid").query())
            .await,
        Step::Login(_)
    ));
    // The stronger session satisfies the next two-factor request without asking.
    let req = AuthReq::new("public", "code", "openid").set("acr_values", MFA_ACR);
    let cb = b.authorize(&op, &req.query()).await.redirect();
    let (_, t) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(id_token(&op, &t, &req.nonce).await["acr"], MFA_ACR);
}

#[tokio::test]
async fn step_up_refuses_another_user_and_other_sessions() {
    let (op, outbox) = op_with_code(None).await;
    let mut alice = Browser::default();
    code_flow(&op, &mut alice, "alice", "openid").await;
    let req = AuthReq::new("public", "code", "openid").set("acr_values", CODE_ACR);
    let Step::Login(page) = alice.authorize(&op, &req.query()).await else {
        panic!("step-up page")
    };
    // prompt=none cannot step up.
    let none = alice
        .authorize(&op, &format!("{}&prompt=none", req.query()))
        .await
        .redirect();
    assert_eq!(none["error"], "login_required");
    // Another browser (bob's session) cannot answer alice's step-up page.
    let mut bob = Browser::default();
    code_flow(&op, &mut bob, "bob", "openid").await;
    let stolen = bob
        .submit(
            &op,
            &page,
            "/login",
            &[("method", "code"), ("step", "begin")],
        )
        .await;
    assert!(
        matches!(stolen, Step::ErrorPage(StatusCode::FORBIDDEN, _)),
        "{stolen:?}"
    );
    // A ceremony that proves bob cannot step up alice's session.
    let mut forged = Browser::default();
    let Step::Login(full) = forged
        .authorize(&op, &AuthReq::new("public", "code", "openid").query())
        .await
    else {
        panic!("login page")
    };
    let step = begin_code(&mut forged, &op, &full, "bob").await;
    let bobs_code = last_code(&outbox, "bob");
    let step_alice = begin_code(&mut alice, &op, &page, "").await;
    let ceremony = hidden(&step, "ceremony").unwrap();
    let mixed = alice
        .submit(
            &op,
            &step_alice,
            "/login",
            &[
                ("method", "code"),
                ("ceremony", &ceremony),
                ("code", &bobs_code),
            ],
        )
        .await;
    assert!(
        matches!(mixed, Step::Login(ref p) if p.contains("role=\"alert\"")),
        "{mixed:?}"
    );
}

#[tokio::test]
async fn max_age_asks_again_only_for_the_stale_factor() {
    let (op, _) = op_with_code(None).await;
    let store = &op.provider.store;
    let user = store.user_by_name("alice").await.unwrap().unwrap();
    let now = portcullis_op::now();
    // A two-factor session whose password step is old and whose code step is fresh.
    let record = AuthRecord::single("password", now - 1000).with("code", now - 5);
    let token = portcullis_op::random_token();
    store
        .put_session(
            &portcullis_op::hash(&token),
            &SessionRow {
                sid: portcullis_op::random_token(),
                user_id: user.id.clone(),
                auth_time: now - 5,
                expires_at: now + 3600,
                authn: record.encode(),
            },
        )
        .await
        .unwrap();
    let mut b = Browser {
        session: Some(token),
        ..Default::default()
    };
    // Without max_age the session is two-factor.
    let req = AuthReq::new("public", "code", "openid").set("acr_values", MFA_ACR);
    assert!(matches!(
        b.authorize(&op, &req.query()).await,
        Step::Consent(_)
    ));
    // With max_age=60 only the code counts: the page asks for the password, and only for it.
    let req = req.set("max_age", "60");
    let Step::Login(page) = b.authorize(&op, &req.query()).await else {
        panic!("step-up page")
    };
    assert!(
        page.contains("id=\"password\"") && !page.contains("value=\"code\""),
        "{page}"
    );
    let done = b.login(&op, &page, "alice").await;
    let t = consent_and_redeem(&mut b, &op, done, &req).await;
    let idt = id_token(&op, &t, &req.nonce).await;
    assert_eq!(idt["acr"], MFA_ACR);
    assert_eq!(idt["amr"], json!(["otp", "pwd", "mfa"]));
}
