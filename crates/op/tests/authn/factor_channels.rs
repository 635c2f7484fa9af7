//! The two factors the other step-up tests do not pass over HTTP: a code texted through the SMS webhook (a real
//! HTTP server on loopback that the test starts and reads), and a fresh passkey assertion (a software
//! authenticator) — each end to end through `/Factor/Authenticate`, with the refusal next to it.

use std::sync::{Arc, Mutex};

use crate::common::*;
use crate::factor_support::*;
use crate::passkeys::{assert_of, register};
use axum::http::StatusCode as AxumStatus;
use portcullis_factor::{Factor, FactorTokenValidator, InMemoryReplayGuard};
use reqwest::StatusCode;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

/// An SMS gateway on loopback: the JSON bodies it received; it answers `status`.
async fn gateway(status: u16) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |body: String| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                AxumStatus::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test]
async fn an_sms_code_goes_through_the_webhook_and_passes_the_factor() {
    let (url, got) = gateway(200).await;
    let (op, _mail) = op_with_factors(|c| portcullis_op::Config {
        sms_webhook_url: Some(url),
        ..c
    })
    .await;
    enrol(&op, "alice", "sms", "+15551234567").await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let page = ask(&mut b, &op, &factor_query("app", CALLBACK, "sms")).await;
    let sent = post_step(
        &mut b,
        &op,
        page.page(),
        &[("method", "sms"), ("step", "begin")],
    )
    .await;
    let sent = sent.page().to_owned();
    assert!(sent.contains("***4567"), "{sent}");
    let body = got
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("the gateway got a message");
    assert_eq!(body["to"], "+15551234567");
    let code = code_in(body["message"].as_str().unwrap());
    let back = post_step(
        &mut b,
        &op,
        &sent,
        &[
            ("method", "sms"),
            ("ceremony", &ceremony_of(&sent)),
            ("code", &code),
        ],
    )
    .await
    .back();
    let claims = FactorTokenValidator::new(op.base.clone(), "app", op.jwks().await, ALGS)
        .validate(
            &back["auth_token"],
            &[Factor::Sms],
            None,
            &InMemoryReplayGuard::default(),
        )
        .unwrap();
    assert_eq!(claims.amr, ["sms"]);
}

#[tokio::test]
async fn a_gateway_that_fails_sends_nothing_usable() {
    let (url, got) = gateway(500).await;
    let (op, _mail) = op_with_factors(|c| portcullis_op::Config {
        sms_webhook_url: Some(url),
        ..c
    })
    .await;
    enrol(&op, "alice", "sms", "+15551234567").await;
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let page = ask(&mut b, &op, &factor_query("app", CALLBACK, "sms")).await;
    let failed = post_step(
        &mut b,
        &op,
        page.page(),
        &[("method", "sms"), ("step", "begin")],
    )
    .await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED, "{failed:?}");
    // The gateway was asked, but the code it was given is not kept: it passes nothing.
    let body = got.lock().unwrap().last().cloned().unwrap();
    let code = code_in(body["message"].as_str().unwrap());
    let user = user_id(&op, "alice").await;
    let check =
        portcullis_op::authn::factors::code::check_code(&op.provider.store, (&user, "sms"), &code)
            .await
            .unwrap();
    assert_eq!(check, portcullis_op::store::CodeCheck::NoCode);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_passkey_assertion_passes_the_passkey_factor() {
    let (op, _mail) = op_with_factors(|c| {
        let port = c.listen.rsplit(':').next().unwrap().to_owned();
        portcullis_op::Config {
            issuer: format!("http://localhost:{port}"),
            passkeys: true,
            ..c
        }
    })
    .await;
    let mut key = SoftPasskey::new(true);
    assert!(register(&op, &op.provider.store, "alice", &mut key).await);
    let mut b = Browser::default();
    sign_in(&op, &mut b, "alice").await;
    let page = ask(&mut b, &op, &factor_query("app", CALLBACK, "passkey")).await;
    let begun = post_step(
        &mut b,
        &op,
        page.page(),
        &[("method", "passkey"), ("step", "begin")],
    )
    .await;
    let begun = begun.page().to_owned();
    let credential = serde_json::to_string(&assert_of(&mut key, &op.base, &begun)).unwrap();
    // A forged answer fails.
    let forged = post_step(
        &mut b,
        &op,
        &begun,
        &[
            ("method", "passkey"),
            ("ceremony", &ceremony_of(&begun)),
            ("credential", "{}"),
        ],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED, "{forged:?}");
    // The ceremony was used by the forged answer: begin again, and answer for real.
    let page = match forged {
        Answer::Page(_, p) => p,
        other => panic!("{other:?}"),
    };
    let begun = post_step(
        &mut b,
        &op,
        &page,
        &[("method", "passkey"), ("step", "begin")],
    )
    .await;
    let begun = begun.page().to_owned();
    let fresh = serde_json::to_string(&assert_of(&mut key, &op.base, &begun)).unwrap();
    assert_ne!(fresh, credential);
    let back = post_step(
        &mut b,
        &op,
        &begun,
        &[
            ("method", "passkey"),
            ("ceremony", &ceremony_of(&begun)),
            ("credential", &fresh),
        ],
    )
    .await
    .back();
    let claims = FactorTokenValidator::new(op.base.clone(), "app", op.jwks().await, ALGS)
        .validate(
            &back["auth_token"],
            &[Factor::Passkey],
            None,
            &InMemoryReplayGuard::default(),
        )
        .unwrap();
    assert_eq!(claims.auth_factor, [Factor::Passkey]);
}
