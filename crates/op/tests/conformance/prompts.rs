//! When the user must be asked (again), and when the provider may answer without asking (OpenID
//! Connect Core §3.1.2.1, §3.1.2.3, §5.5.1.1): plans `oidcc-prompt-none-not-logged-in`,
//! `oidcc-prompt-none-logged-in`, `oidcc-prompt-login`, `oidcc-max-age-1`, `oidcc-id-token-hint` and
//! `oidcc-ensure-request-with-acr-values-succeeds`, essential `acr`, and consent remembered per client and
//! scope set. The login and consent pages themselves are `login_consent`'s.

use crate::common::*;
use crate::support::expect;
use portcullis_jose::{Algorithm, Jwk, jwt};
use portcullis_oidc::verify_id_token;
use reqwest::StatusCode;
use serde_json::{Value, json};

every_case!(
    oidcc_prompt_none_not_logged_in,
    oidcc_prompt_none_logged_in_and_prompt_login,
    oidcc_max_age_1_forces_login,
    oidcc_id_token_hint,
    oidcc_acr_voluntary_and_essential,
    a_password_change_ends_the_users_sessions
);

/// oidcc-prompt-none-not-logged-in: login_required.
async fn oidcc_prompt_none_not_logged_in(op: &Op) {
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid").set("prompt", "none");
    let cb = b.authorize(op, &req.query()).await.redirect();
    assert_eq!(cb["error"], "login_required");
    assert_eq!(cb["state"], req.state);
}

/// oidcc-prompt-none-logged-in, oidcc-prompt-login and consent remembered per client and scope set.
async fn oidcc_prompt_none_logged_in_and_prompt_login(op: &Op) {
    let mut b = Browser::default();
    code_flow(op, &mut b, "alice", "openid email").await;
    let cb = b
        .authorize(
            op,
            &AuthReq::new("public", "code", "openid email")
                .set("prompt", "none")
                .query(),
        )
        .await
        .redirect();
    assert!(cb.contains_key("code"), "session and consent remembered");
    // A wider scope needs consent again; with prompt=none that is consent_required.
    let cb = b
        .authorize(
            op,
            &AuthReq::new("public", "code", "openid email phone")
                .set("prompt", "none")
                .query(),
        )
        .await
        .redirect();
    assert_eq!(cb["error"], "consent_required");
    assert!(matches!(
        b.authorize(
            op,
            &AuthReq::new("public", "code", "openid email")
                .set("prompt", "login")
                .query()
        )
        .await,
        Step::Login(_)
    ));
    assert!(matches!(
        b.authorize(
            op,
            &AuthReq::new("public", "code", "openid email")
                .set("prompt", "consent")
                .query()
        )
        .await,
        Step::Consent(_)
    ));
}

/// oidcc-max-age-1: an old authentication forces a new login; auth_time is in the ID token.
async fn oidcc_max_age_1_forces_login(op: &Op) {
    let mut b = Browser::default();
    code_flow(op, &mut b, "alice", "openid").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let req = AuthReq::new("public", "code", "openid").set("max_age", "1");
    let step = b.authorize(op, &req.query()).await;
    assert!(matches!(step, Step::Login(_)), "{step:?}");
    let cb = b.complete(op, step, "alice").await.redirect();
    let (_, tokens) = redeem(op, &cb["code"], req.verifier.as_str()).await;
    let mut e = expect(op, "public", &req.nonce);
    e.max_age = Some(1);
    verify_id_token(
        tokens["id_token"].as_str().unwrap(),
        &op.jwks().await,
        ALGS,
        &e,
    )
    .unwrap();
    // Right after the login the session is fresh enough for max_age=10000 and prompt=none…
    let cb = b
        .authorize(
            op,
            &AuthReq::new("public", "code", "openid")
                .set("max_age", "10000")
                .set("prompt", "none")
                .query(),
        )
        .await
        .redirect();
    assert!(cb.contains_key("code"), "{cb:?}");
    // …but not, two seconds later, for max_age=1.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let cb = b
        .authorize(
            op,
            &AuthReq::new("public", "code", "openid")
                .set("max_age", "1")
                .set("prompt", "none")
                .query(),
        )
        .await
        .redirect();
    assert_eq!(cb["error"], "login_required");
}

