//! Security review of the passkey changes (PasskeyLogin, /register, prompt=create): attacks over HTTP, each
//! asserting the safe behaviour.
//!
//! Must not: change the provider or weaken what another test proves.

use portcullis_jose::{Algorithm, Jwk, JwkSet, jwt};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url, Uuid};

use super::passkeys::{begin, login_page, options_of, register};
use super::registration::{attribute, op_with_passkeys};
use crate::common::*;

/// Registers `client` with a fresh signing key (a relying party's backend).
pub(crate) async fn backend_for(op: &Op, client: &str) -> Jwk {
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    portcullis_op::admin::add_client(
        &op.provider.store,
        client,
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none",
                "jwks": JwkSet::new(vec![key.to_public().unwrap()]).to_map()}),
    )
    .await
    .unwrap();
    key
}

/// A signed prompt=create request of `client` for `account`, with `extra` claims.
pub(crate) fn create_query(
    op: &Op,
    key: &Jwk,
    client: &str,
    req: &AuthReq,
    account: &str,
    extra: &[(&str, Value)],
) -> String {
    let mut claims: Map<String, Value> = req
        .pairs
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    claims.insert("client_id".into(), json!(client));
    claims.insert("iss".into(), json!(client));
    claims.insert("aud".into(), json!(op.base));
    claims.insert("exp".into(), json!(portcullis_op::now() + 300));
    claims.insert("prompt".into(), json!("create"));
    claims.insert("jti".into(), json!(portcullis_op::random_token()));
    claims.insert("login_hint".into(), json!(account));
    for (k, v) in extra {
        // `Value::Null` removes a claim (a request without `jti`).
        if v.is_null() {
            claims.remove(*k);
        } else {
            claims.insert((*k).into(), v.clone());
        }
    }
    let signed = signed_object(key, &claims);
    form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", RP)
        .append_pair("request", &signed)
        .finish()
}

pub(crate) fn signed_object(key: &Jwk, claims: &Map<String, Value>) -> String {
    jwt::encode_value(
        &portcullis_jose::jws::Header::new(Algorithm::Es256).with_typ("oauth-authz-req+jwt"),
        claims,
        &key.signing_key().unwrap(),
    )
    .unwrap()
}

/// The registration page for `account` of `client`.
pub(crate) async fn reg_page(
    op: &Op,
    b: &mut Browser,
    key: &Jwk,
    client: &str,
    account: &str,
) -> String {
    let req = AuthReq::new(client, "code", "openid");
    match b
        .authorize(op, &create_query(op, key, client, &req, account, &[]))
        .await
    {
        Step::ErrorPage(StatusCode::OK, page) if page.contains("Create a passkey") => page,
        other => panic!("expected the registration page, got {other:?}"),
    }
}

