//! The review's attacks on registration started by a relying party (prompt=create): single use, browser and
//! site binding, ceremonies and pending kinds that do not cross, the signature on every path, identifiers that
//! cannot collide or take over an account, all-or-nothing account creation, malformed answers.
//!
//! Must not: change the provider or weaken what another test proves.

#![allow(unused_imports)]
use super::passkeys::{begin, login_page, options_of, register};
use super::registration::{attribute, op_with_passkeys};
use super::review_passkeys::*;
use crate::common::*;
use portcullis_jose::{Algorithm, Jwk, JwkSet, jwt};
use portcullis_op::store::PasskeyRow;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url, Uuid};

/// A registration answer is posted once, from the browser that was shown the page, from this site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_registration_is_single_use_browser_bound_and_same_site() {
    let op = op_with_passkeys().await;
    let key = backend_for(&op, "shop").await;
    let mut b = Browser::default();
    let page = reg_page(&op, &mut b, &key, "shop", "cust-1").await;
    let mut sk = SoftPasskey::new(true);
    let (ceremony, cred, _) = make_credential(&op, &page, &mut sk);

    // Another browser (no binding cookie; then its own binding cookie).
    let mut other = Browser::default();
    let step = post_register(&op, &mut other, &page, &ceremony, &cred).await;
    assert!(refused(&step), "no cookie: {step:?}");
    let _ = login_page(&op, &mut other).await;
    assert!(other.browser.is_some());
    let step = post_register(&op, &mut other, &page, &ceremony, &cred).await;
    assert!(refused(&step), "other browser: {step:?}");

    // Cross-site post with the right cookies.
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("pending", &hidden(&page, "pending").unwrap())
        .append_pair("csrf", &hidden(&page, "csrf").unwrap())
        .append_pair("ceremony", &ceremony)
        .append_pair("credential", &cred)
        .finish();
    for (h, v) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let resp = op
            .http
            .post(op.url("/register"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", b.cookie_header().unwrap())
            .header(h, v)
            .body(form.clone())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error(), "{h}: {}", resp.status());
    }
    // Wrong CSRF token.
    let bad_csrf = page.replace(&hidden(&page, "csrf").unwrap(), "AAAA");
    let step = post_register(&op, &mut b, &bad_csrf, &ceremony, &cred).await;
    assert!(refused(&step), "{step:?}");
    assert!(user_named(&op, "4:shop:cust-1").await.is_none());

    // The real one, then the same again.
    let step = post_register(&op, &mut b, &page, &ceremony, &cred).await;
    assert!(signed_in(&step), "{step:?}");
    let step = post_register(&op, &mut b, &page, &ceremony, &cred).await;
    assert!(refused(&step), "replayed: {step:?}");
    let u = user_named(&op, "4:shop:cust-1").await.unwrap();
    assert_eq!(op.provider.store.passkeys_of(&u.id).await.unwrap().len(), 1);
}

/// A login ceremony id cannot finish a registration, a registration ceremony cannot finish a login, and a
/// pending request of another kind cannot be posted to /register.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_ceremonies_and_pending_kinds_do_not_cross() {
    let op = op_with_passkeys().await;
    let key = backend_for(&op, "shop").await;
    let mut b = Browser::default();
    let reg = reg_page(&op, &mut b, &key, "shop", "cust-2").await;
    let mut sk = SoftPasskey::new(true);
    let (reg_ceremony, cred, _) = make_credential(&op, &reg, &mut sk);
    let login = login_page(&op, &mut b).await;
    let step_page = begin(&op, &mut b, &login, "").await;
    let login_ceremony = hidden(&step_page, "ceremony").unwrap();

    // The login ceremony at /register.
    let step = post_register(&op, &mut b, &reg, &login_ceremony, &cred).await;
    assert!(refused(&step), "{step:?}");
    // The registration ceremony at /login (passkey method).
    let step = b
        .submit(
            &op,
            &step_page,
            "/login",
            &[
                ("method", "passkey"),
                ("ceremony", &reg_ceremony),
                ("credential", &cred),
            ],
        )
        .await;
    not_500(&step, "reg ceremony at /login");
    assert!(!signed_in(&step), "{step:?}");
    // The login page's pending request (kind authorize) at /register.
    let reg2 = reg_page(&op, &mut b, &key, "shop", "cust-2").await;
    let (c2, cred2, _) = make_credential(&op, &reg2, &mut sk);
    let login2 = login_page(&op, &mut b).await;
    let step = post_register(&op, &mut b, &login2, &c2, &cred2).await;
    assert!(refused(&step), "authorize row at /register: {step:?}");
    // The registration's pending request at /login (password).
    let step = b.login(&op, &reg2, "alice").await;
    assert!(!signed_in(&step), "register row at /login: {step:?}");
    not_500(&step, "register row at /login");
    assert!(user_named(&op, "4:shop:cust-2").await.is_none());
    assert!(
        op.provider
            .store
            .rp_account("shop", "cust-2")
            .await
            .unwrap()
            .is_none()
    );
}

