//! The login and consent pages: wrong passwords and unknown users, the CSRF token, escaping and
//! framing headers, a denied consent (`access_denied`), the CSP `form-action` that lets their 303 reach
//! the client, and the pluggable login step (`portcullis_op::authn::LoginMethod`) with its `amr` and
//! `acr`. When a login or a consent is needed is `prompts`'.

use crate::common::*;
use crate::support::expect;
use portcullis_oidc::verify_id_token;
use reqwest::StatusCode;
use serde_json::{Value, json};

every_case!(
    login_form_rejects,
    form_pages_csp_allows_only_the_redirect_origin
);

/// Login: wrong password, CSRF token, expired pending request.
async fn login_form_rejects(op: &Op) {
    let mut b = Browser::default();
    let step = b
        .authorize(op, &AuthReq::new("public", "code", "openid").query())
        .await;
    let Step::Login(page) = step else {
        panic!("{step:?}")
    };
    let again = b
        .submit(
            op,
            &page,
            "/login",
            &[("username", "alice"), ("password", "wrong password")],
        )
        .await;
    assert!(matches!(again, Step::Login(_)));
    assert!(b.session.is_none());
    let again = b
        .submit(
            op,
            &page,
            "/login",
            &[("username", "mallory"), ("password", PASSWORD)],
        )
        .await;
    assert!(matches!(again, Step::Login(_)));
    let forged = page.replace(&hidden(&page, "csrf").unwrap(), "forged");
    match b
        .submit(
            op,
            &forged,
            "/login",
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await
    {
        Step::ErrorPage(s, _) => assert_eq!(s, StatusCode::FORBIDDEN),
        other => panic!("{other:?}"),
    }
    // The login page is escaped and framed by strict headers.
    let r = op
        .http
        .get(op.url(&format!(
                "/authorize?{}",
                AuthReq::new("public", "code", "openid")
                    .set("login_hint", "\"><script>x</script>")
                    .query()
            )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let body = r.text().await.unwrap();
    assert!(!body.contains("<script>x"));
    assert!(body.contains("&quot;&gt;&lt;script&gt;"));
    // Deny at consent: access_denied.
    let step = b.login(op, &page, "alice").await;
    let Step::Consent(c) = step else {
        panic!("{step:?}")
    };
    assert!(b.session.is_some());
    let cb = b
        .submit(op, &c, "/consent", &[("decision", "deny")])
        .await
        .redirect();
    assert_eq!(cb["error"], "access_denied");
}

/// The login and consent forms may lead (by a 303 after the POST) to the client's redirect URI: their CSP
/// `form-action` allows 'self' and that origin only (Chromium blocks the redirect otherwise).
async fn form_pages_csp_allows_only_the_redirect_origin(op: &Op) {
    let req = AuthReq::new("public", "code", "openid");
    let resp = op
        .http
        .get(format!("{}?{}", op.url("/authorize"), req.query()))
        .send()
        .await
        .unwrap();
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' https://rp.example;"),
        "{csp}"
    );
    assert!(!csp.contains("http:") && !csp.contains('*'), "{csp}");
    let mut b = Browser::default();
    let step = b.authorize(op, &req.query()).await;
    let Step::Login(page) = step else {
        panic!("login page expected")
    };
    let resp = op
        .http
        .post(op.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        // From the browser the page was shown to (its binding cookie).
        .header("cookie", b.cookie_header().unwrap())
        .body(format!(
            "pending={}&csrf={}&username=alice&password=wrong",
            hidden(&page, "pending").unwrap(),
            hidden(&page, "csrf").unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://rp.example;"),
        "{csp}"
    );
    // Error pages (no trusted redirect target) keep form-action 'self' alone.
    let resp = op
        .http
        .get(op.url("/authorize?client_id=nobody&response_type=code"))
        .send()
        .await
        .unwrap();
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self';"), "{csp}");
}

/// The login step is pluggable: another method renders its own page, proves users its own way, and its
/// `amr`/`acr` reach the ID token and discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pluggable_login_method() {
    pluggable_login_on(None).await;
}

/// The same with the provider on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pluggable_login_method_on_postgres() {
    let pg = PgCluster::start();
    let url = pg.create_db("pluggable").await;
    pluggable_login_on(Some(url)).await;
}

async fn pluggable_login_on(database_url: Option<String>) {
    use portcullis_op::authn::{Factor, LoginMethod, LoginPage};
    use portcullis_op::store::{Store, StoreError, UserRow};

    struct OneTimeCode;
    impl LoginMethod for OneTimeCode {
        fn id(&self) -> &'static str {
            "otp"
        }
        fn factor(&self) -> Factor {
            Factor::Possession
        }
        fn form(&self, _: &LoginPage<'_>) -> String {
            // The page around it carries the pending request, its CSRF token and the method.
            "<input name=\"otp\">".into()
        }
        fn verify<'a>(
            &'a self,
            store: &'a Store,
            form: &'a portcullis_oidc::Params,
            _state: Option<&'a str>,
        ) -> futures_core::future::BoxFuture<'a, Result<Option<UserRow>, StoreError>> {
            Box::pin(async move {
                if form.get("otp") == Some("123456") {
                    store.user_by_name("alice").await
                } else {
                    Ok(None)
                }
            })
        }
        fn amr(&self) -> &'static [&'static str] {
            &["otp"]
        }
        fn acr(&self) -> &'static str {
            "urn:example:otp"
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let postgres = database_url.is_some();
    let cfg = config(dir.path(), free_port(), database_url);
    let op = Op::start_login(cfg, dir, Box::new(OneTimeCode)).await;
    assert_eq!(
        op.provider.store.kind() == portcullis_op::store::DbKind::Postgres,
        postgres
    );
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
        meta["acr_values_supported"],
        json!(["urn:example:otp", portcullis_op::authn::SECOND_FACTOR_ACR])
    );
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let Step::Login(page) = b.authorize(&op, &req.query()).await else {
        panic!("login page")
    };
    assert!(page.contains("name=\"otp\""));
    assert!(matches!(
        b.submit(&op, &page, "/login", &[("otp", "000000")]).await,
        Step::Login(_)
    ));
    let Step::Consent(c) = b.submit(&op, &page, "/login", &[("otp", "123456")]).await else {
        panic!("consent")
    };
    let cb = b
        .submit(&op, &c, "/consent", &[("decision", "allow")])
        .await
        .redirect();
    let (_, t) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    let idt = verify_id_token(
        t["id_token"].as_str().unwrap(),
        &op.jwks().await,
        ALGS,
        &expect(&op, "public", &req.nonce),
    )
    .unwrap();
    assert_eq!(idt.claims.custom["amr"], json!(["otp"]));
    assert_eq!(idt.claims.custom["acr"], "urn:example:otp");
}
