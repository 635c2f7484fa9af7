//! Multi-step methods: a ceremony logs in with its second step; its state is single use, bound to its request
//! and method, expiring, and finishes on another node.

use crate::common::*;
use crate::support::*;
use portcullis_oidc::{IdTokenExpectations, verify_id_token};
use portcullis_op::authn::ceremony;
use portcullis_op::store::PendingRow;
use reqwest::StatusCode;
use serde_json::json;

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
        browser: String::new(),
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
            browser: String::new(),
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
    // Every node of one deployment has the same key-encryption key.
    cfg_b.kek_file = Some(
        a.provider
            .cfg
            .data_dir
            .join(portcullis_op::data_dir::KEK_FILE),
    );
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