/// prompt=create without a verified signature on it: PAR (unsigned push), POST /authorize, an empty or
/// foreign `request`, or outer parameters next to a signed object that does not ask for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_prompt_create_needs_the_signature_on_every_path() {
    let op = op_with_passkeys().await;
    let key = backend_for(&op, "shop").await;
    let mut b = Browser::default();

    // PAR, unsigned.
    let req = AuthReq::new("shop", "code", "openid")
        .set("prompt", "create")
        .set("login_hint", "par-1");
    let (status, body) = crate::review_second_factor::push(&op, &req.query()).await;
    if status == StatusCode::CREATED {
        let q = crate::review_second_factor::visit(body["request_uri"].as_str().unwrap());
        let step = b.authorize(&op, &q).await;
        not_500(&step, "PAR");
        assert!(
            !matches!(&step, Step::ErrorPage(StatusCode::OK, p) if p.contains("Create a passkey")),
            "unsigned PAR create: {step:?}"
        );
    } else {
        assert!(status.is_client_error(), "{status} {body}");
    }

    // POST /authorize, unsigned.
    let step = b.authorize_post(&op, &req.query()).await;
    assert!(refused(&step), "POST: {step:?}");

    // An empty `request` parameter next to unsigned prompt=create.
    let q = format!("{}&request=", req.query());
    let step = b.authorize(&op, &q).await;
    assert!(refused(&step), "empty request: {step:?}");

    // A signed object that does not ask for create, with prompt=create and login_hint outside it.
    let plain = AuthReq::new("shop", "code", "openid");
    let mut claims: Map<String, Value> = plain
        .pairs
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    claims.insert("iss".into(), json!("shop"));
    claims.insert("aud".into(), json!(op.base));
    claims.insert("exp".into(), json!(portcullis_op::now() + 300));
    let obj = signed_object(&key, &claims);
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "shop")
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", RP)
        .append_pair("prompt", "create")
        .append_pair("login_hint", "outer-1")
        .append_pair("request", &obj)
        .finish();
    let step = b.authorize(&op, &q).await;
    not_500(&step, "outer prompt");
    assert!(
        !matches!(&step, Step::ErrorPage(StatusCode::OK, p) if p.contains("Create a passkey")),
        "outer prompt=create: {step:?}"
    );

    // Another client's key signing for shop.
    let _ = backend_for(&op, "other").await;
    let forger = backend_for(&op, "evil").await;
    let req2 = AuthReq::new("shop", "code", "openid");
    let step = b
        .authorize(&op, &create_query(&op, &forger, "shop", &req2, "x-1", &[]))
        .await;
    assert!(refused(&step), "foreign key: {step:?}");
    for name in ["4:shop:par-1", "4:shop:outer-1", "4:shop:x-1"] {
        assert!(user_named(&op, name).await.is_none(), "{name}");
    }
}

/// A consent page's stored request (it carries prompt=create and login_hint) cannot be posted to /register.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_consent_row_cannot_be_replayed_at_register() {
    let op = op_with_passkeys().await;
    let key = backend_for(&op, "shop").await;
    let mut b = Browser::default();
    let page = reg_page(&op, &mut b, &key, "shop", "cust-c").await;
    let mut sk = SoftPasskey::new(true);
    let (ceremony, cred, _) = make_credential(&op, &page, &mut sk);
    let step = post_register(&op, &mut b, &page, &ceremony, &cred).await;
    let Step::Consent(consent) = step else {
        panic!("expected consent, got {step:?}")
    };
    let page2 = reg_page(&op, &mut b, &key, "shop", "cust-c2").await;
    let (c2, cred2, _) = make_credential(&op, &page2, &mut sk);
    let step = post_register(&op, &mut b, &consent, &c2, &cred2).await;
    assert!(refused(&step), "{step:?}");
    assert!(user_named(&op, "4:shop:cust-c2").await.is_none());
}

