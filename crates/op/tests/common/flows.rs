//! What a relying party sends: an authorization request with PKCE, calls to the token and UserInfo
//! endpoints, and a whole code flow. Beyond `Cache-Control: no-store` on token responses and `state`/`iss`
//! in a code flow, it leaves the checks to the tests.

use portcullis_pkce::{CodeChallenge, CodeVerifier};
use reqwest::StatusCode;
use serde_json::Value;

use super::{Browser, RP, Target};

/// An authorization request for the `public` client with PKCE.
pub struct AuthReq {
    pub verifier: CodeVerifier,
    pub nonce: String,
    pub state: String,
    pub pairs: Vec<(String, String)>,
}

impl AuthReq {
    pub fn new(client: &str, response_type: &str, scope: &str) -> AuthReq {
        let verifier = CodeVerifier::generate();
        let challenge = CodeChallenge::s256(&verifier);
        let nonce = portcullis_op::random_token();
        let state = portcullis_op::random_token();
        let pairs = vec![
            ("response_type".into(), response_type.into()),
            ("client_id".into(), client.into()),
            ("redirect_uri".into(), RP.into()),
            ("scope".into(), scope.into()),
            ("state".into(), state.clone()),
            ("nonce".into(), nonce.clone()),
            ("code_challenge".into(), challenge.as_str().into()),
            ("code_challenge_method".into(), "S256".into()),
        ];
        AuthReq {
            verifier,
            nonce,
            state,
            pairs,
        }
    }

    pub fn set(mut self, k: &str, v: &str) -> Self {
        self.pairs.retain(|(a, _)| a != k);
        self.pairs.push((k.into(), v.into()));
        self
    }

    pub fn without(mut self, k: &str) -> Self {
        self.pairs.retain(|(a, _)| a != k);
        self
    }

    pub fn query(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            s.append_pair(k, v);
        }
        s.finish()
    }
}

pub async fn token(
    op: &impl Target,
    body: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in body {
        form.append_pair(k, v);
    }
    let mut r = op
        .http()
        .post(op.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish());
    if let Some((u, p)) = basic {
        r = r.basic_auth(u, Some(p));
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    (status, resp.json().await.unwrap())
}

pub async fn redeem(op: &impl Target, code: &str, verifier: &str) -> (StatusCode, Value) {
    token(
        op,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP),
            ("client_id", "public"),
            ("code_verifier", verifier),
        ],
        None,
    )
    .await
}

pub async fn userinfo(op: &impl Target, at: &str) -> (StatusCode, Value) {
    let resp = op
        .http()
        .get(op.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    let s = resp.status();
    (s, resp.json().await.unwrap_or(Value::Null))
}

/// A full code flow for `user`: returns the token response.
pub async fn code_flow(
    op: &impl Target,
    browser: &mut Browser,
    user: &str,
    scope: &str,
) -> (AuthReq, Value) {
    let req = AuthReq::new("public", "code", scope);
    let step = browser.authorize(op, &req.query()).await;
    let cb = browser.complete(op, step, user).await.redirect();
    assert_eq!(cb["state"], req.state);
    assert_eq!(cb["iss"], op.base());
    let (status, tokens) = redeem(op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    (req, tokens)
}
