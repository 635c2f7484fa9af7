//! Second-factor login (seed 000's second-factor flow): the relying party checked the user's password itself;
//! its backend signs a request naming the user (`login_hint`, its own identifier) and asking for
//! `urn:portcullis:acr:second-factor`. Only that user's passkeys are offered and only that user may answer; the
//! ID token says `acr` second-factor and `amr` `hwk` `user` `mfa`. And the refusals: an unsigned request, one
//! without a `jti`, one without `login_hint`, another user's credential, a password instead of the passkey, an
//! old session that did not pass the passkey for this request, a session of another user.
//!
//! Must not: change the provider or weaken what another test proves.

use portcullis_jose::Jwk;
use portcullis_oidc::{IdTokenExpectations, verify_id_token};
use portcullis_op::authn::SECOND_FACTOR_ACR;
use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::Url;

use crate::common::*;
use crate::passkeys::{answer, options_of};
use crate::registration::{backend, create_passkey, op_with_passkeys, registration_request};

/// Creates the account `account` at the client `shop` with a new soft passkey; returns the passkey.
async fn register_account(op: &Op, key: &Jwk, account: &str) -> SoftPasskey {
    let mut b = Browser::default();
    let req = AuthReq::new("shop", "code", "openid");
    let step = b
        .authorize(op, &registration_request(op, key, &req, account))
        .await;
    let Step::ErrorPage(StatusCode::OK, page) = step else {
        panic!("expected the registration page, got {step:?}")
    };
    let mut passkey = SoftPasskey::new(true);
    let step = create_passkey(op, &mut b, &page, &mut passkey).await;
    let cb = b.complete(op, step, "unused").await.redirect();
    assert!(cb.contains_key("code"), "{cb:?}");
    passkey
}

/// A second-factor request for `account`, signed by `shop`'s key.
fn second_factor_request(op: &Op, key: &Jwk, req: &AuthReq, account: &str) -> String {
    crate::registration::signed_request(
        op,
        key,
        req,
        &[
            ("login_hint", json!(account)),
            ("acr_values", json!(SECOND_FACTOR_ACR)),
        ],
    )
}

/// Begins the passkey on a second-factor login page (no username: the request named the user).
async fn begin(op: &Op, b: &mut Browser, page: &str) -> Step {
    b.submit(
        op,
        page,
        "/login",
        &[("method", "passkey"), ("step", "begin")],
    )
    .await
}

