//! Issue 22, item 4 (request objects): a request object's `jti` is accepted once, at `/authorize` and at `/par`
//! alike; a `typ` that names another kind of JWT is refused (RFC 9101 §10.8).
//!
//! Must not: change the provider or weaken what another test proves.

use portcullis_jose::jws::Header;
use portcullis_jose::{Algorithm, Jwk, JwkSet, jwt};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::common::*;

struct Jar {
    key: Jwk,
    claims: Map<String, Value>,
}

impl Jar {
    async fn register(op: &Op) -> Jar {
        let key = Jwk::generate(Algorithm::Es256).unwrap();
        portcullis_op::admin::add_client_with_secret(
            &op.provider.store,
            "jar",
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_basic",
                    "jwks": JwkSet::new(vec![key.to_public().unwrap()]).to_map()}),
            "jar-secret-jar-secret",
        )
        .await
        .unwrap();
        let req = AuthReq::new("jar", "code", "openid");
        let mut claims: Map<String, Value> = req
            .pairs
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        claims.insert("iss".into(), json!("jar"));
        claims.insert("aud".into(), json!(op.base));
        claims.insert("exp".into(), json!(portcullis_op::now() + 300));
        Jar { key, claims }
    }

    fn sign(&self, header: Header, claims: &Map<String, Value>) -> String {
        jwt::encode_value(&header, claims, &self.key.signing_key().unwrap()).unwrap()
    }
}

/// An authorization request carried by `request`, with the outer parameters OAuth needs to route it.
fn outer(request: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "jar")
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", RP)
        .append_pair("request", request)
        .finish()
}

/// A pushed request carried by `request` (RFC 9126 §3: then only `client_id` and the request object).
fn pushed(request: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "jar")
        .append_pair("request", request)
        .finish()
}

async fn push(op: &Op, request: &str) -> (StatusCode, Value) {
    let resp = op
        .http
        .post(op.url("/par"))
        .basic_auth("jar", Some("jar-secret-jar-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(pushed(request))
        .send()
        .await
        .unwrap();
    let s = resp.status();
    (s, resp.json().await.unwrap())
}

/// The attack: one captured request object, replayed. The second use is `invalid_request_object`.
#[tokio::test]
async fn request_object_jti_is_single_use() {
    let op = Op::sqlite().await;
    let jar = Jar::register(&op).await;
    let mut claims = jar.claims.clone();
    claims.insert("jti".into(), json!(portcullis_op::random_token()));
    let obj = jar.sign(Header::new(Algorithm::Es256), &claims);
    let mut b = Browser::default();
    let Step::Login(_) = b.authorize(&op, &outer(&obj)).await else {
        panic!("the first use is accepted")
    };
    let cb = b.authorize(&op, &outer(&obj)).await.redirect();
    assert_eq!(cb["error"], "invalid_request_object", "{cb:?}");
    // Pushed: the same object cannot be pushed again either, nor pushed after it was used at /authorize.
    let mut claims = jar.claims.clone();
    claims.insert("jti".into(), json!(portcullis_op::random_token()));
    let obj = jar.sign(Header::new(Algorithm::Es256), &claims);
    let (s, body) = push(&op, &obj).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, body) = push(&op, &obj).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request_object", "{body}");
    let cb = b.authorize(&op, &outer(&obj)).await.redirect();
    assert_eq!(cb["error"], "invalid_request_object", "{cb:?}");
    // Objects without a jti are unaffected (the jti is optional in RFC 9101).
    let plain = jar.sign(Header::new(Algorithm::Es256), &jar.claims);
    for _ in 0..2 {
        let Step::Login(_) = b.authorize(&op, &outer(&plain)).await else {
            panic!("an object without jti is accepted")
        };
    }
}

/// The attack: a JWT of another kind (here typed as an access token, `at+jwt`) signed by the client's key,
/// presented as a request object. Refused; the request object's own type and the generic `JWT` are accepted.
#[tokio::test]
async fn request_object_typ_must_be_a_request_objects() {
    let op = Op::sqlite().await;
    let jar = Jar::register(&op).await;
    let mut b = Browser::default();
    for bad in [
        "at+jwt",
        "logout+jwt",
        "application/dpop+jwt",
        "secevent+jwt",
    ] {
        let obj = jar.sign(Header::new(Algorithm::Es256).with_typ(bad), &jar.claims);
        let cb = b.authorize(&op, &outer(&obj)).await.redirect();
        assert_eq!(cb["error"], "invalid_request_object", "{bad}: {cb:?}");
        let (s, body) = push(&op, &obj).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    for good in [
        "oauth-authz-req+jwt",
        "application/oauth-authz-req+jwt",
        "JWT",
        "jwt",
    ] {
        let obj = jar.sign(Header::new(Algorithm::Es256).with_typ(good), &jar.claims);
        let step = b.authorize(&op, &outer(&obj)).await;
        assert!(matches!(step, Step::Login(_)), "{good}: {step:?}");
    }
}
