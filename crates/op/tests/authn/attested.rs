//! Attested passkeys: with attestation CAs configured (`passkeys_attestation_ca`), the account page offers "Add
//! a security key (attested)"; an authenticator whose attestation chains to a configured CA registers one (its
//! AAGUID stored), one that attests itself only does not. Only an attested passkey satisfies
//! `urn:portcullis:acr:passkey:attested`: a session with a plain passkey is asked again.
//!
//! Must not: change the provider or weaken what another test proves.

use base64::Engine as _;
use portcullis_op::authn::passkey::ATTESTED_ACR;
use portcullis_op::authn::{Methods, PasskeyLogin, PasswordLogin};
use reqwest::StatusCode;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs::prelude::{CreationChallengeResponse, Url};

use crate::account::{account_page, csrf_of, post, signed_in};
use crate::common::*;
use crate::passkeys::{answer, begin, login_page, options_of};
use crate::registration::attribute;

/// A certificate as PEM.
fn pem(cert: &impl der::Encode) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(cert.to_der().unwrap());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// The new-passkey page for `kind` ("attested" or plain), the authenticator's answer posted: the status.
async fn add(
    op: &Op,
    b: &mut Browser,
    kind: &str,
    key: &mut impl WebauthnAuthenticator,
) -> StatusCode {
    let (_, page) = account_page(op, b).await;
    let (s, new) = post(
        op,
        b,
        "/account/passkeys/new",
        &[("csrf", &csrf_of(&page)), ("kind", kind)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{new}");
    let options: CreationChallengeResponse =
        serde_json::from_str(&attribute(&new, "passkey-creation-options")).unwrap();
    let Ok(created) = key.do_registration(Url::parse(&op.base).unwrap(), options) else {
        return StatusCode::BAD_REQUEST;
    };
    let credential = serde_json::to_string(&created).unwrap();
    let fields = [
        ("pending", hidden(&new, "pending").unwrap()),
        ("csrf", hidden(&new, "csrf").unwrap()),
        ("ceremony", hidden(&new, "ceremony").unwrap()),
        ("credential", credential),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post(op, b, "/account/passkeys", &fields).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_attested_passkey_satisfies_the_attested_acr() {
    let (mut token, ca) = SoftToken::new(true).unwrap();
    // A bundle of roots: another make's first, then this token's.
    let (_, other_ca) = SoftToken::new(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("attestation-ca.pem");
    std::fs::write(&ca_file, format!("{}{}", pem(&other_ca), pem(&ca))).unwrap();
    let port = free_port();
    let cfg = portcullis_op::Config {
        issuer: format!("http://localhost:{port}"),
        passkeys_attestation_ca: Some(ca_file),
        ..config(dir.path(), port, None)
    };
    let passkey = PasskeyLogin::from_config(&cfg).unwrap();
    let methods = Methods::new(vec![Box::new(PasswordLogin), Box::new(passkey)]).unwrap();
    let op = Op::start_methods(cfg, dir, methods).await;

    let mut b = signed_in(&op, "alice").await;
    let (_, page) = account_page(&op, &b).await;
    assert!(page.contains("id=\"add-attested\""), "{page}");
    // An authenticator that attests only itself: no attested passkey.
    let mut plain = SoftPasskey::new(true);
    assert_eq!(
        add(&op, &mut b, "attested", &mut plain).await,
        StatusCode::BAD_REQUEST
    );
    // It may still add a plain passkey.
    assert_eq!(
        add(&op, &mut b, "", &mut plain).await,
        StatusCode::SEE_OTHER
    );
    // The security key whose attestation chains to the configured CA.
    assert_eq!(
        add(&op, &mut b, "attested", &mut token).await,
        StatusCode::SEE_OTHER
    );
    let (_, page) = account_page(&op, &b).await;
    assert!(page.contains("(attested)"), "{page}");
    let alice = op
        .provider
        .store
        .user_by_name("alice")
        .await
        .unwrap()
        .unwrap();
    let keys = op.provider.store.passkeys_of(&alice.id).await.unwrap();
    let attested: Vec<_> = keys.iter().filter(|k| k.attested).collect();
    assert_eq!(attested.len(), 1);
    assert_eq!(
        attested[0].aaguid.as_deref(),
        Some(
            webauthn_authenticator_rs::softtoken::AAGUID
                .to_string()
                .as_str()
        )
    );

    // Stored without the attestation's certificate chain (sign-in states stay small).
    assert!(
        attested[0].credential.len() < 2048,
        "{}",
        attested[0].credential
    );

    // A sign-in with the plain passkey: the attested acr is asked again, with the passkey.
    let mut c = Browser::default();
    let page = login_page(&op, &mut c).await;
    let step_page = begin(&op, &mut c, &page, "alice").await;
    let mut options = options_of(&step_page);
    let plain_id = keys
        .iter()
        .find(|k| !k.attested)
        .unwrap()
        .credential_id
        .clone();
    options
        .public_key
        .allow_credentials
        .retain(|c| portcullis_jose::base64url::encode(c.id.as_ref()) == plain_id);
    let assertion = plain
        .do_authentication(Url::parse(&op.base).unwrap(), options)
        .unwrap();
    let step = answer(
        &op,
        &mut c,
        &step_page,
        &serde_json::to_string(&assertion).unwrap(),
    )
    .await;
    let _ = c.complete(&op, step, "alice").await.redirect();
    let req = AuthReq::new("public", "code", "openid").set("acr_values", ATTESTED_ACR);
    let Step::Login(stepup) = c.authorize(&op, &req.query()).await else {
        panic!("a plain passkey's session is asked for the attested one")
    };
    // The security key answers it.
    let step_page = begin(&op, &mut c, &stepup, "").await;
    let mut options = options_of(&step_page);
    options
        .public_key
        .allow_credentials
        .retain(|c| portcullis_jose::base64url::encode(c.id.as_ref()) == attested[0].credential_id);
    let assertion = token
        .do_authentication(Url::parse(&op.base).unwrap(), options)
        .unwrap();
    let step = answer(
        &op,
        &mut c,
        &step_page,
        &serde_json::to_string(&assertion).unwrap(),
    )
    .await;
    let step = match step {
        Step::Consent(p) => {
            c.submit(&op, &p, "/consent", &[("decision", "allow")])
                .await
        }
        other => other,
    };
    let cb = step.redirect();
    let (_, t) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    let claims = crate::support::id_token(&op, &t, &req.nonce).await;
    assert_eq!(claims["acr"], ATTESTED_ACR);
}

#[test]
fn attested_acr_values_need_attestation_roots() {
    let cfg = portcullis_op::Config {
        issuer: "http://localhost:8080".into(),
        passkeys_attested_for: vec!["urn:portcullis:acr:passkey".into()],
        ..portcullis_op::Config::default()
    };
    assert!(PasskeyLogin::from_config(&cfg).is_err());
    assert!(portcullis_op::authn::passkey::attestation_cas("not a certificate").is_err());
}