/// "<client>:<hint>" collisions: an identifier with ':' of one client and a client id with ':' name the same
/// username. Nobody's passkey may land on another account, and one relying party must not block another's
/// identifier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_colon_in_identifier_collides_across_clients() {
    let op = op_with_passkeys().await;
    let store = &op.provider.store;
    let shop = backend_for(&op, "shop").await;
    let shop_a = backend_for(&op, "shop:a").await;
    // Client "shop", identifier "a:b" -> username "shop:a:b".
    let mut b = Browser::default();
    let page = reg_page(&op, &mut b, &shop, "shop", "a:b").await;
    let mut sk = SoftPasskey::new(true);
    let (c, cred, _) = make_credential(&op, &page, &mut sk);
    assert!(signed_in(
        &post_register(&op, &mut b, &page, &c, &cred).await
    ));
    let first = store.rp_account("shop", "a:b").await.unwrap().unwrap();

    // Client "shop:a", identifier "b" -> username "shop:a:b" too.
    let mut b2 = Browser::default();
    let page = reg_page(&op, &mut b2, &shop_a, "shop:a", "b").await;
    let mut sk2 = SoftPasskey::new(true);
    let (c, cred, _) = make_credential(&op, &page, &mut sk2);
    let step = post_register(&op, &mut b2, &page, &c, &cred).await;
    not_500(&step, "collision");
    // No takeover: the first account keeps exactly its own passkey.
    assert_eq!(store.passkeys_of(&first).await.unwrap().len(), 1);
    // Not blocked: the second relying party's identifier gets its own account.
    let second = store.rp_account("shop:a", "b").await.unwrap();
    assert!(
        second.as_ref().is_some_and(|s| *s != first),
        "client 'shop:a' identifier 'b' could not register (username 'shop:a:b' taken by client 'shop' \
         identifier 'a:b'): {step:?}"
    );
}

/// A password user whose username is "<client>:<hint>" never gets a passkey attached by a registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_registration_never_attaches_to_an_existing_password_user() {
    let op = op_with_passkeys().await;
    let store = &op.provider.store;
    portcullis_op::admin::add_user(store, "4:shop:carol", PASSWORD, &json!({}))
        .await
        .unwrap();
    let carol = user_named(&op, "4:shop:carol").await.unwrap();
    let key = backend_for(&op, "shop").await;
    let mut b = Browser::default();
    let page = reg_page(&op, &mut b, &key, "shop", "carol").await;
    let mut sk = SoftPasskey::new(true);
    let (c, cred, _) = make_credential(&op, &page, &mut sk);
    let step = post_register(&op, &mut b, &page, &c, &cred).await;
    not_500(&step, "existing user");
    assert!(!signed_in(&step), "{step:?}");
    assert!(store.passkeys_of(&carol.id).await.unwrap().is_empty());
    assert_ne!(
        store.rp_account("shop", "carol").await.unwrap().as_deref(),
        Some(carol.id.as_str())
    );
}

/// Malformed, oversized and truncated answers at /register: never 500, never an account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_malformed_registrations_never_500() {
    let op = op_with_passkeys().await;
    let key = backend_for(&op, "shop").await;
    let mut b = Browser::default();
    let page = reg_page(&op, &mut b, &key, "shop", "m-0").await;
    let mut sk = SoftPasskey::new(true);
    let (_, real_reg, _) = make_credential(&op, &page, &mut sk);
    let real_reg: Value = serde_json::from_str(&real_reg).unwrap();
    let rmut = |f: &dyn Fn(&mut Value)| {
        let mut v = real_reg.clone();
        f(&mut v);
        v.to_string()
    };
    let mut rcases: Vec<(String, String)> = login_cases(&real_reg)
        .into_iter()
        .filter(|(n, _)| !n.starts_with("authdata") && !n.starts_with("sig"))
        .collect();
    rcases.push((
        "att-1".into(),
        rmut(&|v| v["response"]["attestationObject"] = json!("oA")),
    ));
    rcases.push((
        "att-map".into(),
        rmut(&|v| {
            v["response"]["attestationObject"] = json!("o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YUA")
        }),
    ));
    rcases.push((
        "att-truncated".into(),
        rmut(&|v| {
            let s = v["response"]["attestationObject"]
                .as_str()
                .unwrap()
                .to_owned();
            v["response"]["attestationObject"] = json!(s[..s.len() / 2].to_owned())
        }),
    ));
    for (i, (name, cred)) in rcases.iter().enumerate() {
        let mut b = Browser::default();
        let page = reg_page(&op, &mut b, &key, "shop", &format!("m-{i}")).await;
        let ceremony = hidden(&page, "ceremony").unwrap();
        let step = post_register(&op, &mut b, &page, &ceremony, cred).await;
        not_500(&step, &format!("/register {name}"));
        assert!(!signed_in(&step), "/register {name}: {step:?}");
        assert!(user_named(&op, &format!("4:shop:m-{i}")).await.is_none());
    }
    // Missing fields at /register.
    let mut b = Browser::default();
    let page = reg_page(&op, &mut b, &key, "shop", "m-x").await;
    for fields in [
        vec![],
        vec![("ceremony", "nope")],
        vec![("credential", "{}")],
    ] {
        let step = b.submit(&op, &page, "/register", &fields).await;
        not_500(&step, &format!("/register fields {fields:?}"));
        assert!(refused(&step), "{fields:?}: {step:?}");
    }
}

