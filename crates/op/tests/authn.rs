//! The login step over HTTP with two methods: the password and a test-only multi-step method (`code`: begin
//! sends a code out of band, finish checks it). Proves several methods on one page, ceremonies (server-side,
//! single-use, bound, expiring, finished on another node), what the session records (the ID token's `amr`,
//! `acr`, `auth_time`), and step-up that asks only for the missing step.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use futures_core::future::BoxFuture;
use portcullis_oidc::{IdTokenExpectations, Params, verify_id_token};
use portcullis_op::authn::{
    AuthRecord, Challenge, Factor, LoginMethod, LoginPage, MFA_ACR, Methods, PasswordLogin,
    ceremony,
};
use portcullis_op::store::{PendingRow, SessionRow, Store, StoreError, UserRow};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PWD_ACR: &str = "urn:portcullis:acr:password";
const CODE_ACR: &str = "urn:example:code";

/// Codes "sent" by the test method, newest last: (username, code).
type Outbox = Arc<Mutex<Vec<(String, String)>>>;

/// A possession factor in two steps: `begin` draws a code and "sends" it to the user (the outbox); the state
/// kept server-side is `username:code`; `verify` compares the typed code with it.
struct CodeByMail {
    outbox: Outbox,
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

fn methods(outbox: &Outbox) -> Methods {
    Methods::new(vec![
        Box::new(PasswordLogin),
        Box::new(CodeByMail {
            outbox: outbox.clone(),
        }),
    ])
    .unwrap()
}

async fn op_with_code(database_url: Option<String>) -> (Op, Outbox) {
    let outbox = Outbox::default();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), free_port(), database_url);
    (Op::start_methods(cfg, dir, methods(&outbox)).await, outbox)
}

fn last_code(outbox: &Outbox, user: &str) -> String {
    let sent = outbox.lock().unwrap();
    let (to, code) = sent.last().expect("a code was sent").clone();
    assert_eq!(to, user);
    code
}