/// oidcc-id-token-hint: a hint naming another user than the session's, with prompt=none, is login_required;
/// a matching hint passes; a forged hint is refused.
async fn oidcc_id_token_hint(op: &Op) {
    let mut bob = Browser::default();
    let (_, bob_tokens) = code_flow(op, &mut bob, "bob", "openid").await;
    let mut alice = Browser::default();
    let (_, alice_tokens) = code_flow(op, &mut alice, "alice", "openid").await;
    let hint = |t: &Value| t["id_token"].as_str().unwrap().to_owned();
    let cb = alice
        .authorize(
            op,
            &AuthReq::new("public", "code", "openid")
                .set("prompt", "none")
                .set("id_token_hint", &hint(&bob_tokens))
                .query(),
        )
        .await
        .redirect();
    assert_eq!(cb["error"], "login_required");
    let cb = alice
        .authorize(
            op,
            &AuthReq::new("public", "code", "openid")
                .set("prompt", "none")
                .set("id_token_hint", &hint(&alice_tokens))
                .query(),
        )
        .await
        .redirect();
    assert!(cb.contains_key("code"));
    let forged = {
        let k = Jwk::generate(Algorithm::Es256).unwrap();
        let claims =
            json!({"iss": op.base, "aud": "public", "sub": "x", "exp": 4102444800u64, "iat": 1});
        jwt::encode_value(
            &portcullis_jose::jws::Header::new(Algorithm::Es256),
            &claims,
            &k.signing_key().unwrap(),
        )
        .unwrap()
    };
    let cb = alice
        .authorize(
            op,
            &AuthReq::new("public", "code", "openid")
                .set("prompt", "none")
                .set("id_token_hint", &forged)
                .query(),
        )
        .await
        .redirect();
    assert_eq!(cb["error"], "invalid_request");
}

/// oidcc-ensure-request-with-acr-values-succeeds and essential acr (OIDC Core §5.5.1.1): voluntary acr values
/// the provider does not have still succeed (with its acr); an essential acr it cannot produce is
/// `unmet_authentication_requirements`, sent before any login; an essential acr it has is satisfied.
async fn oidcc_acr_voluntary_and_essential(op: &Op) {
    let ours = "urn:portcullis:acr:password";
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid").set("acr_values", "urn:other:gold");
    let step = b.authorize(op, &req.query()).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    let (s, t) = redeem(op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::OK);
    let jwks = op.jwks().await;
    let idt = verify_id_token(
        t["id_token"].as_str().unwrap(),
        &jwks,
        ALGS,
        &expect(op, "public", &req.nonce),
    )
    .unwrap();
    assert_eq!(idt.claims.custom["acr"], ours);

    let claims = |values: &[&str], essential: bool| {
        json!({"id_token": {"acr": {"essential": essential, "values": values}}}).to_string()
    };
    // Essential and unavailable: refused, without showing a login page.
    let req =
        AuthReq::new("public", "code", "openid").set("claims", &claims(&["urn:other:gold"], true));
    let cb = Browser::default()
        .authorize(op, &req.query())
        .await
        .redirect();
    assert_eq!(cb["error"], "unmet_authentication_requirements");
    assert_eq!(cb["state"], req.state);
    assert_eq!(cb["iss"], op.base);
    // Voluntary and unavailable: answered with ours.
    let req =
        AuthReq::new("public", "code", "openid").set("claims", &claims(&["urn:other:gold"], false));
    let step = b.authorize(op, &req.query()).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    assert!(cb.contains_key("code"), "{cb:?}");
    // Essential and available.
    let req = AuthReq::new("public", "code", "openid")
        .set("claims", &claims(&["urn:other:gold", ours], true));
    let step = b.authorize(op, &req.query()).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    let (s, t) = redeem(op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let idt = verify_id_token(
        t["id_token"].as_str().unwrap(),
        &jwks,
        ALGS,
        &expect(op, "public", &req.nonce),
    )
    .unwrap();
    assert_eq!(idt.claims.custom["acr"], ours);
}

/// A password change ends the user's sessions everywhere: `prompt=none` is `login_required` afterwards, for every
/// browser the user had signed in with, and other users' sessions are untouched.
async fn a_password_change_ends_the_users_sessions(op: &Op) {
    let (mut one, mut two, mut bob) = (Browser::default(), Browser::default(), Browser::default());
    code_flow(op, &mut one, "alice", "openid").await;
    code_flow(op, &mut two, "alice", "openid").await;
    code_flow(op, &mut bob, "bob", "openid").await;
    portcullis_op::admin::set_password(&op.provider.store, "alice", "a new passphrase")
        .await
        .unwrap();
    let none = AuthReq::new("public", "code", "openid").set("prompt", "none");
    for b in [&mut one, &mut two] {
        let cb = b.authorize(op, &none.query()).await.redirect();
        assert_eq!(cb["error"], "login_required");
    }
    let cb = bob.authorize(op, &none.query()).await.redirect();
    assert!(cb.contains_key("code"), "{cb:?}");
}
