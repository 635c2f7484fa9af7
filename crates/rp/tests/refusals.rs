//! What the relying party refuses, against a scripted provider whose keys and answers the test controls:
//! the JWKS refetch is rate-limited, the callback is checked against the issuer the login started with
//! (mix-up, several issuers), `state`, JARM-vs-plain, ID token algorithm/nonce/audience, UserInfo `sub`, and
//! configurations that would be unsafe.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use portcullis_jose::{Algorithm, HmacKey, Jwk, JwkSet, jws, jwt};
use portcullis_oidc::{ResponseMode, ResponseType};
use portcullis_rp::{
    AuthOptions, Callback, ClientAuth, ClientConfig, JwksCache, Login, RelyingParty, RpError,
};
use serde_json::{Value, json};
use tokio::sync::RwLock;

const CLIENT: &str = "rp-test";
const REDIRECT: &str = "http://127.0.0.1:9/cb";

struct Fake {
    issuer: String,
    jwks: RwLock<Value>,
    jwks_hits: AtomicU64,
    userinfo_sub: RwLock<String>,
}

async fn discovery(State(f): State<Arc<Fake>>) -> axum::Json<Value> {
    let i = &f.issuer;
    axum::Json(json!({
        "issuer": i, "authorization_endpoint": format!("{i}/authorize"), "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"), "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code", "id_token", "id_token token", "code id_token"],
        "response_modes_supported": ["query", "fragment", "form_post", "jwt", "query.jwt", "fragment.jwt"],
        "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["ES256"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(State(f): State<Arc<Fake>>) -> axum::Json<Value> {
    f.jwks_hits.fetch_add(1, Ordering::SeqCst);
    axum::Json(f.jwks.read().await.clone())
}

async fn userinfo(State(f): State<Arc<Fake>>) -> axum::Json<Value> {
    axum::Json(json!({"sub": *f.userinfo_sub.read().await, "name": "Someone"}))
}

async fn fake(keys: &[&Jwk]) -> Arc<Fake> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let set: Vec<Value> = keys
        .iter()
        .map(|k| Value::Object(k.to_public().unwrap().to_map()))
        .collect();
    let f = Arc::new(Fake {
        issuer,
        jwks: RwLock::new(json!({ "keys": set })),
        jwks_hits: AtomicU64::new(0),
        userinfo_sub: RwLock::new("user-1".into()),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/userinfo", get(userinfo))
        .with_state(f.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    f
}

fn key(kid: &str) -> Jwk {
    let mut k = Jwk::generate(Algorithm::Es256).unwrap();
    k.set_kid(Some(kid.into()));
    k
}

fn id_token(f: &Fake, k: &Jwk, nonce: &str, aud: &str) -> String {
    let now = jwt::NumericDate::now().as_secs();
    let claims = json!({"iss": f.issuer, "sub": "user-1", "aud": aud, "iat": now, "exp": now + 300, "nonce": nonce});
    jwt::encode_value(
        &jws::Header::new(Algorithm::Es256).with_kid(k.kid().unwrap()),
        &claims,
        &k.signing_key().unwrap(),
    )
    .unwrap()
}

fn rp(issuers: &[&str]) -> RelyingParty {
    let mut c = ClientConfig::new(CLIENT, REDIRECT, ClientAuth::None);
    for i in issuers {
        c = c.issuer(i);
    }
    RelyingParty::new(c).unwrap()
}

fn implicit() -> AuthOptions {
    AuthOptions {
        response_type: Some(ResponseType::ID_TOKEN),
        ..AuthOptions::default()
    }
}

fn cb(pairs: &[(&str, &str)]) -> Callback {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    Callback::parse(&s.finish()).unwrap()
}

#[tokio::test]
async fn unknown_kid_refetches_at_most_once_per_interval() {
    let k1 = key("k1");
    let k2 = key("k2");
    let f = fake(&[&k1]).await;
    let http = portcullis_rp::http_client_builder().build().unwrap();
    let cache = JwksCache::new(&format!("{}/jwks", f.issuer), Duration::from_secs(3600));
    let token = id_token(&f, &k2, "n", CLIENT);
    let verify = |set: &JwkSet| {
        jwt::decode::<serde_json::Map<String, Value>>(
            &token,
            set,
            &jwt::Validation::new(Algorithm::Es256)
                .any_issuer()
                .any_audience(),
        )
    };
    // First use fetches; the unknown kid may trigger one refetch — but the first fetch was just now.
    assert!(cache.with_keys(&http, verify).await.unwrap().is_err());
    assert_eq!(f.jwks_hits.load(Ordering::SeqCst), 1);
    for _ in 0..50 {
        assert!(cache.with_keys(&http, verify).await.unwrap().is_err());
    }
    assert_eq!(
        f.jwks_hits.load(Ordering::SeqCst),
        1,
        "made-up kids do not hammer the provider"
    );

    // Rotation: with a short interval the new key is picked up by exactly one refetch once it is published.
    let cache = JwksCache::new(&format!("{}/jwks", f.issuer), Duration::from_millis(100));
    assert!(cache.with_keys(&http, verify).await.unwrap().is_err());
    let hits = f.jwks_hits.load(Ordering::SeqCst);
    let set: Vec<Value> = [&k1, &k2]
        .iter()
        .map(|k| Value::Object(k.to_public().unwrap().to_map()))
        .collect();
    *f.jwks.write().await = json!({ "keys": set });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        cache.with_keys(&http, verify).await.unwrap().is_ok(),
        "rotated key found"
    );
    assert_eq!(f.jwks_hits.load(Ordering::SeqCst), hits + 1);
    assert!(cache.with_keys(&http, verify).await.unwrap().is_ok());
    assert_eq!(
        f.jwks_hits.load(Ordering::SeqCst),
        hits + 1,
        "known kid: no fetch"
    );
}

#[tokio::test]
async fn implicit_login_accepts_the_right_token_and_refuses_the_rest() {
    let k = key("k1");
    let f = fake(&[&k]).await;
    let rp = rp(&[&f.issuer]);
    let (url, s) = rp.begin(&f.issuer, &implicit()).await.unwrap();
    assert!(url.starts_with(&format!("{}/authorize?", f.issuer)));
    assert!(url.contains("nonce=") && url.contains("state=") && !url.contains("code_challenge"));
    let good = id_token(&f, &k, &s.nonce, CLIENT);
    let login: Login = rp
        .complete(
            &s,
            &cb(&[("id_token", &good), ("state", &s.state), ("iss", &f.issuer)]),
        )
        .await
        .unwrap();
    assert_eq!(login.subject(), "user-1");

    let refuse = |pairs: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, String)> = pairs;
        let c = {
            let v: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            cb(&v)
        };
        let rp = &rp;
        let s = s.clone();
        async move { rp.complete(&s, &c).await.unwrap_err() }
    };
    let iss = f.issuer.clone();
    // state
    let e = refuse(vec![
        ("id_token", good.clone()),
        ("state", "other".into()),
        ("iss", iss.clone()),
    ])
    .await;
    assert!(matches!(e, RpError::StateMismatch), "{e}");
    let e = refuse(vec![("id_token", good.clone()), ("iss", iss.clone())]).await;
    assert!(matches!(e, RpError::StateMismatch), "{e}");
    // iss missing although advertised (RFC 9207), or another issuer's
    let e = refuse(vec![("id_token", good.clone()), ("state", s.state.clone())]).await;
    assert!(matches!(e, RpError::Response(_)), "{e}");
    let e = refuse(vec![
        ("id_token", good.clone()),
        ("state", s.state.clone()),
        ("iss", "https://evil.example".into()),
    ])
    .await;
    assert!(matches!(e, RpError::Response(_)), "{e}");
    // nonce, audience
    let bad = id_token(&f, &k, "another-nonce", CLIENT);
    let e = refuse(vec![
        ("id_token", bad),
        ("state", s.state.clone()),
        ("iss", iss.clone()),
    ])
    .await;
    assert!(
        matches!(
            e,
            RpError::IdToken(portcullis_oidc::IdTokenError::NonceMismatch)
        ),
        "{e}"
    );
    let bad = id_token(&f, &k, &s.nonce, "someone-else");
    let e = refuse(vec![
        ("id_token", bad),
        ("state", s.state.clone()),
        ("iss", iss.clone()),
    ])
    .await;
    assert!(matches!(e, RpError::IdToken(_)), "{e}");
    // HS256 with the public key's bytes as secret (the classic key confusion), and alg none
    let now = jwt::NumericDate::now().as_secs();
    let claims = json!({"iss": iss, "sub": "user-1", "aud": CLIENT, "iat": now, "exp": now + 300, "nonce": s.nonce});
    let hk = HmacKey::new(k.to_public().unwrap().to_json().as_bytes()).unwrap();
    let hs = jwt::encode_value(
        &jws::Header::new(Algorithm::Hs256).with_kid("k1"),
        &claims,
        &hk,
    )
    .unwrap();
    let e = refuse(vec![
        ("id_token", hs),
        ("state", s.state.clone()),
        ("iss", iss.clone()),
    ])
    .await;
    assert!(matches!(e, RpError::IdToken(_)), "{e}");
    let b64 = |v: &Value| portcullis_jose::base64url::encode(v.to_string().as_bytes());
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims));
    let e = refuse(vec![
        ("id_token", none),
        ("state", s.state.clone()),
        ("iss", iss.clone()),
    ])
    .await;
    assert!(matches!(e, RpError::IdToken(_)), "{e}");
    // the response type promised an ID token and nothing else
    let e = refuse(vec![
        ("code", "c".into()),
        ("id_token", good.clone()),
        ("state", s.state.clone()),
        ("iss", iss.clone()),
    ])
    .await;
    assert!(matches!(e, RpError::UnexpectedResponse(_)), "{e}");
    // a JARM response that was not asked for
    let e = refuse(vec![
        ("response", "x.y.z".into()),
        ("state", s.state.clone()),
        ("iss", iss.clone()),
    ])
    .await;
    assert!(matches!(e, RpError::UnexpectedResponse(_)), "{e}");
    // the provider's error is reported (after the state check)
    let e = refuse(vec![
        ("error", "access_denied".into()),
        ("state", s.state.clone()),
        ("iss", iss.clone()),
    ])
    .await;
    assert!(
        matches!(
            e,
            RpError::Provider {
                endpoint: "authorization",
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn jarm_was_requested_so_a_plain_response_is_refused() {
    let k = key("k1");
    let f = fake(&[&k]).await;
    let rp = rp(&[&f.issuer]);
    let opts = AuthOptions {
        response_type: Some(ResponseType::ID_TOKEN),
        response_mode: Some(ResponseMode::Jwt),
        ..AuthOptions::default()
    };
    let (url, s) = rp.begin(&f.issuer, &opts).await.unwrap();
    assert!(url.contains("response_mode=jwt"));
    let good = id_token(&f, &k, &s.nonce, CLIENT);
    let e = rp
        .complete(
            &s,
            &cb(&[("id_token", &good), ("state", &s.state), ("iss", &f.issuer)]),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, RpError::UnexpectedResponse(_)), "{e}");
    // A JARM JWT signed by the provider for us is accepted.
    let now = jwt::NumericDate::now().as_secs();
    let jarm = jwt::encode_value(
        &jws::Header::new(Algorithm::Es256).with_kid("k1"),
        &json!({"iss": f.issuer, "aud": CLIENT, "exp": now + 60, "id_token": good, "state": s.state}),
        &k.signing_key().unwrap(),
    )
    .unwrap();
    let login = rp.complete(&s, &cb(&[("response", &jarm)])).await.unwrap();
    assert_eq!(login.subject(), "user-1");
    // ... but not one for another client.
    let other = jwt::encode_value(
        &jws::Header::new(Algorithm::Es256).with_kid("k1"),
        &json!({"iss": f.issuer, "aud": "other", "exp": now + 60, "id_token": good, "state": s.state}),
        &k.signing_key().unwrap(),
    )
    .unwrap();
    assert!(rp.complete(&s, &cb(&[("response", &other)])).await.is_err());
}

#[tokio::test]
async fn several_issuers_each_callback_checked_against_its_own() {
    let ka = key("ka");
    let kb = key("kb");
    let a = fake(&[&ka]).await;
    let b = fake(&[&kb]).await;
    let rp = rp(&[&a.issuer, &b.issuer]);
    assert!(matches!(
        rp.begin("https://not-configured.example", &implicit())
            .await,
        Err(RpError::UnknownIssuer(_))
    ));
    let (_, sa) = rp.begin(&a.issuer, &implicit()).await.unwrap();
    let (_, sb) = rp.begin(&b.issuer, &implicit()).await.unwrap();
    // B's genuine response delivered to A's login (mix-up): refused by iss, and by the ID token's issuer.
    let tb = id_token(&b, &kb, &sa.nonce, CLIENT);
    let e = rp
        .complete(
            &sa,
            &cb(&[("id_token", &tb), ("state", &sa.state), ("iss", &b.issuer)]),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, RpError::Response(_)), "{e}");
    let e = rp
        .complete(
            &sa,
            &cb(&[("id_token", &tb), ("state", &sa.state), ("iss", &a.issuer)]),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, RpError::IdToken(_)), "{e}");
    // Each login completes with its own issuer.
    let ta = id_token(&a, &ka, &sa.nonce, CLIENT);
    assert!(
        rp.complete(
            &sa,
            &cb(&[("id_token", &ta), ("state", &sa.state), ("iss", &a.issuer)])
        )
        .await
        .is_ok()
    );
    let tb = id_token(&b, &kb, &sb.nonce, CLIENT);
    assert!(
        rp.complete(
            &sb,
            &cb(&[("id_token", &tb), ("state", &sb.state), ("iss", &b.issuer)])
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn userinfo_sub_must_match_the_id_token() {
    let k = key("k1");
    let f = fake(&[&k]).await;
    let rp = rp(&[&f.issuer]);
    let opts = AuthOptions {
        response_type: Some(ResponseType::ID_TOKEN_TOKEN),
        ..AuthOptions::default()
    };
    let (_, s) = rp.begin(&f.issuer, &opts).await.unwrap();
    let at = "access-token-value";
    let now = jwt::NumericDate::now().as_secs();
    let idt = jwt::encode_value(
        &jws::Header::new(Algorithm::Es256).with_kid("k1"),
        &json!({"iss": f.issuer, "sub": "user-1", "aud": CLIENT, "iat": now, "exp": now + 300, "nonce": s.nonce,
                "at_hash": portcullis_oidc::token_hash(Algorithm::Es256, at)}),
        &k.signing_key().unwrap(),
    )
    .unwrap();
    let c = cb(&[
        ("id_token", &idt),
        ("access_token", at),
        ("token_type", "Bearer"),
        ("state", &s.state),
        ("iss", &f.issuer),
    ]);
    let login = rp.complete(&s, &c).await.unwrap();
    assert_eq!(
        rp.userinfo(&f.issuer, &login).await.unwrap()["name"],
        "Someone"
    );
    *f.userinfo_sub.write().await = "user-2".into();
    assert!(matches!(
        rp.userinfo(&f.issuer, &login).await,
        Err(RpError::SubjectMismatch)
    ));
    // at_hash is required for a front-channel access token.
    let (_, s) = rp.begin(&f.issuer, &opts).await.unwrap();
    let no_hash = id_token(&f, &k, &s.nonce, CLIENT);
    let c = cb(&[
        ("id_token", &no_hash),
        ("access_token", at),
        ("token_type", "Bearer"),
        ("state", &s.state),
        ("iss", &f.issuer),
    ]);
    assert!(matches!(
        rp.complete(&s, &c).await,
        Err(RpError::IdToken(
            portcullis_oidc::IdTokenError::AtHashMismatch
        ))
    ));
}

#[test]
fn unsafe_configurations_are_refused() {
    let base =
        || ClientConfig::new(CLIENT, REDIRECT, ClientAuth::None).issuer("https://op.example");
    assert!(RelyingParty::new(base()).is_ok());
    assert!(
        RelyingParty::new(base().algorithms(Algorithm::Hs256)).is_err(),
        "HS* cannot verify a provider"
    );
    assert!(
        RelyingParty::new(base().scope("profile")).is_err(),
        "openid is required"
    );
    assert!(
        RelyingParty::new(ClientConfig::new(CLIENT, REDIRECT, ClientAuth::None)).is_err(),
        "no issuer"
    );
    assert!(
        RelyingParty::new(
            ClientConfig::new(CLIENT, "http://rp.example/cb", ClientAuth::None)
                .issuer("https://op.example")
        )
        .is_err(),
        "plain http off loopback"
    );
    let public = Jwk::generate(Algorithm::Es256)
        .unwrap()
        .to_public()
        .unwrap();
    assert!(
        RelyingParty::new(
            ClientConfig::new(
                CLIENT,
                REDIRECT,
                ClientAuth::PrivateKeyJwt(Box::new(public))
            )
            .issuer("https://op.example")
        )
        .is_err(),
        "private_key_jwt needs a private key"
    );
    let jwt_secret = |s: &str| {
        RelyingParty::new(
            ClientConfig::new(
                CLIENT,
                REDIRECT,
                ClientAuth::SecretJwt(zeroize::Zeroizing::new(s.to_owned())),
            )
            .issuer("https://op.example"),
        )
    };
    assert!(
        jwt_secret("31 bytes is too short for HS256").is_err(),
        "client_secret_jwt needs 32 bytes"
    );
    assert!(jwt_secret("a 32-byte secret for HS256 usage").is_ok());
}
