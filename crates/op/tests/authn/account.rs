//! The account page: a password user adds a passkey and then signs in with either; passkeys are listed (name,
//! created, last used, synced or device-bound), renamed and removed. And the refusals: no session, a form from
//! another site or session, another user's passkey, a stale sign-in, the last way to sign in, a replayed
//! ceremony.
//!
//! Must not: change the provider or weaken what another test proves.

use portcullis_op::store::SessionRow;
use reqwest::StatusCode;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, Url};

use crate::common::*;
use crate::passkeys::{answer, assert_of, begin, login_page};
use crate::registration::{attribute, backend, op_with_passkeys, registration_request};

/// Signs `user` in with the password through the `public` client; the browser keeps the session.
pub(crate) async fn signed_in(op: &Op, user: &str) -> Browser {
    let mut b = Browser::default();
    let page = login_page(op, &mut b).await;
    let step = b.login(op, &page, user).await;
    let _ = b.complete(op, step, user).await.redirect();
    assert!(b.session.is_some());
    b
}

/// Posts `fields` to `action` as the browser `b` would from the account page.
pub(crate) async fn post(
    op: &Op,
    b: &mut Browser,
    action: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        form.append_pair(k, v);
    }
    let mut r = op
        .http
        .post(op.url(action))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish());
    if let Some(c) = b.cookie_header() {
        r = r.header("cookie", c);
    }
    let resp = r.send().await.unwrap();
    for c in resp.headers().get_all("set-cookie") {
        let c = c.to_str().unwrap();
        if c.starts_with("portcullis_browser=") {
            b.browser = Some(c.split(';').next().unwrap().to_owned());
        }
    }
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