/// A soft passkey's answer to the registration page: (ceremony id, credential JSON, credential id b64url).
pub(crate) fn make_credential(
    op: &Op,
    page: &str,
    key: &mut SoftPasskey,
) -> (String, String, String) {
    let options: CreationChallengeResponse =
        serde_json::from_str(&attribute(page, "passkey-creation-options")).unwrap();
    let created = key
        .do_registration(Url::parse(&op.base).unwrap(), options)
        .unwrap();
    let v = serde_json::to_value(&created).unwrap();
    (
        hidden(page, "ceremony").unwrap(),
        v.to_string(),
        v["rawId"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn post_register(
    op: &Op,
    b: &mut Browser,
    page: &str,
    ceremony: &str,
    cred: &str,
) -> Step {
    b.submit(
        op,
        page,
        "/register",
        &[("ceremony", ceremony), ("credential", cred)],
    )
    .await
}

pub(crate) fn not_500(step: &Step, what: &str) {
    if let Step::ErrorPage(s, body) = step {
        assert!(!s.is_server_error(), "{what}: {s} {body}");
    }
}

pub(crate) fn refused(step: &Step) -> bool {
    matches!(step, Step::ErrorPage(s, _) if s.is_client_error())
}

pub(crate) async fn user_named(op: &Op, name: &str) -> Option<portcullis_op::store::UserRow> {
    op.provider.store.user_by_name(name).await.unwrap()
}

/// A discoverable assertion by `key` for `cred_id`, claiming the user handle `handle` (not signed).
pub(crate) fn discoverable_assert(
    op: &Op,
    key: &mut SoftPasskey,
    page: &str,
    cred_id: &str,
    handle: Option<&str>,
) -> String {
    let mut v = serde_json::to_value(options_of(page)).unwrap();
    assert!(
        v["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "expected a discoverable ceremony"
    );
    v["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": cred_id}]);
    let opts: RequestChallengeResponse = serde_json::from_value(v).unwrap();
    let a = key
        .do_authentication(Url::parse(&op.base).unwrap(), opts)
        .unwrap();
    let mut a = serde_json::to_value(&a).unwrap();
    if let Some(h) = handle {
        let u = Uuid::parse_str(h).unwrap();
        a["response"]["userHandle"] = json!(portcullis_jose::base64url::encode(u.as_bytes()));
    }
    a.to_string()
}

pub(crate) async fn login_answer(
    op: &Op,
    b: &mut Browser,
    step_page: &str,
    credential: &str,
) -> Step {
    let ceremony = hidden(step_page, "ceremony").unwrap();
    b.submit(
        op,
        step_page,
        "/login",
        &[
            ("method", "passkey"),
            ("ceremony", &ceremony),
            ("credential", credential),
        ],
    )
    .await
}

pub(crate) fn signed_in(step: &Step) -> bool {
    matches!(step, Step::Consent(_) | Step::Redirect(_))
}

// ---------------------------------------------------------------------------------------------------------

/// A passkey-only account (password_hash "") cannot be signed in to with an empty or any password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_passkey_only_user_has_no_password() {
    let op = op_with_passkeys().await;
    let key = backend_for(&op, "shop").await;
    let mut b = Browser::default();
    let page = reg_page(&op, &mut b, &key, "shop", "cust-3").await;
    let mut sk = SoftPasskey::new(true);
    let (c, cred, _) = make_credential(&op, &page, &mut sk);
    assert!(signed_in(
        &post_register(&op, &mut b, &page, &c, &cred).await
    ));
    for pw in ["", " ", "x", PASSWORD] {
        let mut other = Browser::default();
        let login = login_page(&op, &mut other).await;
        let step = other
            .submit(
                &op,
                &login,
                "/login",
                &[
                    ("method", "password"),
                    ("username", "4:shop:cust-3"),
                    ("password", pw),
                ],
            )
            .await;
        assert!(matches!(step, Step::Login(_)), "password {pw:?}: {step:?}");
    }
}

/// Discoverable sign-in: a user handle other than the stored one (the handle is not signed), or none, is
/// refused; the stored one works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_discoverable_user_handle_must_match() {
    let op = op_with_passkeys().await;
    let store = &op.provider.store;
    let mut ka = SoftPasskey::new(true);
    let mut kb = SoftPasskey::new(true);
    assert!(register(&op, store, "alice", &mut ka).await);
    assert!(register(&op, store, "bob", &mut kb).await);
    let alice = user_named(&op, "alice").await.unwrap();
    let bob = user_named(&op, "bob").await.unwrap();
    let a = store.passkeys_of(&alice.id).await.unwrap().remove(0);
    let bk = store.passkeys_of(&bob.id).await.unwrap().remove(0);

    for (handle, ok) in [
        (Some(bk.user_handle.as_str()), false),
        (None, false),
        (Some(a.user_handle.as_str()), true),
    ] {
        let mut b = Browser::default();
        let page = login_page(&op, &mut b).await;
        let step_page = begin(&op, &mut b, &page, "").await;
        let cred = discoverable_assert(&op, &mut ka, &step_page, &a.credential_id, handle);
        let step = login_answer(&op, &mut b, &step_page, &cred).await;
        not_500(&step, "discoverable");
        assert_eq!(signed_in(&step), ok, "handle {handle:?}: {step:?}");
        if ok {
            // Signed in as alice, not bob.
            let cb = b.complete(&op, step, "unused").await.redirect();
            assert!(cb.contains_key("code"));
        }
    }
    // Username-first naming bob, answered by alice's credential: refused.
    let mut b = Browser::default();
    let page = login_page(&op, &mut b).await;
    let step_page = begin(&op, &mut b, &page, "bob").await;
    let mut v = serde_json::to_value(options_of(&step_page)).unwrap();
    v["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": a.credential_id}]);
    let opts: RequestChallengeResponse = serde_json::from_value(v).unwrap();
    let ans = ka
        .do_authentication(Url::parse(&op.base).unwrap(), opts)
        .unwrap();
    let step = login_answer(
        &op,
        &mut b,
        &step_page,
        &serde_json::to_string(&ans).unwrap(),
    )
    .await;
    assert!(!signed_in(&step), "{step:?}");
}

