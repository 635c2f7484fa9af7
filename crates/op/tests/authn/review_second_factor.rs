//! The review of second-factor login, the account page and PAR for registrations, with its attacks as tests:
//! a pushed registration request opened by a second browser; unsigned registration or second-factor requests
//! pushed to `/par`; a CSRF token forged from the `sid` every relying party knows; removing a passkey leaving
//! other sessions signed in; invisible characters in passkey names; two removals at once on PostgreSQL (two
//! nodes) taking the last way to sign in; a passkey sign-in with another account's name typed beside it clearing
//! that account's failed attempts.
//!
//! Must not: change the provider or weaken what another test proves.

use portcullis_op::store::{PasskeyRow, Removal, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::account::{account_page, csrf_of, passkey_ids, post, signed_in};
use crate::common::*;
use crate::passkeys::{login_page, register};
use crate::registration::{backend, op_with_passkeys, registration_request};

/// Pushes `query` (a signed request's outer parameters) to `/par` as the public client `shop`.
pub(crate) async fn push(op: &Op, query: &str) -> (StatusCode, Value) {
    let r = op
        .http
        .post(op.url("/par"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) fn visit(uri: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "shop")
        .append_pair("request_uri", uri)
        .finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_a_pushed_registration_serves_one_browser() {
    let op = op_with_passkeys().await;
    let key = backend(&op).await;
    let req = AuthReq::new("shop", "code", "openid");
    let (s, body) = push(&op, &registration_request(&op, &key, &req, "dora")).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    let mut victim = Browser::default();
    let step = victim.authorize(&op, &visit(&uri)).await;
    assert!(
        matches!(step, Step::ErrorPage(StatusCode::OK, ref p) if p.contains("passkey-create")),
        "{step:?}"
    );
    // The same URL in another browser (leaked): refused, no second registration page.
    let mut attacker = Browser::default();
    let step = attacker.authorize(&op, &visit(&uri)).await;
    assert!(
        matches!(step, Step::ErrorPage(StatusCode::BAD_REQUEST, ref p) if p.contains("invalid_request_uri")),
        "{step:?}"
    );

    // Pushed unsigned: refused at /par already.
    let unsigned = AuthReq::new("shop", "code", "openid")
        .set("prompt", "create")
        .set("login_hint", "erin");
    let (s, body) = push(&op, &unsigned.query()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let second = AuthReq::new("shop", "code", "openid")
        .set("acr_values", portcullis_op::authn::SECOND_FACTOR_ACR)
        .set("login_hint", "dora");
    let (s, body) = push(&op, &second.query()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_account_forms_need_the_providers_token_and_removal_signs_out_elsewhere() {
    let op = op_with_passkeys().await;
    let store = &op.provider.store;
    let mut key = SoftPasskey::new(true);
    assert!(register(&op, store, "alice", &mut key).await);
    let mut here = signed_in(&op, "alice").await;
    let elsewhere = signed_in(&op, "alice").await;
    let (_, page) = account_page(&op, &here).await;
    let id = passkey_ids(&page).remove(0);
    // A token made from the sid (which every relying party's ID token carries): refused.
    let session = store
        .session(
            &portcullis_op::hash(here.session.as_deref().unwrap()),
            portcullis_op::now(),
        )
        .await
        .unwrap()
        .unwrap();
    let rename = "/account/passkeys/rename";
    for forged in [
        format!("x.{}", session.sid),
        session.sid.clone(),
        String::new(),
    ] {
        let fields = [("csrf", forged.as_str()), ("id", &id), ("name", "pwned")];
        assert_eq!(
            post(&op, &mut here, rename, &fields).await.0,
            StatusCode::FORBIDDEN
        );
    }
    // Invisible characters (a right-to-left override) in a name: refused.
    let csrf = csrf_of(&page);
    let fields = [
        ("csrf", csrf.as_str()),
        ("id", &id),
        ("name", "key\u{202E}yek"),
    ];
    assert_eq!(
        post(&op, &mut here, rename, &fields).await.0,
        StatusCode::BAD_REQUEST
    );
    // Removing the passkey signs alice out everywhere else, not here.
    let fields = [("csrf", csrf.as_str()), ("id", &id)];
    assert_eq!(
        post(&op, &mut here, "/account/passkeys/remove", &fields)
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(account_page(&op, &here).await.0, StatusCode::OK);
    assert_eq!(
        account_page(&op, &elsewhere).await.0,
        StatusCode::UNAUTHORIZED
    );
}

fn passkey(id: &str, user_id: &str) -> PasskeyRow {
    PasskeyRow {
        credential_id: id.into(),
        user_id: user_id.into(),
        user_handle: "00000000-0000-4000-8000-000000000000".into(),
        credential: "{}".into(),
        name: id.into(),
        backup_eligible: false,
        backup_state: false,
        created_at: 1,
        last_used_at: None,
        suspect_clone: false,
        aaguid: None,
        attested: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn review_two_nodes_removing_at_once_keep_the_last_way_to_sign_in() {
    let pg = PgCluster::start();
    let url = pg.create_db("last_way").await;
    let (a, b) = (
        Store::open(&url).await.unwrap(),
        Store::open(&url).await.unwrap(),
    );
    for round in 0..20 {
        let name = format!("frank{round}");
        portcullis_op::admin::add_user(&a, &name, "temporary-pass", &json!({}))
            .await
            .unwrap();
        assert!(a.set_password(&name, "").await.unwrap());
        let user = a.user_by_name(&name).await.unwrap().unwrap();
        let (k1, k2) = (format!("K1-{round}"), format!("K2-{round}"));
        assert!(a.add_passkey(&passkey(&k1, &user.id)).await.unwrap());
        assert!(a.add_passkey(&passkey(&k2, &user.id)).await.unwrap());
        let (r1, r2) = tokio::join!(
            a.remove_passkey(&user.id, &k1),
            b.remove_passkey(&user.id, &k2)
        );
        let removed = [r1.unwrap(), r2.unwrap()]
            .iter()
            .filter(|r| **r == Removal::Removed)
            .count();
        assert_eq!(
            removed, 1,
            "round {round}: exactly one of two removals may pass"
        );
        assert_eq!(a.passkeys_of(&user.id).await.unwrap().len(), 1);
    }
}

/// The second review's case: guesses at bob's password, then the attacker's own passkey with `username=bob`
/// typed beside it. The sign-in proves alice, so bob's failures must stay (before, they were cleared and the
/// attacker's address trusted for bob).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_a_passkey_sign_in_does_not_clear_another_accounts_failures() {
    let op = op_with_passkeys().await;
    let store = &op.provider.store;
    let mut key = SoftPasskey::new(true);
    assert!(register(&op, store, "alice", &mut key).await);
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    let stored = store.passkeys_of(&alice.id).await.unwrap().remove(0);
    let guess = |pw: &'static str| {
        let op = &op;
        async move {
            let mut b = Browser::default();
            let page = login_page(op, &mut b).await;
            b.submit(
                op,
                &page,
                "/login",
                &[("username", "bob"), ("password", pw)],
            )
            .await
        }
    };
    for _ in 0..3 {
        assert!(matches!(guess("wrong").await, Step::Login(_)));
    }
    // Wait out the pair's short back-off, then the passkey with bob's name beside it.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let mut b = Browser::default();
    let page = login_page(&op, &mut b).await;
    let step_page = crate::passkeys::begin(&op, &mut b, &page, "bob").await;
    let credential = crate::review_passkeys::discoverable_assert(
        &op,
        &mut key,
        &step_page,
        &stored.credential_id,
        Some(&stored.user_handle),
    );
    let ceremony = hidden(&step_page, "ceremony").unwrap();
    let step = b
        .submit(
            &op,
            &step_page,
            "/login",
            &[
                ("method", "passkey"),
                ("ceremony", &ceremony),
                ("credential", &credential),
                ("username", "bob"),
            ],
        )
        .await;
    assert!(crate::review_passkeys::signed_in(&step), "{step:?}");
    // Bob's failures still count: the next guess waits.
    let next = guess("wrong-again").await;
    assert!(
        matches!(next, Step::Login(ref p) if p.contains("Too many attempts")),
        "{next:?}"
    );
}
