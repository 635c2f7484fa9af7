//! Several methods on one page, and what a record of passed methods proves (`amr`, `acr`).

use crate::common::*;
use crate::support::*;
use portcullis_op::authn::{AuthRecord, MFA_ACR, Methods, PasswordLogin, SECOND_FACTOR_ACR};
use serde_json::{Value, json};

#[tokio::test]
async fn several_methods_are_offered_on_one_page() {
    let (op, _) = op_with_code(None).await;
    let meta: Value = op
        .http
        .get(op.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["acr_values_supported"],
        json!([PWD_ACR, CODE_ACR, MFA_ACR, SECOND_FACTOR_ACR]),
        "a method of another factor than the password can also be a relying party's second factor"
    );
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let Step::Login(page) = b.authorize(&op, &req.query()).await else {
        panic!("login page")
    };
    assert_eq!(page.matches("action=\"/login\"").count(), 2, "{page}");
    assert!(page.contains("name=\"method\" value=\"password\""));
    assert!(page.contains("name=\"method\" value=\"code\""));
    assert!(page.contains("name=\"step\" value=\"begin\""));
    assert!(page.contains("id=\"password\"") && page.contains("id=\"send-code\""));
    // The password form still works without naming its method (the first is the default).
    let step = b.login(&op, &page, "alice").await;
    let t = consent_and_redeem(&mut b, &op, step, &req).await;
    let idt = id_token(&op, &t, &req.nonce).await;
    assert_eq!(
        (idt["acr"].as_str(), &idt["amr"]),
        (Some(PWD_ACR), &json!(["pwd"]))
    );
}

#[tokio::test]
async fn an_unproducible_acr_is_answered_with_what_the_session_has() {
    let (op, _) = op_with_code(None).await;
    let mut b = Browser::default();
    code_flow(&op, &mut b, "alice", "openid").await;
    // Voluntary and unknown: no step-up, the session's acr.
    let req = AuthReq::new("public", "code", "openid").set("acr_values", "urn:other:gold");
    let cb = b.authorize(&op, &req.query()).await.redirect();
    let (_, t) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(id_token(&op, &t, &req.nonce).await["acr"], PWD_ACR);
    // Essential and unknown: refused before anything is asked.
    let claims = json!({"id_token": {"acr": {"essential": true, "values": ["urn:other:gold"]}}});
    let req = AuthReq::new("public", "code", "openid").set("claims", &claims.to_string());
    let cb = b.authorize(&op, &req.query()).await.redirect();
    assert_eq!(cb["error"], "unmet_authentication_requirements");
    // Essential and producible: step-up.
    let claims = json!({"id_token": {"acr": {"essential": true, "values": [MFA_ACR]}}});
    let req = AuthReq::new("public", "code", "openid").set("claims", &claims.to_string());
    assert!(matches!(
        b.authorize(&op, &req.query()).await,
        Step::Login(_)
    ));
}

#[tokio::test]
async fn login_methods_are_refused_when_misconfigured() {
    let outbox = Outbox::default();
    assert!(Methods::new(vec![]).is_err());
    assert!(
        Methods::new(vec![Box::new(PasswordLogin), Box::new(PasswordLogin)]).is_err(),
        "the same id twice"
    );
    for id in [
        "",
        "Pass",
        "pass word",
        "a@b",
        "x".repeat(33).leak() as &str,
    ] {
        let bad = Box::new(NamedPassword(id));
        assert!(Methods::single(bad).is_err(), "{id:?}");
    }
    assert!(Methods::single(Box::new(NamedPassword("pass_2-b"))).is_ok());
    let m = methods(&outbox);
    assert_eq!(m.primary().id(), "password");
    let record = AuthRecord::single("code", 5).with("unknown-method", 6);
    assert_eq!(m.amr(&record), vec!["otp"]);
    assert_eq!(m.acr(&record, &[]), CODE_ACR);
    assert_eq!(m.acr(&record.with("password", 7), &[PWD_ACR]), PWD_ACR);
    assert_eq!(m.acr(&record.with("password", 7), &[]), MFA_ACR);
}

/// The password method under another id.
struct NamedPassword(&'static str);

impl portcullis_op::authn::LoginMethod for NamedPassword {
    fn id(&self) -> &'static str {
        self.0
    }
    fn factor(&self) -> portcullis_op::authn::Factor {
        portcullis_op::authn::Factor::Knowledge
    }
    fn amr(&self) -> &'static [&'static str] {
        &["pwd"]
    }
    fn acr(&self) -> &'static str {
        PWD_ACR
    }
    fn form(&self, page: &portcullis_op::authn::LoginPage<'_>) -> String {
        PasswordLogin.form(page)
    }
    fn verify<'a>(
        &'a self,
        store: &'a portcullis_op::store::Store,
        form: &'a portcullis_oidc::Params,
        state: Option<&'a str>,
    ) -> futures_core::future::BoxFuture<
        'a,
        Result<Option<portcullis_op::store::UserRow>, portcullis_op::store::StoreError>,
    > {
        PasswordLogin.verify(store, form, state)
    }
}