pub(crate) async fn account_page(op: &Op, b: &Browser) -> (StatusCode, String) {
    let mut r = op.http.get(op.url("/account"));
    if let Some(c) = b.cookie_header() {
        r = r.header("cookie", c);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

pub(crate) fn csrf_of(page: &str) -> String {
    hidden(page, "csrf").expect("a csrf field")
}

/// Adds a soft passkey from the account page; the final status.
async fn add(op: &Op, b: &mut Browser, key: &mut SoftPasskey, name: &str) -> StatusCode {
    let (_, page) = account_page(op, b).await;
    let (s, new) = post(op, b, "/account/passkeys/new", &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(s, StatusCode::OK, "{new}");
    let options: CreationChallengeResponse =
        serde_json::from_str(&attribute(&new, "passkey-creation-options")).unwrap();
    let created = key
        .do_registration(Url::parse(&op.base).unwrap(), options)
        .unwrap();
    let credential = serde_json::to_string(&created).unwrap();
    let fields = [
        ("pending", hidden(&new, "pending").unwrap()),
        ("csrf", hidden(&new, "csrf").unwrap()),
        ("ceremony", hidden(&new, "ceremony").unwrap()),
        ("name", name.to_owned()),
        ("credential", credential),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, body) = post(op, b, "/account/passkeys", &fields).await;
    // A replay of the same answer: the ceremony is gone.
    let (again, _) = post(op, b, "/account/passkeys", &fields).await;
    assert_eq!(again, StatusCode::BAD_REQUEST, "a ceremony is single use");
    let _ = body;
    s
}

pub(crate) fn passkey_ids(page: &str) -> Vec<String> {
    page.match_indices("class=\"passkey\" data-id=\"")
        .map(|(i, m)| {
            let start = i + m.len();
            page[start..start + page[start..].find('"').unwrap()].to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_user_adds_a_passkey_and_signs_in_with_either() {
    let op = op_with_passkeys().await;
    // No session: no page.
    let (s, _) = account_page(&op, &Browser::default()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let mut b = signed_in(&op, "alice").await;
    let (s, page) = account_page(&op, &b).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("Password: set"), "{page}");
    assert!(page.contains("id=\"no-passkeys\""), "{page}");

    let mut key = SoftPasskey::new(true);
    assert_eq!(
        add(&op, &mut b, &mut key, "laptop").await,
        StatusCode::SEE_OTHER
    );
    let (_, page) = account_page(&op, &b).await;
    assert!(
        page.contains("<strong class=\"passkey-name\">laptop</strong>"),
        "{page}"
    );
    assert!(page.contains("device-bound"), "{page}");
    assert!(page.contains("last used never"), "{page}");

    // The passkey signs alice in (username first), and the list shows it was used.
    let mut other = Browser::default();
    let page = login_page(&op, &mut other).await;
    let step = begin(&op, &mut other, &page, "alice").await;
    let assertion = assert_of(&mut key, &op.base, &step);
    let done = answer(
        &op,
        &mut other,
        &step,
        &serde_json::to_string(&assertion).unwrap(),
    )
    .await;
    let done = other.complete(&op, done, "alice").await.redirect();
    assert!(done.contains_key("code"), "{done:?}");
    let (_, page) = account_page(&op, &other).await;
    assert!(!page.contains("last used never"), "{page}");
    // And the password still works.
    let _ = signed_in(&op, "alice").await;

    // Rename; an empty or control-character name is refused.
    let id = passkey_ids(&page).remove(0);
    let csrf = csrf_of(&page);
    let (s, _) = post(
        &op,
        &mut other,
        "/account/passkeys/rename",
        &[("csrf", &csrf), ("id", &id), ("name", "work key")],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _) = post(
        &op,
        &mut other,
        "/account/passkeys/rename",
        &[("csrf", &csrf), ("id", &id), ("name", "a\u{7}b")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, page) = account_page(&op, &other).await;
    assert!(page.contains(">work key</strong>"), "{page}");

    // Bob cannot rename or remove alice's passkey, even with his own valid token.
    let mut bob = signed_in(&op, "bob").await;
    let (_, bobs) = account_page(&op, &bob).await;
    let bob_csrf = csrf_of(&bobs);
    let (s, _) = post(
        &op,
        &mut bob,
        "/account/passkeys/rename",
        &[("csrf", &bob_csrf), ("id", &id), ("name", "mine")],
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = post(
        &op,
        &mut bob,
        "/account/passkeys/remove",
        &[("csrf", &bob_csrf), ("id", &id)],
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Alice's token in bob's session (another session's form): refused.
    let (s, _) = post(
        &op,
        &mut bob,
        "/account/passkeys/rename",
        &[("csrf", &csrf), ("id", &id), ("name", "x")],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A form from another site: refused before anything is read.
    let cross = op
        .http
        .post(op.url("/account/passkeys/remove"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .header("cookie", other.cookie_header().unwrap())
        .body(format!("csrf={csrf}&id={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);

    // Alice has a password: the passkey can go.
    let (s, _) = post(
        &op,
        &mut other,
        "/account/passkeys/remove",
        &[("csrf", &csrf), ("id", &id)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, page) = account_page(&op, &other).await;
    assert!(passkey_ids(&page).is_empty(), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_way_to_sign_in_cannot_be_removed_and_changes_need_a_recent_sign_in() {
    let op = op_with_passkeys().await;
    let key = backend(&op).await;
    // A passkey-only account, created by a relying party.
    let mut b = Browser::default();
    let req = AuthReq::new("shop", "code", "openid");
    let Step::ErrorPage(StatusCode::OK, page) = b
        .authorize(&op, &registration_request(&op, &key, &req, "carol"))
        .await
    else {
        panic!("registration page")
    };
    let mut first = SoftPasskey::new(true);
    let step = crate::registration::create_passkey(&op, &mut b, &page, &mut first).await;
    let _ = b.complete(&op, step, "unused").await.redirect();

    let (_, page) = account_page(&op, &b).await;
    assert!(page.contains("Password: none"), "{page}");
    assert!(
        page.contains("<strong id=\"username\">carol (at shop)</strong>"),
        "{page}"
    );
    let only = passkey_ids(&page).remove(0);
    let (s, body) = post(
        &op,
        &mut b,
        "/account/passkeys/remove",
        &[("csrf", &csrf_of(&page)), ("id", &only)],
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("last way to sign in"), "{body}");

    // With a second passkey, the first can go.
    let mut second = SoftPasskey::new(true);
    assert_eq!(
        add(&op, &mut b, &mut second, "phone").await,
        StatusCode::SEE_OTHER
    );
    let (_, page) = account_page(&op, &b).await;
    assert_eq!(passkey_ids(&page).len(), 2);
    let (s, _) = post(
        &op,
        &mut b,
        "/account/passkeys/remove",
        &[("csrf", &csrf_of(&page)), ("id", &only)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);

    // A session signed in long ago may look, not change.
    let carol = op
        .provider
        .store
        .user_by_name("4:shop:carol")
        .await
        .unwrap()
        .unwrap();
    let token = portcullis_op::random_token();
    let now = portcullis_op::now();
    op.provider
        .store
        .put_session(
            &portcullis_op::hash(&token),
            &SessionRow {
                sid: portcullis_op::random_token(),
                user_id: carol.id,
                auth_time: now - 3600,
                expires_at: now + 3600,
                authn: format!("passkey@{}", now - 3600),
            },
        )
        .await
        .unwrap();
    let mut stale = Browser {
        session: Some(token),
        ..Default::default()
    };
    let (s, page) = account_page(&op, &stale).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = post(
        &op,
        &mut stale,
        "/account/passkeys/new",
        &[("csrf", &csrf_of(&page))],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let id = passkey_ids(&page).remove(0);
    let (s, _) = post(
        &op,
        &mut stale,
        "/account/passkeys/remove",
        &[("csrf", &csrf_of(&page)), ("id", &id)],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
