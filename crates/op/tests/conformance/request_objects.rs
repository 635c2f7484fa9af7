//! Plan `oidcc-request-object` (RFC 9101, OpenID Connect Core §6.1): a request object signed with the
//! client's registered key carries the request; forged, unsigned and mis-addressed ones, and clients
//! without registered keys, get `invalid_request_object` at the registered redirect URI. Pushed requests
//! are `par`'s.

use crate::common::*;
use portcullis_jose::{Algorithm, Jwk, JwkSet, jwt};
use reqwest::StatusCode;
use serde_json::{Value, json};

every_case!(signed_request_objects);

/// oidcc-request-object (RFC 9101): a request object signed with the client's registered key carries the
/// request; a forged or unsigned one is invalid_request_object, sent back to the registered redirect URI.
async fn signed_request_objects(op: &Op) {
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    portcullis_op::admin::add_client(
        &op.provider.store,
        "jar",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none",
                "jwks": JwkSet::new(vec![key.to_public().unwrap()]).to_map()}),
    )
    .await
    .unwrap();
    let req = AuthReq::new("jar", "code", "openid email");
    let now = portcullis_op::now();
    let mut claims: serde_json::Map<String, Value> = req
        .pairs
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    claims.insert("iss".into(), json!("jar"));
    claims.insert("aud".into(), json!(op.base));
    claims.insert("exp".into(), json!(now + 300));
    let sign = |k: &Jwk, c: &serde_json::Map<String, Value>| {
        jwt::encode_value(
            &portcullis_jose::jws::Header::new(Algorithm::Es256),
            c,
            &k.signing_key().unwrap(),
        )
        .unwrap()
    };
    let outer = |request: &str| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", "jar")
            .append_pair("response_type", "code")
            .append_pair("scope", "openid")
            .append_pair("redirect_uri", RP)
            .append_pair("request", request)
            .finish()
    };
    let mut b = Browser::default();
    let step = b.authorize(op, &outer(&sign(&key, &claims))).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    assert_eq!(
        cb["state"], req.state,
        "the request object's state, not the query's"
    );
    let (s, t) = token(
        op,
        &[
            ("grant_type", "authorization_code"),
            ("code", &cb["code"]),
            ("redirect_uri", RP),
            ("client_id", "jar"),
            ("code_verifier", req.verifier.as_str()),
        ],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let forged = sign(&Jwk::generate(Algorithm::Es256).unwrap(), &claims);
    let cb = b.authorize(op, &outer(&forged)).await.redirect();
    assert_eq!(cb["error"], "invalid_request_object");
    let mut wrong_aud = claims.clone();
    wrong_aud.insert("aud".into(), json!("https://other.example"));
    let cb = b
        .authorize(op, &outer(&sign(&key, &wrong_aud)))
        .await
        .redirect();
    assert_eq!(cb["error"], "invalid_request_object");
    let unsigned = format!(
        "eyJhbGciOiJub25lIn0.{}.",
        portcullis_jose::base64url::encode(Value::Object(claims.clone()).to_string().as_bytes())
    );
    let cb = b.authorize(op, &outer(&unsigned)).await.redirect();
    assert_eq!(cb["error"], "invalid_request_object");
    // A client without registered keys cannot use request objects.
    let q = outer(&sign(&key, &claims)).replace("client_id=jar", "client_id=public");
    let cb = b.authorize(op, &q).await.redirect();
    assert_eq!(cb["error"], "invalid_request_object");
}