/// A credential marked as a possible clone is "no longer offered" (username first); it must not sign in
/// through the discoverable ceremony either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_suspect_clone_refused_in_discoverable_mode() {
    let op = op_with_passkeys().await;
    let store = &op.provider.store;
    let mut ka = SoftPasskey::new(true);
    assert!(register(&op, store, "alice", &mut ka).await);
    let alice = user_named(&op, "alice").await.unwrap();
    let a = store.passkeys_of(&alice.id).await.unwrap().remove(0);
    store.passkey_suspect_clone(&a.credential_id).await.unwrap();
    assert!(store.passkeys_of(&alice.id).await.unwrap()[0].suspect_clone);

    let mut b = Browser::default();
    let page = login_page(&op, &mut b).await;
    let step_page = begin(&op, &mut b, &page, "").await;
    let cred = discoverable_assert(
        &op,
        &mut ka,
        &step_page,
        &a.credential_id,
        Some(&a.user_handle),
    );
    let step = login_answer(&op, &mut b, &step_page, &cred).await;
    assert!(
        !signed_in(&step),
        "a credential marked suspect_clone signed in through the discoverable ceremony: {step:?}"
    );
}

/// Mutations of a real assertion (and of nothing at all).
pub(crate) fn login_cases(real: &Value) -> Vec<(String, String)> {
    let mut cases: Vec<(String, String)> = vec![
        ("empty".into(), String::new()),
        ("brace".into(), "{".into()),
        ("null".into(), "null".into()),
        ("deep".into(), "[".repeat(16_000)),
        ("deep-obj".into(), "{\"a\":".repeat(3000)),
        (
            "oversized".into(),
            format!("{{\"x\":\"{}\"}}", "A".repeat(16 * 1024)),
        ),
        ("nul".into(), "\u{0}".into()),
    ];
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut v = real.clone();
        f(&mut v);
        v.to_string()
    };
    cases.push((
        "authdata-1".into(),
        mutate(&|v| v["response"]["authenticatorData"] = json!("AA")),
    ));
    cases.push((
        "authdata-36".into(),
        mutate(&|v| {
            v["response"]["authenticatorData"] =
                json!(portcullis_jose::base64url::encode(&[5u8; 36]))
        }),
    ));
    cases.push((
        "clientdata-garbage".into(),
        mutate(&|v| v["response"]["clientDataJSON"] = json!("e30")),
    ));
    cases.push((
        "clientdata-empty".into(),
        mutate(&|v| v["response"]["clientDataJSON"] = json!("")),
    ));
    cases.push((
        "sig-empty".into(),
        mutate(&|v| v["response"]["signature"] = json!("")),
    ));
    cases.push((
        "bad-b64".into(),
        mutate(&|v| v["response"]["signature"] = json!("!!!***")),
    ));
    cases.push((
        "rawid-huge".into(),
        mutate(&|v| v["rawId"] = json!("A".repeat(12_000))),
    ));
    cases.push((
        "id-rawid-differ".into(),
        mutate(&|v| v["id"] = json!("AAAA")),
    ));
    cases.push((
        "userhandle-garbage".into(),
        mutate(&|v| v["response"]["userHandle"] = json!("AAAA")),
    ));
    cases.push(("type".into(), mutate(&|v| v["type"] = json!("password"))));
    cases
}

/// Malformed, oversized and truncated answers at /login: never 500, never signed in. (A fresh provider per
/// three cases: the per-address and per-account back-off would otherwise answer 429 first.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_malformed_assertions_never_500() {
    let n = login_cases(&json!({})).len();
    for chunk in (0..n).step_by(3) {
        let op = op_with_passkeys().await;
        let store = &op.provider.store;
        let mut ka = SoftPasskey::new(true);
        assert!(register(&op, store, "alice", &mut ka).await);
        let mut b = Browser::default();
        let page = login_page(&op, &mut b).await;
        let step_page = begin(&op, &mut b, &page, "alice").await;
        let real: Value = serde_json::to_value(
            ka.do_authentication(Url::parse(&op.base).unwrap(), options_of(&step_page))
                .unwrap(),
        )
        .unwrap();
        let cases = login_cases(&real);
        for (name, cred) in cases.iter().skip(chunk).take(3) {
            for user in ["alice", ""] {
                let mut b = Browser::default();
                let page = login_page(&op, &mut b).await;
                let step_page = begin(&op, &mut b, &page, user).await;
                let step = login_answer(&op, &mut b, &step_page, cred).await;
                not_500(&step, &format!("/login {name} user {user:?}"));
                assert!(!signed_in(&step), "/login {name}: {step:?}");
            }
        }
    }
}
