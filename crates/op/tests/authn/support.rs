//! The test-only second login method (`CodeByMail`, two steps: a code sent out of band, then checked) and the
//! browser steps that drive it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use crate::common::*;
use futures_core::future::BoxFuture;
use portcullis_oidc::{IdTokenExpectations, Params, verify_id_token};
use portcullis_op::authn::{Challenge, Factor, LoginMethod, LoginPage, Methods, PasswordLogin};
use portcullis_op::store::{Store, StoreError, UserRow};
use reqwest::StatusCode;
use serde_json::Value;

pub const PWD_ACR: &str = "urn:portcullis:acr:password";
pub const CODE_ACR: &str = "urn:example:code";

/// Codes "sent" by the test method, newest last: (username, code).
pub type Outbox = Arc<Mutex<Vec<(String, String)>>>;

/// A possession factor in two steps: `begin` draws a code and "sends" it to the user (the outbox); the state
/// kept server-side is `username:code`; `verify` compares the typed code with it.
pub struct CodeByMail {
    pub outbox: Outbox,
}

impl LoginMethod for CodeByMail {
    fn id(&self) -> &'static str {
        "code"
    }
    fn factor(&self) -> Factor {
        Factor::Possession
    }
    fn amr(&self) -> &'static [&'static str] {
        &["otp"]
    }
    fn acr(&self) -> &'static str {
        CODE_ACR
    }
    fn multi_step(&self) -> bool {
        true
    }
    fn form(&self, page: &LoginPage<'_>) -> String {
        match page.user {
            // Values below are fixed text or base64url; nothing to escape.
            Some(_) => "<button type=\"submit\" id=\"send-code\">Send me a code</button>".into(),
            None => "<input name=\"username\" id=\"code-username\"><button type=\"submit\" id=\"send-code\">Send me a code</button>".into(),
        }
    }
    fn begin<'a>(
        &'a self,
        store: &'a Store,
        page: &'a LoginPage<'a>,
        form: &'a Params,
    ) -> BoxFuture<'a, Result<Option<Challenge>, StoreError>> {
        Box::pin(async move {
            let name = match page.user {
                Some(u) => u.username.clone(),
                None => form.get("username").unwrap_or("").to_owned(),
            };
            let code = portcullis_op::random_token()[..8].to_owned();
            // Sent only to users that exist; the page looks the same either way.
            if store.user_by_name(&name).await?.is_some() {
                self.outbox
                    .lock()
                    .unwrap()
                    .push((name.clone(), code.clone()));
            }
            Ok(Some(Challenge {
                state: format!("{name}:{code}"),
                form: "<input name=\"code\" id=\"code\"><button type=\"submit\" id=\"check-code\">Sign in</button>".into(),
            }))
        })
    }
    fn verify<'a>(
        &'a self,
        store: &'a Store,
        form: &'a Params,
        state: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>> {
        Box::pin(async move {
            let Some((name, code)) = state.and_then(|s| s.split_once(':')) else {
                return Ok(None);
            };
            if form.get("code") != Some(code) {
                return Ok(None);
            }
            store.user_by_name(name).await
        })
    }
}

pub fn methods(outbox: &Outbox) -> Methods {
    Methods::new(vec![
        Box::new(PasswordLogin),
        Box::new(CodeByMail {
            outbox: outbox.clone(),
        }),
    ])
    .unwrap()
}

pub async fn op_with_code(database_url: Option<String>) -> (Op, Outbox) {
    let outbox = Outbox::default();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), free_port(), database_url);
    (Op::start_methods(cfg, dir, methods(&outbox)).await, outbox)
}

pub fn last_code(outbox: &Outbox, user: &str) -> String {
    let sent = outbox.lock().unwrap();
    let (to, code) = sent.last().expect("a code was sent").clone();
    assert_eq!(to, user);
    code
}

pub fn expect<'a>(op: &'a Op, nonce: &'a str) -> IdTokenExpectations<'a> {
    IdTokenExpectations {
        issuer: &op.base,
        client_id: "public",
        nonce: Some(nonce),
        max_age: None,
        access_token: None,
        access_token_from_front_channel: false,
        code: None,
        leeway: 5,
    }
}

pub async fn id_token(op: &Op, tokens: &Value, nonce: &str) -> serde_json::Map<String, Value> {
    verify_id_token(
        tokens["id_token"].as_str().unwrap(),
        &op.jwks().await,
        ALGS,
        &expect(op, nonce),
    )
    .unwrap()
    .claims
    .custom
}

/// Begins the code method on a login page (for `user`, or the session's user when `user` is empty).
pub async fn begin_code(b: &mut Browser, op: &impl Target, page: &str, user: &str) -> String {
    let mut fields = vec![("method", "code"), ("step", "begin")];
    if !user.is_empty() {
        fields.push(("username", user));
    }
    let Step::Login(step) = b.submit(op, page, "/login", &fields).await else {
        panic!("the code step")
    };
    assert!(step.contains("name=\"ceremony\""), "{step}");
    assert!(step.contains("id=\"check-code\""));
    step
}

pub async fn finish_code(b: &mut Browser, op: &impl Target, step: &str, code: &str) -> Step {
    let ceremony = hidden(step, "ceremony").unwrap();
    b.submit(
        op,
        step,
        "/login",
        &[("method", "code"), ("ceremony", &ceremony), ("code", code)],
    )
    .await
}

pub async fn consent_and_redeem(b: &mut Browser, op: &Op, step: Step, req: &AuthReq) -> Value {
    let step = match step {
        Step::Consent(c) => b.submit(op, &c, "/consent", &[("decision", "allow")]).await,
        other => other,
    };
    let cb = step.redirect();
    let (s, t) = redeem(op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    t
}