fn expect<'a>(op: &'a Op, nonce: &'a str) -> IdTokenExpectations<'a> {
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

async fn id_token(op: &Op, tokens: &Value, nonce: &str) -> serde_json::Map<String, Value> {
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
async fn begin_code(b: &mut Browser, op: &impl Target, page: &str, user: &str) -> String {
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

async fn finish_code(b: &mut Browser, op: &impl Target, step: &str, code: &str) -> Step {
    let ceremony = hidden(step, "ceremony").unwrap();
    b.submit(
        op,
        step,
        "/login",
        &[("method", "code"), ("ceremony", &ceremony), ("code", code)],
    )
    .await
}

async fn consent_and_redeem(b: &mut Browser, op: &Op, step: Step, req: &AuthReq) -> Value {
    let step = match step {
        Step::Consent(c) => b.submit(op, &c, "/consent", &[("decision", "allow")]).await,
        other => other,
    };
    let cb = step.redirect();
    let (s, t) = redeem(op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    t
}

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
        json!([PWD_ACR, CODE_ACR, MFA_ACR])
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
async fn a_ceremony_logs_in_with_its_second_step() {
    let (op, outbox) = op_with_code(None).await;
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid offline_access");
    let Step::Login(page) = b.authorize(&op, &req.query()).await else {
        panic!("login page")
    };
    let step = begin_code(&mut b, &op, &page, "alice").await;
    let code = last_code(&outbox, "alice");
    assert!(!step.contains(&code), "the code travels out of band only");
    // A wrong code is a failed attempt, and it burns the ceremony.
    let wrong = finish_code(&mut b, &op, &step, "nope").await;
    let Step::Login(again) = wrong else {
        panic!("{wrong:?}")
    };
    assert!(again.contains("role=\"alert\""));
    let replay = finish_code(&mut b, &op, &step, &code).await;
    assert!(
        matches!(replay, Step::Login(ref p) if p.contains("already used")),
        "{replay:?}"
    );
    // A fresh ceremony with the right code.
    let step = begin_code(&mut b, &op, &again, "alice").await;
    let code = last_code(&outbox, "alice");
    let done = finish_code(&mut b, &op, &step, &code).await;
    let t = consent_and_redeem(&mut b, &op, done, &req).await;
    let idt = id_token(&op, &t, &req.nonce).await;
    assert_eq!(
        (idt["acr"].as_str(), &idt["amr"]),
        (Some(CODE_ACR), &json!(["otp"]))
    );
    // The refreshed ID token says the same of the authentication.
    let (s, r) = token(
        &op,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", "public"),
        ],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let claims = verify_id_token(
        r["id_token"].as_str().unwrap(),
        &op.jwks().await,
        ALGS,
        &IdTokenExpectations {
            nonce: None,
            ..expect(&op, "")
        },
    )
    .unwrap()
    .claims
    .custom;
    assert_eq!(
        (claims["acr"].as_str(), &claims["amr"]),
        (Some(CODE_ACR), &json!(["otp"]))
    );
}

#[tokio::test]
async fn a_ceremony_is_single_use_and_bound_to_its_request_and_method() {
    let (op, outbox) = op_with_code(None).await;
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let Step::Login(page_a) = b.authorize(&op, &req.query()).await else {
        panic!("login page")
    };
    let Step::Login(page_b) = b.authorize(&op, &req.query()).await else {
        panic!("login page")
    };
    let step_a = begin_code(&mut b, &op, &page_a, "alice").await;
    let code = last_code(&outbox, "alice");
    // Ceremony of request A, posted with request B's pending id and CSRF token: refused, and burnt.
    let ceremony = hidden(&step_a, "ceremony").unwrap();
    let moved = b
        .submit(
            &op,
            &page_b,
            "/login",
            &[("method", "code"), ("ceremony", &ceremony), ("code", &code)],
        )
        .await;
    assert!(
        matches!(moved, Step::Login(ref p) if p.contains("role=\"alert\"")),
        "{moved:?}"
    );
    let after = finish_code(&mut b, &op, &step_a, &code).await;
    assert!(
        matches!(after, Step::Login(ref p) if p.contains("already used")),
        "{after:?}"
    );
    // Finished by another method's form: the password method ignores it; no ceremony id is a failure.
    let step_a = begin_code(&mut b, &op, &page_a, "alice").await;
    let no_id = b
        .submit(
            &op,
            &step_a,
            "/login",
            &[("method", "code"), ("code", &last_code(&outbox, "alice"))],
        )
        .await;
    assert!(
        matches!(no_id, Step::Login(ref p) if p.contains("role=\"alert\"")),
        "{no_id:?}"
    );
    // A method the page did not offer, or that does not exist.
    let bad = b
        .submit(&op, &page_a, "/login", &[("method", "passkey")])
        .await;
    assert!(
        matches!(bad, Step::ErrorPage(StatusCode::BAD_REQUEST, _)),
        "{bad:?}"
    );
}

#[tokio::test]
async fn ceremony_state_expires_and_stays_with_its_request() {
    let (op, _) = op_with_code(None).await;
    let store = &op.provider.store;
    let now = portcullis_op::now();
    let pending = PendingRow {
        id: portcullis_op::random_token(),
        kind: "authorize".into(),
        client_id: "public".into(),
        params: String::new(),
        csrf: portcullis_op::random_token(),
        expires_at: now + 600,
    };
    let other = PendingRow {
        id: portcullis_op::random_token(),
        ..pending.clone()
    };
    let id = ceremony::begin(store, &pending, "code", "alice:1234")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ceremony::finish(store, &id, &other, "code").await.unwrap(),
        Err(ceremony::CeremonyError::Mismatch)
    );
    assert_eq!(
        ceremony::finish(store, &id, &pending, "code")
            .await
            .unwrap(),
        Err(ceremony::CeremonyError::Unknown),
        "a mismatch burns it"
    );
    let id = ceremony::begin(store, &pending, "code", "alice:1234")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ceremony::finish(store, &id, &pending, "password")
            .await
            .unwrap(),
        Err(ceremony::CeremonyError::Mismatch)
    );
    let id = ceremony::begin(store, &pending, "code", "alice:1234")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ceremony::finish(store, &id, &pending, "code")
            .await
            .unwrap(),
        Ok("alice:1234".into())
    );
    assert_eq!(
        ceremony::finish(store, &id, &pending, "code")
            .await
            .unwrap(),
        Err(ceremony::CeremonyError::Unknown),
        "single use"
    );
    // Expired: a row past its time is not found.
    store
        .put_pending(&PendingRow {
            id: "expired-ceremony".into(),
            kind: "ceremony".into(),
            client_id: "public".into(),
            params: format!("pending={}&method=code&state=x", pending.id),
            csrf: String::new(),
            expires_at: now - 1,
        })
        .await
        .unwrap();
    assert_eq!(
        ceremony::finish(store, "expired-ceremony", &pending, "code")
            .await
            .unwrap(),
        Err(ceremony::CeremonyError::Unknown)
    );
    let huge = "x".repeat(ceremony::MAX_STATE + 1);
    assert_eq!(
        ceremony::begin(store, &pending, "code", &huge)
            .await
            .unwrap(),
        Err(ceremony::CeremonyError::TooLarge)
    );
}

#[tokio::test]
async fn a_ceremony_begun_on_one_node_finishes_on_another() {
    let pg = PgCluster::start();
    let url = pg.create_db("ceremony").await;
    let (a, outbox) = op_with_code(Some(url.clone())).await;
    let dir_b = tempfile::tempdir().unwrap();
    let mut cfg_b = config(dir_b.path(), free_port(), Some(url));
    cfg_b.issuer = a.base.clone();
    let port_b = cfg_b.listen.rsplit(':').next().unwrap().to_owned();
    let _b_node = Op::start_methods_unseeded(cfg_b, dir_b, methods(&outbox)).await;
    let b_remote = Remote::new(&format!("http://127.0.0.1:{port_b}"));
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let Step::Login(page) = b.authorize(&a, &req.query()).await else {
        panic!("login page")
    };
    let step = begin_code(&mut b, &a, &page, "bob").await;
    let code = last_code(&outbox, "bob");
    let done = finish_code(&mut b, &b_remote, &step, &code).await;
    let t = consent_and_redeem(&mut b, &a, done, &req).await;
    assert_eq!(id_token(&a, &t, &req.nonce).await["amr"], json!(["otp"]));
}

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
    let m = methods(&outbox);
    assert_eq!(m.primary().id(), "password");
    let record = AuthRecord::single("code", 5).with("unknown-method", 6);
    assert_eq!(m.amr(&record), vec!["otp"]);
    assert_eq!(m.acr(&record, &[]), CODE_ACR);
    assert_eq!(m.acr(&record.with("password", 7), &[PWD_ACR]), PWD_ACR);
    assert_eq!(m.acr(&record.with("password", 7), &[]), MFA_ACR);
}
