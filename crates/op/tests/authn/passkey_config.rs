//! The passkey relying party as configured: the relying party ID is the issuer's host or a registrable suffix
//! of it, extra origins must sit under it, and an assertion from an allowed extra origin is accepted while one
//! from any other origin is not. And a passkey ceremony that expired is refused.
//!
//! Must not: change the provider or weaken what another test proves.

use portcullis_op::authn::{Methods, PasskeyLogin, PasswordLogin};
use portcullis_op::store::PendingRow;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::common::*;
use crate::passkeys::{answer, assert_of, begin, login_page, register};

#[test]
fn the_relying_party_id_and_extra_origins_must_fit_the_issuer() {
    let issuer = "https://login.example.com";
    assert!(PasskeyLogin::new(issuer, None, &[]).is_ok());
    assert!(PasskeyLogin::new(issuer, Some("example.com"), &[]).is_ok());
    assert!(PasskeyLogin::new(issuer, Some("login.example.com"), &[]).is_ok());
    // Not a suffix of the issuer's host, or a suffix that is not a label boundary.
    assert!(PasskeyLogin::new(issuer, Some("other.example"), &[]).is_err());
    assert!(PasskeyLogin::new(issuer, Some("ample.com"), &[]).is_err());
    // Extra origins: under the relying party ID, and origins only (no path).
    let ok = ["https://app.example.com".to_owned()];
    assert!(PasskeyLogin::new(issuer, Some("example.com"), &ok).is_ok());
    for bad in [
        "https://evil.test",
        "https://app.example.com/path",
        "https://example.com.evil.test",
        "not a url",
    ] {
        assert!(
            PasskeyLogin::new(issuer, Some("example.com"), &[bad.to_owned()]).is_err(),
            "{bad}"
        );
    }
    // A top-level domain is not a relying party ID; an extra origin is https (plain http on localhost only).
    assert!(PasskeyLogin::new("https://login.example", Some("example"), &[]).is_err());
    assert!(
        PasskeyLogin::new(
            issuer,
            Some("example.com"),
            &["http://app.example.com".to_owned()]
        )
        .is_err()
    );
    assert!(
        PasskeyLogin::new(
            "http://localhost:8080",
            None,
            &["http://app.localhost:9000".to_owned()]
        )
        .is_ok()
    );
    // An IP address is never a relying party ID.
    assert!(PasskeyLogin::new("http://127.0.0.1:8080", None, &[]).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_extra_origin_signs_in_and_another_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = portcullis_op::Config {
        issuer: format!("http://localhost:{port}"),
        passkeys_origins: vec!["https://app.localhost:9443".into()],
        ..config(dir.path(), port, None)
    };
    let passkey = PasskeyLogin::from_config(&cfg).unwrap();
    let methods = Methods::new(vec![Box::new(PasswordLogin), Box::new(passkey)]).unwrap();
    let op = Op::start_methods(cfg, dir, methods).await;
    let mut key = SoftPasskey::new(true);
    assert!(register(&op, &op.provider.store, "alice", &mut key).await);

    let mut b = Browser::default();
    let page = login_page(&op, &mut b).await;
    let step_page = begin(&op, &mut b, &page, "alice").await;
    let other = assert_of(&mut key, "https://evil.localhost:9443", &step_page);
    let step = answer(
        &op,
        &mut b,
        &step_page,
        &serde_json::to_string(&other).unwrap(),
    )
    .await;
    assert!(
        matches!(step, Step::Login(ref p) if p.contains("not accepted")),
        "{step:?}"
    );
    let step_page = begin(&op, &mut b, &page, "alice").await;
    let allowed = assert_of(&mut key, "https://app.localhost:9443", &step_page);
    let step = answer(
        &op,
        &mut b,
        &step_page,
        &serde_json::to_string(&allowed).unwrap(),
    )
    .await;
    let cb = b.complete(&op, step, "alice").await.redirect();
    assert!(cb.contains_key("code"), "{cb:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_passkey_ceremony_is_refused() {
    let op = crate::registration::op_with_passkeys().await;
    let store = &op.provider.store;
    let mut key = SoftPasskey::new(true);
    assert!(register(&op, store, "alice", &mut key).await);
    let mut b = Browser::default();
    let page = login_page(&op, &mut b).await;
    let step_page = begin(&op, &mut b, &page, "alice").await;
    // The ceremony's row, as it would be five minutes later.
    let id = hidden(&step_page, "ceremony").unwrap();
    let now = portcullis_op::now();
    let row = store.pending(&id, "ceremony", now).await.unwrap().unwrap();
    assert!(store.take_pending(&id).await.unwrap());
    store
        .put_pending(&PendingRow {
            expires_at: now - 1,
            ..row
        })
        .await
        .unwrap();
    let late = assert_of(&mut key, &op.base, &step_page);
    let step = answer(
        &op,
        &mut b,
        &step_page,
        &serde_json::to_string(&late).unwrap(),
    )
    .await;
    assert!(
        matches!(step, Step::Login(ref p) if p.contains("expired")),
        "{step:?}"
    );
}