/// The ID token's claims after consent (when asked) and redemption.
async fn id_token_of(
    op: &Op,
    b: &mut Browser,
    step: Step,
    req: &AuthReq,
) -> serde_json::Map<String, Value> {
    let step = match step {
        Step::Consent(c) => b.submit(op, &c, "/consent", &[("decision", "allow")]).await,
        other => other,
    };
    let cb = step.redirect();
    let (s, t) = token(
        op,
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
    let expect = IdTokenExpectations {
        issuer: &op.base,
        client_id: "shop",
        nonce: Some(&req.nonce),
        max_age: None,
        access_token: None,
        access_token_from_front_channel: false,
        code: None,
        leeway: 5,
    };
    verify_id_token(
        t["id_token"].as_str().unwrap(),
        &op.jwks().await,
        ALGS,
        &expect,
    )
    .unwrap()
    .claims
    .custom
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_factor_offers_only_the_named_users_passkeys_and_says_mfa() {
    let op = op_with_passkeys().await;
    let key = backend(&op).await;
    let mut alice = register_account(&op, &key, "alice").await;
    let mut bob = register_account(&op, &key, "bob").await;
    let origin = Url::parse(&op.base).unwrap();

    // A fresh browser (the relying party checked the password; the provider has no session).
    let mut b = Browser::default();
    let req = AuthReq::new("shop", "code", "openid");
    let step = b
        .authorize(&op, &second_factor_request(&op, &key, &req, "alice"))
        .await;
    let Step::Login(page) = step else {
        panic!("expected the second-factor page, got {step:?}")
    };
    // The passkey alone; no password, no username to type.
    assert!(page.contains("value=\"passkey\""), "{page}");
    assert!(!page.contains("type=\"password\""), "{page}");
    assert!(!page.contains("passkey-username"), "{page}");

    // The password is not offered here.
    let pwd = b
        .submit(
            &op,
            &page,
            "/login",
            &[
                ("method", "password"),
                ("username", "alice"),
                ("password", "x"),
            ],
        )
        .await;
    assert!(
        matches!(pwd, Step::ErrorPage(StatusCode::BAD_REQUEST, _)),
        "{pwd:?}"
    );

    // Bob's credential answering alice's challenge: refused.
    let Step::Login(step_page) = begin(&op, &mut b, &page).await else {
        panic!("the passkey step")
    };
    let options = options_of(&step_page);
    let allowed = &options.public_key.allow_credentials;
    assert_eq!(allowed.len(), 1, "only alice's passkey is named");
    let mut bobs_options = options.clone();
    let bob_page = {
        let mut other = Browser::default();
        let r = AuthReq::new("shop", "code", "openid");
        let Step::Login(p) = other
            .authorize(&op, &second_factor_request(&op, &key, &r, "bob"))
            .await
        else {
            panic!("bob's page")
        };
        let Step::Login(p) = begin(&op, &mut other, &p).await else {
            panic!("bob's step")
        };
        p
    };
    bobs_options.public_key.allow_credentials = options_of(&bob_page).public_key.allow_credentials;
    let forged = bob
        .do_authentication(origin.clone(), bobs_options)
        .expect("bob's key signs alice's challenge");
    let refused = answer(
        &op,
        &mut b,
        &step_page,
        &serde_json::to_string(&forged).unwrap(),
    )
    .await;
    assert!(
        matches!(refused, Step::Login(ref p) if p.contains("role=\"alert\"")),
        "{refused:?}"
    );

    // Alice's own passkey: the code, and an ID token that says what was done.
    let Step::Login(again) = begin(&op, &mut b, &page).await else {
        panic!("the passkey step")
    };
    let assertion = alice
        .do_authentication(origin.clone(), options_of(&again))
        .unwrap();
    let step = answer(
        &op,
        &mut b,
        &again,
        &serde_json::to_string(&assertion).unwrap(),
    )
    .await;
    let claims = id_token_of(&op, &mut b, step, &req).await;
    assert_eq!(claims["acr"], SECOND_FACTOR_ACR);
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(amr, ["hwk", "user", "mfa"]);

    // The same browser, a new second-factor request: the session's passkey was for the last request, so the
    // passkey is asked again (the relying party's password step is new too).
    let req2 = AuthReq::new("shop", "code", "openid");
    let step = b
        .authorize(&op, &second_factor_request(&op, &key, &req2, "alice"))
        .await;
    assert!(
        matches!(step, Step::Login(ref p) if p.contains("value=\"passkey\"")),
        "{step:?}"
    );

    // A session of alice, a second-factor request for bob: bob must sign in, with bob's passkey.
    let req3 = AuthReq::new("shop", "code", "openid");
    let Step::Login(for_bob) = b
        .authorize(&op, &second_factor_request(&op, &key, &req3, "bob"))
        .await
    else {
        panic!("bob's second-factor page")
    };
    let Step::Login(bob_step) = begin(&op, &mut b, &for_bob).await else {
        panic!("the passkey step")
    };
    let mut alices_options = options_of(&bob_step);
    alices_options.public_key.allow_credentials = allowed.clone();
    let by_alice = alice
        .do_authentication(origin.clone(), alices_options)
        .unwrap();
    let refused = answer(
        &op,
        &mut b,
        &bob_step,
        &serde_json::to_string(&by_alice).unwrap(),
    )
    .await;
    assert!(
        matches!(refused, Step::Login(ref p) if p.contains("role=\"alert\"")),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_factor_requests_must_be_signed_once_and_name_their_user() {
    let op = op_with_passkeys().await;
    let key = backend(&op).await;
    register_account(&op, &key, "alice").await;
    let mut b = Browser::default();
    let refused = |step: Step| {
        let cb = step.redirect();
        assert_eq!(cb["error"], "invalid_request", "{cb:?}");
    };
    // Unsigned: anyone could declare that a password was checked.
    let req = AuthReq::new("shop", "code", "openid")
        .set("acr_values", SECOND_FACTOR_ACR)
        .set("login_hint", "alice");
    refused(b.authorize(&op, &req.query()).await);
    // Signed, without a jti (replayable).
    let req = AuthReq::new("shop", "code", "openid");
    let no_jti = {
        let query = second_factor_request(&op, &key, &req, "alice");
        let params = params_of(&format!("?{query}"));
        let obj = &params["request"];
        let payload = portcullis_jose::jws::decode_unverified(obj)
            .unwrap()
            .payload;
        let mut claims: serde_json::Map<String, Value> = serde_json::from_slice(&payload).unwrap();
        claims.remove("jti");
        let signed = portcullis_jose::jwt::encode_value(
            &portcullis_jose::jws::Header::new(portcullis_jose::Algorithm::Es256)
                .with_typ("oauth-authz-req+jwt"),
            &claims,
            &key.signing_key().unwrap(),
        )
        .unwrap();
        query.replace(obj.as_str(), &signed)
    };
    refused(b.authorize(&op, &no_jti).await);
    // Signed, naming nobody.
    let req = AuthReq::new("shop", "code", "openid");
    let nameless = crate::registration::signed_request(
        &op,
        &key,
        &req,
        &[("acr_values", json!(SECOND_FACTOR_ACR))],
    );
    refused(b.authorize(&op, &nameless).await);
    // Signed and used twice: the second use is refused.
    let req = AuthReq::new("shop", "code", "openid");
    let once = second_factor_request(&op, &key, &req, "alice");
    assert!(matches!(b.authorize(&op, &once).await, Step::Login(_)));
    let again = b.authorize(&op, &once).await;
    assert_eq!(again.redirect()["error"], "invalid_request_object");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_lists_create_and_the_acr_and_amr_values_used() {
    let op = op_with_passkeys().await;
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
        meta["prompt_values_supported"],
        json!(["none", "login", "consent", "create"])
    );
    assert_eq!(
        meta["acr_values_supported"],
        json!([
            "urn:portcullis:acr:password",
            portcullis_op::authn::passkey::PASSKEY_ACR,
            portcullis_op::authn::passkey::DEVICE_BOUND_ACR,
            portcullis_op::authn::MFA_ACR,
            SECOND_FACTOR_ACR
        ])
    );
    assert_eq!(
        meta["amr_values_supported"],
        json!(["pwd", "hwk", "user", "swk", "mfa"])
    );
}