/// A registration that fails after the account was created (here: the credential id is registered already,
/// e.g. an attacker's self-made credential reusing an id `allowCredentials` revealed) must leave nothing
/// behind: no user without a passkey, no rp_accounts row that turns the identifier into a login page nobody
/// can get through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_failed_registration_leaves_no_half_created_account() {
    let op = op_with_passkeys().await;
    let store = &op.provider.store;
    let key = backend_for(&op, "shop").await;
    let mut b = Browser::default();
    let page = reg_page(&op, &mut b, &key, "shop", "half-1").await;
    let mut sk = SoftPasskey::new(true);
    let (ceremony, cred, cred_id) = make_credential(&op, &page, &mut sk);
    // The same credential id is someone else's already.
    let alice = user_named(&op, "alice").await.unwrap();
    assert!(
        store
            .add_passkey(&PasskeyRow {
                credential_id: cred_id.clone(),
                user_id: alice.id.clone(),
                user_handle: Uuid::new_v4().to_string(),
                credential: "{}".into(),
                name: "taken".into(),
                backup_eligible: false,
                backup_state: false,
                created_at: 1,
                last_used_at: None,
                suspect_clone: false,
                aaguid: None,
                attested: false,
            })
            .await
            .unwrap()
    );
    let step = post_register(&op, &mut b, &page, &ceremony, &cred).await;
    assert!(refused(&step), "{step:?}");
    let user = user_named(&op, "4:shop:half-1").await;
    let account = store.rp_account("shop", "half-1").await.unwrap();
    assert!(
        user.is_none() && account.is_none(),
        "half-created: user {:?} (passkeys: {:?}), rp_account {account:?}",
        user.as_ref().map(|u| &u.id),
        match &user {
            Some(u) => store.passkeys_of(&u.id).await.unwrap().len(),
            None => 0,
        }
    );
}

/// A signed registration request is a capability to create the account for its identifier: used once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_signed_registration_request_is_single_use() {
    let op = op_with_passkeys().await;
    let key = backend_for(&op, "shop").await;
    // With a jti: the second use is refused.
    let req = AuthReq::new("shop", "code", "openid");
    let q = create_query(&op, &key, "shop", &req, "once-1", &[("jti", json!("j-1"))]);
    let mut b = Browser::default();
    assert!(matches!(
        b.authorize(&op, &q).await,
        Step::ErrorPage(StatusCode::OK, _)
    ));
    let mut attacker = Browser::default();
    let step = attacker.authorize(&op, &q).await;
    assert!(
        !matches!(&step, Step::ErrorPage(StatusCode::OK, p) if p.contains("Create a passkey")),
        "jti replay: {step:?}"
    );
    // Without a jti a leaked request (history, logs, Referer) would let anyone race the user to the identifier:
    // such a request is refused with an error page.
    let q = create_query(&op, &key, "shop", &req, "once-2", &[("jti", Value::Null)]);
    let mut b = Browser::default();
    match b.authorize(&op, &q).await {
        Step::ErrorPage(StatusCode::BAD_REQUEST, page) => {
            assert!(page.contains("must carry a jti"), "{page}")
        }
        other => panic!("a registration request without jti: {other:?}"),
    }
}

/// prompt=create for an identifier that has an account shows the login page; whoever signs in there should be
/// that account (the RP named it), not any other user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_existing_identifier_login_answers_only_that_account() {
    let op = op_with_passkeys().await;
    let key = backend_for(&op, "shop").await;
    let mut b = Browser::default();
    let page = reg_page(&op, &mut b, &key, "shop", "cust-5").await;
    let mut sk = SoftPasskey::new(true);
    let (c, cred, _) = make_credential(&op, &page, &mut sk);
    assert!(signed_in(
        &post_register(&op, &mut b, &page, &c, &cred).await
    ));

    let mut other = Browser::default();
    let req = AuthReq::new("shop", "code", "openid");
    let step = other
        .authorize(&op, &create_query(&op, &key, "shop", &req, "cust-5", &[]))
        .await;
    assert!(matches!(step, Step::Login(_)), "{step:?}");
    let done = other.complete(&op, step, "alice").await;
    let got_code = matches!(&done, Step::Redirect(l) if params_of(l).contains_key("code"));
    assert!(
        !got_code,
        "prompt=create naming shop's identifier cust-5 was answered with a code for alice: {done:?}"
    );
}
