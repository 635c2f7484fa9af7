//! OpenID Connect step-up with the real factors and an authentication level defined as configuration data:
//! `urn:portcullis:acr:mfa` = two methods, one of them an authenticator-app code (or a passkey). A password
//! session asked for it gets exactly the missing step; `max_age` makes it ask again; an essential `acr` the user
//! cannot meet is refused with the error the spec names; discovery publishes the levels.

use crate::common::*;
use crate::factor_support::*;
use crate::support::id_token;
use portcullis_op::authn::MFA_ACR;
use portcullis_op::config::AcrLevel;
use serde_json::json;

async fn op() -> (Op, Mailbox) {
    op_with_factors(|c| portcullis_op::Config {
        acr_levels: vec![AcrLevel {
            acr: MFA_ACR.into(),
            methods: 2,
            one_of: vec!["mobile_app".into()],
        }],
        ..c
    })
    .await
}

#[tokio::test]
async fn a_password_session_asked_for_mfa_gets_only_the_app_step_and_max_age_asks_again() {
    let (op, _mail) = op().await;
    let seed = enrol_app(&op, "alice").await;
    enrol(&op, "alice", "email", "alice@example.com").await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let req = AuthReq::new("public", "code", "openid").set("acr_values", MFA_ACR);
    let Step::Login(page) = b.authorize(&op, &req.query()).await else {
        panic!("the step-up page")
    };
    // E-mail would make two methods, but the level needs the app: only the app is offered.
    assert!(
        page.contains("name=\"method\" value=\"mobile_app\""),
        "{page}"
    );
    assert!(
        !page.contains("value=\"email\"") && !page.contains("id=\"password\""),
        "{page}"
    );
    let first_code = app_code(&seed);
    let step = b
        .submit(
            &op,
            &page,
            "/login",
            &[
                ("method", "mobile_app"),
                ("username", "alice"),
                ("code", &first_code),
            ],
        )
        .await;
    let done = b.complete(&op, step, "alice").await;
    let cb = done.redirect();
    let (_, t) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    let idt = id_token(&op, &t, &req.nonce).await;
    assert_eq!(idt["acr"], MFA_ACR);
    assert_eq!(idt["amr"], json!(["pwd", "otp", "mfa"]));
    // max_age: after it passed, the provider asks again — a full sign-in, then the app again.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let req = AuthReq::new("public", "code", "openid")
        .set("acr_values", MFA_ACR)
        .set("max_age", "1");
    let Step::Login(login) = b.authorize(&op, &req.query()).await else {
        panic!("a sign-in")
    };
    assert!(login.contains("id=\"password\""), "{login}");
    let Step::Login(step_up) = b.login(&op, &login, "alice").await else {
        panic!("the app step again")
    };
    assert!(step_up.contains("value=\"mobile_app\""), "{step_up}");
    let code = loop {
        let c = app_code(&seed);
        if c != first_code {
            break c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let step = b
        .submit(
            &op,
            &step_up,
            "/login",
            &[
                ("method", "mobile_app"),
                ("username", "alice"),
                ("code", &code),
            ],
        )
        .await;
    let cb = b.complete(&op, step, "alice").await.redirect();
    let (_, t) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    let idt = id_token(&op, &t, &req.nonce).await;
    assert_eq!(idt["acr"], MFA_ACR);
    assert!(portcullis_op::now() - idt["auth_time"].as_i64().unwrap() <= 5);
}

#[tokio::test]
async fn an_essential_acr_the_user_cannot_meet_is_refused_and_a_voluntary_one_tells_the_truth() {
    let (op, _mail) = op().await;
    // Bob has no second factor.
    let mut b = Browser::default();
    sign_in(&op, &mut b, "bob").await;
    let claims = json!({"id_token": {"acr": {"essential": true, "values": [MFA_ACR]}}}).to_string();
    let req = AuthReq::new("public", "code", "openid").set("claims", &claims);
    let cb = b.authorize(&op, &req.query()).await.redirect();
    assert_eq!(cb["error"], "unmet_authentication_requirements");
    // Asked voluntarily: answered with what the session has.
    let req = AuthReq::new("public", "code", "openid").set("acr_values", MFA_ACR);
    let step = b.authorize(&op, &req.query()).await;
    let cb = b.complete(&op, step, "bob").await.redirect();
    let (_, t) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    let idt = id_token(&op, &t, &req.nonce).await;
    assert_eq!(idt["acr"], "urn:portcullis:acr:password");
    assert_eq!(idt["amr"], json!(["pwd"]));
}

#[tokio::test]
async fn discovery_publishes_the_factor_acrs_and_the_configured_level() {
    let (op, _mail) = op().await;
    let d: serde_json::Value = op
        .http
        .get(op.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let acrs = d["acr_values_supported"].as_array().unwrap();
    for acr in [
        "urn:portcullis:acr:password",
        "urn:portcullis:acr:mobile_app",
        "urn:portcullis:acr:email",
        "urn:portcullis:acr:sms",
        "urn:portcullis:acr:second_password",
        MFA_ACR,
    ] {
        assert!(acrs.iter().any(|a| a == acr), "{acr} in {acrs:?}");
    }
    // A level naming a method that is not offered is refused at start.
    let dir = tempfile::tempdir().unwrap();
    let cfg = portcullis_op::Config {
        acr_levels: vec![AcrLevel {
            acr: "urn:example:strong".into(),
            methods: 2,
            one_of: vec!["retina".into()],
        }],
        ..config(dir.path(), free_port(), None)
    };
    assert!(portcullis_op::standard_methods(&cfg).is_err());
}
