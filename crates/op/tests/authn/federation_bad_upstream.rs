//! Issue 25, part 2: an upstream that misbehaves. A small fake provider (discovery, keys, an authorization
//! endpoint that answers at once, a token endpoint) hands the hub ID tokens that must not pass: signed by a
//! key it does not publish, for another audience, with another nonce, from another issuer. Each ends in a clean
//! error page (502), and no account is made.
//!
//! Must not: stand for a real provider anywhere else.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use portcullis_jose::{Algorithm, Jwk, JwkSet, jws, jwt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;

use super::federation_support::*;
use crate::common::*;

/// What the fake provider gets wrong.
#[derive(Clone, Copy, Debug)]
enum Fault {
    UnpublishedKey,
    OtherAudience,
    OtherNonce,
    OtherIssuer,
}

struct Fake {
    issuer: String,
    /// Its authorization endpoint.
    authorize: String,
    published: Jwk,
    unpublished: Jwk,
    fault: Mutex<Fault>,
    /// The nonce of the last authorization request.
    nonce: Mutex<String>,
}

async fn discovery(State(f): State<Arc<Fake>>) -> Json<Value> {
    let i = &f.issuer;
    Json(json!({
        "issuer": i, "authorization_endpoint": f.authorize, "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"), "response_types_supported": ["code"],
        "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"]
    }))
}

async fn jwks(State(f): State<Arc<Fake>>) -> Json<Value> {
    Json(Value::Object(
        JwkSet::new(vec![f.published.to_public().unwrap()]).to_map(),
    ))
}

async fn authorize(
    State(f): State<Arc<Fake>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    *f.nonce.lock().unwrap() = q["nonce"].clone();
    let mut to = url::Url::parse(&q["redirect_uri"]).unwrap();
    to.query_pairs_mut()
        .append_pair("code", "fake-code")
        .append_pair("state", &q["state"])
        .append_pair("iss", &f.issuer);
    Redirect::to(to.as_str()).into_response()
}

async fn token(State(f): State<Arc<Fake>>, Form(_): Form<HashMap<String, String>>) -> Json<Value> {
    let fault = *f.fault.lock().unwrap();
    let now = portcullis_op::now();
    let mut claims = json!({"iss": f.issuer, "sub": "fake-user", "aud": "hub", "iat": now, "exp": now + 300,
                            "nonce": *f.nonce.lock().unwrap(), "email": "fake@fake.example"});
    let mut key = &f.published;
    match fault {
        Fault::UnpublishedKey => key = &f.unpublished,
        Fault::OtherAudience => claims["aud"] = json!("someone-else"),
        Fault::OtherNonce => claims["nonce"] = json!("not-the-nonce"),
        Fault::OtherIssuer => claims["iss"] = json!("https://elsewhere.example"),
    }
    let id_token = jwt::encode_value(
        &jws::Header::new(Algorithm::Es256),
        claims.as_object().unwrap(),
        &key.signing_key().unwrap(),
    )
    .unwrap();
    Json(
        json!({"access_token": "fake-at", "token_type": "Bearer", "expires_in": 60, "id_token": id_token}),
    )
}

#[tokio::test]
async fn bad_id_tokens_from_an_upstream_end_in_an_error_page_and_no_account() {
    let listener = tokio::net::TcpListener::bind("127.0.0.4:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let fake = Arc::new(Fake {
        authorize: format!("{issuer}/authorize"),
        issuer: issuer.clone(),
        published: Jwk::generate(Algorithm::Es256).unwrap(),
        unpublished: Jwk::generate(Algorithm::Es256).unwrap(),
        fault: Mutex::new(Fault::UnpublishedKey),
        nonce: Mutex::new(String::new()),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(fake.clone());
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("k.json");
    std::fs::write(
        &key_file,
        Jwk::generate(Algorithm::Es256).unwrap().to_json(),
    )
    .unwrap();
    let f = Federation::start_with(vec![upstream("fake", "Fake Bank", &issuer, &key_file)]).await;
    let users_before = f.hub.provider.store.users().await.unwrap().len();
    for fault in [
        Fault::UnpublishedKey,
        Fault::OtherAudience,
        Fault::OtherNonce,
        Fault::OtherIssuer,
    ] {
        *fake.fault.lock().unwrap() = fault;
        let mut b = Browser::default();
        let req = AuthReq::new("public", "code", "openid");
        let to_fake = f.send_out(&mut b, &req, "fake").await;
        let back = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(&to_fake)
            .send()
            .await
            .unwrap();
        let back = back.headers()["location"].to_str().unwrap().to_owned();
        let step = b.follow(&f.hub, &back).await;
        let Step::ErrorPage(status, body) = step else {
            panic!("{fault:?}: expected an error page, got {step:?}")
        };
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{fault:?}");
        assert!(
            body.contains("Signing in with Fake Bank failed"),
            "{fault:?}: {body}"
        );
    }
    assert_eq!(
        f.hub.provider.store.users().await.unwrap().len(),
        users_before,
        "no account was made"
    );
    task.abort();
}

/// An upstream whose authorization endpoint is on another origin than its issuer: the login page's form-action
/// allows only the issuer's, so the way there is a page of its own (a refresh and a link), not a redirect.
#[tokio::test]
async fn an_authorization_endpoint_elsewhere_is_reached_through_a_page() {
    let listener = tokio::net::TcpListener::bind("127.0.0.5:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let fake = Arc::new(Fake {
        authorize: "http://127.0.0.6:9/authorize".into(),
        issuer: issuer.clone(),
        published: Jwk::generate(Algorithm::Es256).unwrap(),
        unpublished: Jwk::generate(Algorithm::Es256).unwrap(),
        fault: Mutex::new(Fault::OtherNonce),
        nonce: Mutex::new(String::new()),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .with_state(fake.clone());
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("k.json");
    std::fs::write(
        &key_file,
        Jwk::generate(Algorithm::Es256).unwrap().to_json(),
    )
    .unwrap();
    let f = Federation::start_with(vec![upstream("far", "Far Bank", &issuer, &key_file)]).await;
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let Step::Login(page) = b.authorize(&f.hub, &req.query()).await else {
        panic!("login page")
    };
    let step = b
        .submit(&f.hub, &page, "/upstream/start", &[("upstream", "far")])
        .await;
    let Step::ErrorPage(StatusCode::OK, body) = step else {
        panic!("expected the page on, got {step:?}")
    };
    assert!(
        body.contains("<meta http-equiv=\"refresh\" content=\"0;url=http://127.0.0.6:9/authorize?"),
        "{body}"
    );
    assert!(body.contains("id=\"continue\""), "{body}");
    task.abort();
}
