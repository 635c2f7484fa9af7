//! Attacks on the login step (several methods, multi-step ceremonies, step-up), each driven over HTTP with the
//! safe behaviour asserted: acr/amr honest at issue time with `max_age`, `max_age=0` completable, a request
//! naming a user answered only for that user, NUL bytes as client errors, forged / moved / replayed
//! ceremonies, pages answered at the wrong endpoint, step-up skipped, oversized fields, login CSRF (a page
//! answered from another browser or posted from another site).

use std::time::Duration;

use crate::common::*;
use crate::support::*;
use portcullis_oidc::verify_id_token;
use portcullis_op::authn::{AuthRecord, MFA_ACR};
use portcullis_op::store::SessionRow;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn login_page(b: &mut Browser, op: &Op, req: &AuthReq) -> String {
    match b.authorize(op, &req.query()).await {
        Step::Login(page) => page,
        other => panic!("expected a login page, got {other:?}"),
    }
}

/// Posts raw form pairs to `path` with the browser's cookie.
async fn post(b: &mut Browser, op: &Op, path: &str, fields: &[(&str, &str)]) -> Step {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        form.append_pair(k, v);
    }
    let mut r = op
        .http
        .post(op.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish());
    if let Some(c) = b.cookie_header() {
        r = r.header("cookie", c);
    }
    let resp = r.send().await.unwrap();
    b.step(resp).await
}

