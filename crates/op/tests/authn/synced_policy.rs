//! The passkey policy: a synced passkey (backup eligible) is recorded as such (`amr` `swk`, a device-bound one
//! `hwk`); it never satisfies `urn:portcullis:acr:passkey:device-bound`, nor the `acr` values the provider is
//! configured to keep for device-bound passkeys. A session whose passkey was synced is asked for a device-bound
//! one (step-up offers the passkey again), never answered with the `acr` it lacks.
//!
//! Must not: change the provider or weaken what another test proves.

use portcullis_op::authn::passkey::{DEVICE_BOUND_ACR, PASSKEY_ACR, SYNCED, SYNCED_ACR};
use portcullis_op::authn::{AuthRecord, MFA_ACR, Methods, PasskeyLogin, PasswordLogin};
use portcullis_op::store::SessionRow;

use crate::common::*;

fn methods(device_bound_for: &[&str]) -> Methods {
    let list: Vec<String> = device_bound_for.iter().map(|s| (*s).to_owned()).collect();
    let passkey = PasskeyLogin::for_issuer("http://localhost:8080")
        .unwrap()
        .device_bound_for(&list);
    Methods::new(vec![Box::new(PasswordLogin), Box::new(passkey)]).unwrap()
}

#[test]
fn a_synced_passkey_is_swk_and_never_device_bound() {
    let m = methods(&[]);
    let synced = AuthRecord::single(SYNCED, 100);
    let bound = AuthRecord::single("passkey", 100);
    assert_eq!(m.amr(&synced), ["swk", "user"]);
    assert_eq!(m.amr(&bound), ["hwk", "user"]);
    assert!(m.satisfies(&synced, PASSKEY_ACR));
    assert!(!m.satisfies(&synced, DEVICE_BOUND_ACR));
    assert!(m.satisfies(&bound, DEVICE_BOUND_ACR));
    assert_eq!(m.acr(&bound, &[DEVICE_BOUND_ACR]), DEVICE_BOUND_ACR);
    assert_eq!(m.acr(&synced, &[DEVICE_BOUND_ACR]), PASSKEY_ACR);
    // Configured: synced passkeys do not count for the passkey acr either, and claim less when nothing is
    // asked for.
    let strict = methods(&[PASSKEY_ACR]);
    assert!(!strict.satisfies(&synced, PASSKEY_ACR));
    assert!(strict.satisfies(&bound, PASSKEY_ACR));
    assert_eq!(strict.acr(&synced, &[]), SYNCED_ACR);
    assert_eq!(strict.acr(&synced, &["urn:example:unknown"]), SYNCED_ACR);
    assert_eq!(strict.acr(&bound, &[]), PASSKEY_ACR);
    // Configured for two factors: a password and a synced passkey are not `mfa` as an acr.
    let strict_mfa = methods(&[MFA_ACR]);
    let both = AuthRecord::single("password", 90).with(SYNCED, 100);
    assert!(!strict_mfa.satisfies(&both, MFA_ACR));
    assert_ne!(strict_mfa.acr(&both, &[MFA_ACR]), MFA_ACR);
    assert_ne!(strict_mfa.acr(&both, &[]), MFA_ACR);
    assert!(
        !strict_mfa.amr(&both).contains(&"mfa"),
        "amr agrees with the acr"
    );
    let both_bound = AuthRecord::single("password", 90).with("passkey", 100);
    assert_eq!(strict_mfa.acr(&both_bound, &[MFA_ACR]), MFA_ACR);
    assert!(strict_mfa.amr(&both_bound).contains(&"mfa"));
    // A recorded id the provider does not know proves nothing.
    assert!(!m.satisfies(&AuthRecord::single("passkey-cloned", 100), PASSKEY_ACR));
    assert!(m.amr(&AuthRecord::single("passkey-cloned", 100)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_a_synced_passkey_is_asked_for_a_device_bound_one() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = portcullis_op::Config {
        issuer: format!("http://localhost:{port}"),
        ..config(dir.path(), port, None)
    };
    let op = Op::start_methods(cfg, dir, methods(&[])).await;
    let store = &op.provider.store;
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    let now = portcullis_op::now();
    let token = portcullis_op::random_token();
    store
        .put_session(
            &portcullis_op::hash(&token),
            &SessionRow {
                sid: portcullis_op::random_token(),
                user_id: alice.id.clone(),
                auth_time: now,
                expires_at: now + 3600,
                authn: AuthRecord::single(SYNCED, now).encode(),
            },
        )
        .await
        .unwrap();
    let mut b = Browser {
        session: Some(token),
        ..Default::default()
    };
    // The passkey acr: the synced passkey is enough.
    let req = AuthReq::new("public", "code", "openid").set("acr_values", PASSKEY_ACR);
    let step = b.authorize(&op, &req.query()).await;
    let step = match step {
        Step::Consent(c) => {
            b.submit(&op, &c, "/consent", &[("decision", "allow")])
                .await
        }
        other => other,
    };
    let cb = step.redirect();
    let (_, t) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    let claims = crate::support::id_token(&op, &t, &req.nonce).await;
    assert_eq!(claims["acr"], PASSKEY_ACR);
    assert_eq!(claims["amr"], serde_json::json!(["swk", "user"]));
    // The device-bound acr: the passkey is asked again, for alice; never answered with what the session lacks.
    let req = AuthReq::new("public", "code", "openid").set("acr_values", DEVICE_BOUND_ACR);
    let step = b.authorize(&op, &req.query()).await;
    let Step::Login(page) = step else {
        panic!("expected the step-up page, got {step:?}")
    };
    assert!(page.contains("name=\"method\" value=\"passkey\""), "{page}");
    assert!(!page.contains("id=\"password\""), "{page}");
    // Essential: with prompt=none, login_required rather than a weaker acr.
    let req = AuthReq::new("public", "code", "openid")
        .set("acr_values", DEVICE_BOUND_ACR)
        .set("prompt", "none");
    let cb = b.authorize(&op, &req.query()).await.redirect();
    assert_eq!(cb["error"], "login_required", "{cb:?}");
}
