//! Registration started by a relying party's backend (OpenID Connect Prompt Create 1.0, seed 000): a signed
//! request object with `prompt=create` and the RP's identifier in `login_hint`; the create-a-passkey page; a
//! soft passkey; the code and an ID token whose `sub` is stable. And the refusals: an unsigned or forged
//! registration request is an error page; an identifier that has an account already gets the login page, not a
//! second account.
//!
//! Must not: change the provider or weaken what another test proves.

use portcullis_jose::{Algorithm, Jwk, JwkSet, jwt};
use portcullis_op::authn::{Methods, PasskeyLogin, PasswordLogin};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, Url};

use crate::common::*;

pub(crate) async fn op_with_passkeys() -> Op {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // WebAuthn needs a domain name: localhost, not 127.0.0.1.
    let cfg = portcullis_op::Config {
        issuer: format!("http://localhost:{port}"),
        ..config(dir.path(), port, None)
    };
    let passkey = PasskeyLogin::for_issuer(&cfg.issuer).unwrap();
    let methods = Methods::new(vec![Box::new(PasswordLogin), Box::new(passkey)]).unwrap();
    Op::start_methods(cfg, dir, methods).await
}

/// The RP's backend: its signing key registered with the provider.
pub(crate) async fn backend(op: &Op) -> Jwk {
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    portcullis_op::admin::add_client(
        &op.provider.store,
        "shop",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none",
                "jwks": JwkSet::new(vec![key.to_public().unwrap()]).to_map()}),
    )
    .await
    .unwrap();
    key
}

/// A registration request for `account`, signed with `key`: the query to send the browser with.
pub(crate) fn registration_request(op: &Op, key: &Jwk, req: &AuthReq, account: &str) -> String {
    signed_request(
        op,
        key,
        req,
        &[("prompt", json!("create")), ("login_hint", json!(account))],
    )
}

/// `req` as a request object signed with `key` by the client `shop`, with a `jti` and `extra` claims: the query
/// to send the browser with.
pub(crate) fn signed_request(op: &Op, key: &Jwk, req: &AuthReq, extra: &[(&str, Value)]) -> String {
    let mut claims: Map<String, Value> = req
        .pairs
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    claims.insert("iss".into(), json!("shop"));
    claims.insert("aud".into(), json!(op.base));
    claims.insert("exp".into(), json!(portcullis_op::now() + 300));
    claims.insert("jti".into(), json!(portcullis_op::random_token()));
    for (k, v) in extra {
        claims.insert((*k).into(), v.clone());
    }
    let signed = jwt::encode_value(
        &portcullis_jose::jws::Header::new(Algorithm::Es256).with_typ("oauth-authz-req+jwt"),
        &claims,
        &key.signing_key().unwrap(),
    )
    .unwrap();
    form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "shop")
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", RP)
        .append_pair("request", &signed)
        .finish()
}

pub(crate) fn attribute(page: &str, id: &str) -> String {
    let needle = format!("id=\"{id}\" value=\"");
    let start = page.find(&needle).unwrap_or_else(|| panic!("{id}: {page}")) + needle.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end]
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Runs the registration page with `key`: the provider's answer.
pub(crate) async fn create_passkey(
    op: &Op,
    b: &mut Browser,
    page: &str,
    key: &mut SoftPasskey,
) -> Step {
    let options: CreationChallengeResponse =
        serde_json::from_str(&attribute(page, "passkey-creation-options")).unwrap();
    let created = key
        .do_registration(Url::parse(&op.base).unwrap(), options)
        .unwrap();
    let ceremony = hidden(page, "ceremony").unwrap();
    b.submit(
        op,
        page,
        "/register",
        &[
            ("ceremony", &ceremony),
            ("credential", &serde_json::to_string(&created).unwrap()),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_registration_request_creates_an_account_with_a_passkey() {
    let op = op_with_passkeys().await;
    let rp_key = backend(&op).await;
    let mut b = Browser::default();
    let req = AuthReq::new("shop", "code", "openid");
    let step = b
        .authorize(
            &op,
            &registration_request(&op, &rp_key, &req, "customer-42"),
        )
        .await;
    let Step::ErrorPage(StatusCode::OK, page) = step else {
        panic!("expected the registration page, got {step:?}")
    };
    assert!(page.contains("Create a passkey"), "{page}");
    assert!(
        page.contains("<strong id=\"account\">customer-42</strong>"),
        "{page}"
    );
    let mut key = SoftPasskey::new(true);
    let step = create_passkey(&op, &mut b, &page, &mut key).await;
    let cb = b.complete(&op, step, "unused").await.redirect();
    assert_eq!(cb["state"], req.state);
    let (s, t) = token(
        &op,
        &[
            ("grant_type", "authorization_code"),
            ("code", &cb["code"]),
            ("redirect_uri", RP),
            ("client_id", "shop"),
            ("code_verifier", req.verifier.as_str()),
        ],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (_, info) = userinfo(&op, t["access_token"].as_str().unwrap()).await;
    let sub = info["sub"].as_str().unwrap().to_owned();

    // The same identifier again: no second account, the login page instead.
    let mut other = Browser::default();
    let again = AuthReq::new("shop", "code", "openid");
    let step = other
        .authorize(
            &op,
            &registration_request(&op, &rp_key, &again, "customer-42"),
        )
        .await;
    assert!(matches!(step, Step::Login(_)), "{step:?}");
    let alice = op
        .provider
        .store
        .user_by_name("4:shop:customer-42")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        op.provider
            .store
            .passkeys_of(&alice.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(!sub.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_or_forged_registration_requests_get_an_error_page() {
    let op = op_with_passkeys().await;
    let rp_key = backend(&op).await;
    let mut b = Browser::default();
    // Unsigned: the parameters alone.
    let req = AuthReq::new("shop", "code", "openid")
        .set("prompt", "create")
        .set("login_hint", "customer-1");
    match b.authorize(&op, &req.query()).await {
        Step::ErrorPage(StatusCode::BAD_REQUEST, page) => {
            assert!(page.contains("must be a signed request object"), "{page}")
        }
        other => panic!("expected an error page, got {other:?}"),
    }
    // Signed by someone else's key; and expired.
    let forger = Jwk::generate(Algorithm::Es256).unwrap();
    let req = AuthReq::new("shop", "code", "openid");
    for query in [registration_request(&op, &forger, &req, "customer-1")] {
        match b.authorize(&op, &query).await {
            Step::ErrorPage(StatusCode::BAD_REQUEST, page) => {
                assert!(page.contains("invalid_request_object"), "{page}")
            }
            other => panic!("expected an error page, got {other:?}"),
        }
    }
    // No account was created.
    assert!(
        op.provider
            .store
            .user_by_name("4:shop:customer-1")
            .await
            .unwrap()
            .is_none()
    );
    // A well-signed request still works (the key is the registered one).
    let ok = registration_request(&op, &rp_key, &req, "customer-1");
    assert!(matches!(
        b.authorize(&op, &ok).await,
        Step::ErrorPage(StatusCode::OK, _)
    ));
}