async fn claims_of(op: &Op, step: Step, req: &AuthReq) -> serde_json::Map<String, Value> {
    let cb = step.redirect();
    let (s, t) = redeem(op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let exp = expect(op, &req.nonce);
    let jwks = op.jwks().await;
    verify_id_token(t["id_token"].as_str().unwrap(), &jwks, ALGS, &exp)
        .unwrap()
        .claims
        .custom
}

fn not_logged_in(step: &Step) -> bool {
    !matches!(
        step,
        Step::Consent(_) | Step::Redirect(_) | Step::FormPost(_)
    )
}

/// A session for alice recording `record`, as if she had logged in.
async fn session_with(op: &Op, record: &AuthRecord) -> Browser {
    let store = &op.provider.store;
    let user = store.user_by_name("alice").await.unwrap().unwrap();
    let token = portcullis_op::random_token();
    let session = SessionRow {
        sid: portcullis_op::random_token(),
        user_id: user.id,
        auth_time: record.auth_time().unwrap(),
        expires_at: portcullis_op::now() + 3600,
        authn: record.encode(),
    };
    store
        .put_session(&portcullis_op::hash(&token), &session)
        .await
        .unwrap();
    Browser {
        session: Some(token),
        ..Default::default()
    }
}

/// max_age=0 and a consent answered a second later: the ID token must not claim the password (never typed)
/// with no amr; it must say what was passed (or refuse).
#[tokio::test]
async fn issued_acr_names_only_methods_the_user_passed() {
    let (op, outbox) = op_with_code(None).await;
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid").set("max_age", "0");
    let page = login_page(&mut b, &op, &req).await;
    let step = begin_code(&mut b, &op, &page, "alice").await;
    let done = finish_code(&mut b, &op, &step, &last_code(&outbox, "alice")).await;
    let Step::Consent(consent) = done else {
        panic!("consent page: {done:?}")
    };
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let step = b
        .submit(&op, &consent, "/consent", &[("decision", "allow")])
        .await;
    let idt = claims_of(&op, step, &req).await;
    assert_eq!(
        (idt["acr"].as_str(), &idt["amr"]),
        (Some(CODE_ACR), &json!(["otp"])),
        "the user passed only the code method"
    );
}

/// An essential two-factor acr with max_age: a consent page answered after the factors went stale must not
/// issue a code whose ID token fails the essential acr (and whose auth_time is older than max_age).
#[tokio::test]
async fn essential_acr_is_still_met_when_the_code_is_issued() {
    let (op, _) = op_with_code(None).await;
    let now = portcullis_op::now();
    let mut b = session_with(
        &op,
        &AuthRecord::single("password", now - 57).with("code", now - 57),
    )
    .await;
    let claims = json!({"id_token": {"acr": {"essential": true, "values": [MFA_ACR]}}});
    let req = AuthReq::new("public", "code", "openid")
        .set("claims", &claims.to_string())
        .set("max_age", "60");
    let Step::Consent(consent) = b.authorize(&op, &req.query()).await else {
        panic!("consent page")
    };
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let step = b
        .submit(&op, &consent, "/consent", &[("decision", "allow")])
        .await;
    if let Step::Redirect(l) = &step
        && params_of(l).contains_key("error")
    {
        return; // refusing is safe
    }
    if matches!(step, Step::Login(_)) {
        return; // asking the user to log in again is safe too
    }
    let idt = claims_of(&op, step, &req).await;
    assert_eq!(idt["acr"], MFA_ACR, "essential acr unmet: {idt:?}");
    let auth_time = idt["auth_time"].as_i64().unwrap();
    assert!(
        portcullis_op::now() - auth_time <= 60,
        "auth_time older than max_age"
    );
}

/// max_age=0 with two factors wanted: once both steps are passed for this request, the flow goes on (today
/// each step makes the other stale, and the pages alternate forever).
#[tokio::test]
async fn max_age_zero_step_up_can_be_completed() {
    let (op, outbox) = op_with_code(None).await;
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid")
        .set("acr_values", MFA_ACR)
        .set("max_age", "0");
    let page = login_page(&mut b, &op, &req).await;
    let Step::Login(stepup) = b.login(&op, &page, "alice").await else {
        panic!("step-up page")
    };
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let step = begin_code(&mut b, &op, &stepup, "").await;
    let done = finish_code(&mut b, &op, &step, &last_code(&outbox, "alice")).await;
    assert!(
        matches!(done, Step::Consent(_) | Step::Redirect(_)),
        "asked again after both factors: {done:?}"
    );
}

/// OIDC Core §5.5.1: with a required `sub`, only that user may be answered positively, also after a login.
#[tokio::test]
async fn claims_sub_is_enforced_after_login() {
    let (op, _) = op_with_code(None).await;
    let alice = op
        .provider
        .store
        .user_by_name("alice")
        .await
        .unwrap()
        .unwrap();
    let claims = json!({"id_token": {"sub": {"value": alice.id}}});
    let req = AuthReq::new("public", "code", "openid").set("claims", &claims.to_string());
    let mut b = Browser::default();
    let page = login_page(&mut b, &op, &req).await;
    let step = b.login(&op, &page, "bob").await;
    let step = match step {
        Step::Consent(c) => {
            b.submit(&op, &c, "/consent", &[("decision", "allow")])
                .await
        }
        other => other,
    };
    if let Step::Redirect(l) = &step {
        assert!(
            params_of(l).contains_key("error"),
            "bob answered for a request naming alice: {l}"
        );
    }
}

/// A NUL byte in a form field is the client's error, not a storage failure (PostgreSQL refuses NUL in text).
#[tokio::test]
async fn nul_bytes_in_login_fields_are_client_errors() {
    let pg = PgCluster::start();
    let (op, _) = op_with_code(Some(pg.create_db("nul").await)).await;
    let mut b = Browser::default();
    let page = login_page(&mut b, &op, &AuthReq::new("public", "code", "openid")).await;
    let (pending, csrf) = (
        hidden(&page, "pending").unwrap(),
        hidden(&page, "csrf").unwrap(),
    );
    let cases: [&[(&str, &str)]; 2] = [
        &[
            ("pending", &pending),
            ("csrf", &csrf),
            ("method", "code"),
            ("ceremony", "a\0b"),
        ],
        &[("pending", "a\0b"), ("csrf", &csrf), ("method", "code")],
    ];
    for fields in cases {
        let step = post(&mut b, &op, "/login", fields).await;
        let status = match &step {
            Step::ErrorPage(s, _) => *s,
            Step::Login(_) => StatusCode::UNAUTHORIZED,
            other => panic!("{other:?}"),
        };
        assert!(status.is_client_error(), "{fields:?}: {status} {step:?}");
    }
}

#[tokio::test]
async fn forged_moved_and_replayed_ceremonies_are_refused() {
    let (op, outbox) = op_with_code(None).await;
    let mut b = Browser::default();
    let page = login_page(&mut b, &op, &AuthReq::new("public", "code", "openid")).await;
    // A forged ceremony id.
    let forged = post(
        &mut b,
        &op,
        "/login",
        &[
            ("pending", &hidden(&page, "pending").unwrap()),
            ("csrf", &hidden(&page, "csrf").unwrap()),
            ("method", "code"),
            ("ceremony", &portcullis_op::random_token()),
            ("code", "12345678"),
        ],
    )
    .await;
    assert!(
        matches!(forged, Step::Login(ref p) if p.contains("role=\"alert\"")),
        "{forged:?}"
    );
    // A ceremony id used as the pending request (its stored CSRF token is empty).
    let step = begin_code(&mut b, &op, &page, "alice").await;
    let id = hidden(&step, "ceremony").unwrap();
    let as_pending = post(
        &mut b,
        &op,
        "/login",
        &[("pending", &id), ("csrf", ""), ("method", "code")],
    )
    .await;
    assert!(
        matches!(as_pending, Step::ErrorPage(s, _) if s.is_client_error()),
        "{as_pending:?}"
    );
    // Finished under another method's name: the password method ignores it; the code method still works.
    let other = b
        .submit(
            &op,
            &step,
            "/login",
            &[("method", "password"), ("ceremony", &id), ("code", "x")],
        )
        .await;
    assert!(not_logged_in(&other), "{other:?}");
    // The pending request completed by the password: the ceremony dies with it.
    let code = last_code(&outbox, "alice");
    assert!(!not_logged_in(&b.login(&op, &page, "alice").await));
    let late = finish_code(&mut b, &op, &step, &code).await;
    assert!(
        matches!(late, Step::ErrorPage(StatusCode::BAD_REQUEST, _)),
        "{late:?}"
    );
}

#[tokio::test]
async fn pages_cannot_be_answered_at_the_wrong_endpoint() {
    let (op, _) = op_with_code(None).await;
    let mut b = Browser::default();
    code_flow(&op, &mut b, "alice", "openid").await;
    let req = AuthReq::new("public", "code", "openid profile");
    let Step::Consent(consent) = b.authorize(&op, &req.query()).await else {
        panic!("consent page")
    };
    let at_login = b.login(&op, &consent, "alice").await;
    assert!(
        matches!(at_login, Step::ErrorPage(StatusCode::BAD_REQUEST, _)),
        "{at_login:?}"
    );
}

#[tokio::test]
async fn step_up_cannot_be_skipped() {
    let (op, outbox) = op_with_code(None).await;
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid").set("acr_values", MFA_ACR);
    let page = login_page(&mut b, &op, &req).await;
    // A second login page of the same browser (one of another browser is refused outright: see
    // `login_form_is_bound_to_the_browser_that_fetched_it`).
    let spare = login_page(&mut b, &op, &req).await;
    let Step::Login(stepup) = b.login(&op, &page, "alice").await else {
        panic!("step-up page")
    };
    // The used full-login page, a spare full-login page, the step-up page as consent, prompt=none.
    assert!(matches!(
        b.login(&op, &page, "alice").await,
        Step::ErrorPage(StatusCode::BAD_REQUEST, _)
    ));
    assert!(
        matches!(b.login(&op, &spare, "alice").await, Step::Login(ref p) if !p.contains("id=\"password\""))
    );
    let c = b
        .submit(&op, &stepup, "/consent", &[("decision", "allow")])
        .await;
    assert!(
        matches!(c, Step::ErrorPage(StatusCode::BAD_REQUEST, _)),
        "{c:?}"
    );
    let none = b
        .authorize(&op, &format!("{}&prompt=none", req.query()))
        .await
        .redirect();
    assert_eq!(none["error"], "login_required");
    // The password cookie, kept aside, cannot be used after the step-up.
    let Step::Login(stepup) = b.authorize(&op, &req.query()).await else {
        panic!("step-up again")
    };
    let old = b.session.clone();
    let step = begin_code(&mut b, &op, &stepup, "").await;
    let done = finish_code(&mut b, &op, &step, &last_code(&outbox, "alice")).await;
    assert!(!not_logged_in(&done), "{done:?}");
    assert_ne!(b.session, old, "a new cookie");
    let mut stale = Browser {
        session: old,
        ..Default::default()
    };
    assert!(
        matches!(stale.authorize(&op, &req.query()).await, Step::Login(ref p) if p.contains("id=\"password\""))
    );
}

#[tokio::test]
async fn oversized_and_unoffered_fields_are_refused_cleanly() {
    let (op, _) = op_with_code(None).await;
    let mut b = Browser::default();
    let page = login_page(&mut b, &op, &AuthReq::new("public", "code", "openid")).await;
    let huge = "a".repeat(60 * 1024);
    for (k, v) in [
        ("method", huge.as_str()),
        ("method", "PASSWORD"),
        ("method", "code\0"),
    ] {
        let s = b.submit(&op, &page, "/login", &[(k, v)]).await;
        assert!(
            matches!(s, Step::ErrorPage(s, _) if s.is_client_error()),
            "{k}: {s:?}"
        );
    }
    let s = b
        .submit(
            &op,
            &page,
            "/login",
            &[("method", "code"), ("ceremony", &huge)],
        )
        .await;
    assert!(matches!(s, Step::Login(_)), "{s:?}");
    let big = "b".repeat(70 * 1024);
    let s = b
        .submit(
            &op,
            &page,
            "/login",
            &[("method", "code"), ("ceremony", &big)],
        )
        .await;
    assert!(
        matches!(s, Step::ErrorPage(s, _) if s.is_client_error()),
        "{s:?}"
    );
    // A fixed cookie value is never adopted.
    let mut fixed = Browser {
        session: Some("attacker-chosen".into()),
        ..Default::default()
    };
    let page = login_page(&mut fixed, &op, &AuthReq::new("public", "code", "openid")).await;
    fixed.login(&op, &page, "alice").await;
    assert_ne!(fixed.session.as_deref(), Some("attacker-chosen"));
}

/// Login CSRF through a ceremony: bob begins the code method on his own login page, reads his code, and has
/// alice's browser post the ceremony; alice's browser must not end up in bob's session.
#[tokio::test]
async fn ceremony_cannot_be_finished_by_another_browser() {
    let (op, outbox) = op_with_code(None).await;
    let mut alice = Browser::default();
    code_flow(&op, &mut alice, "alice", "openid").await;
    let alices_cookie = alice.session.clone();
    let mut bob = Browser::default();
    let page = login_page(&mut bob, &op, &AuthReq::new("public", "code", "openid")).await;
    let step = begin_code(&mut bob, &op, &page, "bob").await;
    let code = last_code(&outbox, "bob");
    let done = finish_code(&mut alice, &op, &step, &code).await;
    assert!(
        not_logged_in(&done),
        "bob's ceremony finished in alice's browser: {done:?}"
    );
    assert_eq!(
        alice.session, alices_cookie,
        "alice's browser now holds bob's session"
    );
}

/// Login CSRF with the password form: a login page fetched by one browser is answered from another.
#[tokio::test]
async fn login_form_is_bound_to_the_browser_that_fetched_it() {
    let (op, _) = op_with_code(None).await;
    let mut bob = Browser::default();
    let page = login_page(&mut bob, &op, &AuthReq::new("public", "code", "openid")).await;
    let mut victim = Browser::default();
    let done = victim.login(&op, &page, "bob").await;
    assert!(not_logged_in(&done), "{done:?}");
    assert!(
        victim.session.is_none(),
        "the victim's browser got bob's session"
    );
}

/// The consent page too is answered only from the browser it was shown to (and the session it was bound to).
#[tokio::test]
async fn consent_form_is_bound_to_the_browser_that_fetched_it() {
    let (op, _) = op_with_code(None).await;
    let mut alice = Browser::default();
    let req = AuthReq::new("public", "code", "openid email");
    let page = login_page(&mut alice, &op, &req).await;
    let Step::Consent(consent) = alice.login(&op, &page, "alice").await else {
        panic!("consent page")
    };
    // Alice's session cookie alone (no binding cookie) is not enough.
    let mut session_only = Browser {
        session: alice.session.clone(),
        ..Default::default()
    };
    let stolen = session_only
        .submit(&op, &consent, "/consent", &[("decision", "allow")])
        .await;
    assert!(
        matches!(stolen, Step::ErrorPage(StatusCode::FORBIDDEN, _)),
        "{stolen:?}"
    );
    // Her own browser still can (the refused post did not consume the page).
    let done = alice
        .submit(&op, &consent, "/consent", &[("decision", "allow")])
        .await;
    assert!(matches!(done, Step::Redirect(_)), "{done:?}");
}

/// A login or consent form posted from another site is refused before anything is looked up, whatever it
/// carries: `Sec-Fetch-Site: cross-site` / `same-site`, or a foreign `Origin`.
#[tokio::test]
async fn cross_site_form_posts_are_refused() {
    let (op, _) = op_with_code(None).await;
    let mut b = Browser::default();
    let page = login_page(&mut b, &op, &AuthReq::new("public", "code", "openid")).await;
    let form = format!(
        "pending={}&csrf={}&username=alice&password={}",
        hidden(&page, "pending").unwrap(),
        hidden(&page, "csrf").unwrap(),
        form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect::<String>()
    );
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://evil.example"),
    ] {
        let r = op
            .http
            .post(op.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", b.cookie_header().unwrap())
            .header(name, value)
            .body(form.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(
            r.headers().get("set-cookie").is_none(),
            "no session for {name}: {value}"
        );
    }
    // The same form from the provider's own page (as browsers send it: same-origin, Origin null) works.
    let r = op
        .http
        .post(op.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", b.cookie_header().unwrap())
        .header("sec-fetch-site", "same-origin")
        .header("origin", "null")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
}
