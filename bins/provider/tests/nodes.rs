//! Three provider *processes* on one throwaway PostgreSQL cluster, with the requests of each flow spread across
//! them: a code issued on A is redeemed on B, and its replay on C is refused and revokes the grant; refresh
//! rotation on one node and reuse detection on another; a passkey registered (prompt=create) and a passkey
//! sign-in each begun on one node and finished on others; a step-up asked for on one node and answered on
//! another, its code refused on the third; a login-bridge request started on one node, answered on another and
//! completed on the third; a client assertion's `jti` used on one node refused on the others; a key rotation made
//! by the admin command used by every node within its reload interval; consent withdrawn by the admin command
//! refused on every node (refresh, a code issued before, `prompt=none`). And a node under a PostgreSQL outage.
//!
//! Must not: share anything between the nodes but the database, the key-encryption key and the configuration.

#[path = "../../../crates/op/tests/common/mod.rs"]
mod common;

mod deployment;

use std::time::{Duration, Instant};

use common::*;
use deployment::*;
use portcullis_jose::{Algorithm, Jwk, JwkSet, jwt};
use reqwest::StatusCode;
use serde_json::json;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const SITE_KEY: &str = "nodes-site-api-key-0123456789abcdefghijkl";

/// A passkey made through a relying party's registration request (prompt=create): the page comes from A, the
/// new credential is posted to B, consent is given on C. Then a sign-in with it begun on B and finished on C;
/// the same answer from another browser, on A, is refused.
async fn passkeys_across_nodes(d: &Deployment, [a, b, c]: [&Remote; 3]) {
    let rp_key = Jwk::generate(Algorithm::Es256).unwrap();
    let meta = json!({"redirect_uris": [DEMO_RP], "token_endpoint_auth_method": "none",
                      "jwks": JwkSet::new(vec![rp_key.to_public().unwrap()]).to_map()});
    admin(d, &["client", "add", "shop", &meta.to_string()]);
    let req = AuthReq::new("shop", "code", "openid").set("redirect_uri", DEMO_RP);
    let mut claims: serde_json::Map<String, serde_json::Value> = req
        .pairs
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let now = portcullis_op::now();
    for (k, v) in [
        ("iss", json!("shop")),
        ("aud", json!(d.issuer)),
        ("exp", json!(now + 300)),
        ("jti", json!(portcullis_op::random_token())),
        ("prompt", json!("create")),
        ("login_hint", json!("customer-7")),
    ] {
        claims.insert(k.into(), v);
    }
    let request = jwt::encode_value(
        &portcullis_jose::jws::Header::new(Algorithm::Es256).with_typ("oauth-authz-req+jwt"),
        &claims,
        &rp_key.signing_key().unwrap(),
    )
    .unwrap();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "shop")
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", DEMO_RP)
        .append_pair("request", &request)
        .finish();
    let mut browser = Browser::default();
    let Step::ErrorPage(StatusCode::OK, page) = browser.authorize(a, &query).await else {
        panic!("the registration page on A")
    };
    assert!(page.contains("Create a passkey"), "{page}");
    let options: webauthn_rs_proto::CreationChallengeResponse =
        serde_json::from_str(&unescape(&value_of(&page, "passkey-creation-options"))).unwrap();
    let mut key = SoftPasskey::new(true);
    let origin = url::Url::parse(&d.issuer).unwrap();
    let created = key.do_registration(origin.clone(), options).unwrap();
    let ceremony = hidden(&page, "ceremony").unwrap();
    let step = browser
        .submit(
            b,
            &page,
            "/register",
            &[
                ("ceremony", &ceremony),
                ("credential", &serde_json::to_string(&created).unwrap()),
            ],
        )
        .await;
    let step = match step {
        Step::Consent(page) => {
            browser
                .submit(c, &page, "/consent", &[("decision", "allow")])
                .await
        }
        other => other,
    };
    let cb = step.redirect();
    let (s, t) = token(
        a,
        &[
            ("grant_type", "authorization_code"),
            ("code", &cb["code"]),
            ("redirect_uri", DEMO_RP),
            ("client_id", "shop"),
            ("code_verifier", req.verifier.as_str()),
        ],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");

    // A sign-in with the new passkey: begun on B, answered on C; another browser's copy on A is refused.
    let mut browser = Browser::default();
    let req = AuthReq::new("shop", "code", "openid").set("redirect_uri", DEMO_RP);
    let Step::Login(page) = browser.authorize(b, &req.query()).await else {
        panic!("the login page")
    };
    let step = browser
        .submit(
            b,
            &page,
            "/login",
            &[
                ("method", "passkey"),
                ("step", "begin"),
                ("username", "4:shop:customer-7"),
            ],
        )
        .await;
    let Step::Login(page) = step else {
        panic!("the passkey step: {step:?}")
    };
    let options: webauthn_rs_proto::RequestChallengeResponse =
        serde_json::from_str(&unescape(&value_of(&page, "passkey-options"))).unwrap();
    let assertion = key.do_authentication(origin, options).unwrap();
    let credential = serde_json::to_string(&assertion).unwrap();
    let ceremony = hidden(&page, "ceremony").unwrap();
    let fields = [
        ("method", "passkey"),
        ("ceremony", ceremony.as_str()),
        ("credential", credential.as_str()),
    ];
    let stolen = Browser::default().submit(a, &page, "/login", &fields).await;
    assert!(
        matches!(stolen, Step::ErrorPage(StatusCode::FORBIDDEN, _)),
        "{stolen:?}"
    );
    let done = browser.submit(c, &page, "/login", &fields).await;
    let cb = done.redirect();
    assert!(cb.contains_key("code"), "{cb:?}");
}

/// A step-up with the authenticator app: asked for on A, answered on B; the same code on C (for the next step)
/// is refused.
async fn step_up_across_nodes(d: &Deployment, [a, b, c]: [&Remote; 3], password: &str) {
    const CALLBACK: &str = "https://app.example/Auth/Callback";
    let meta = json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"});
    admin(d, &["client", "add", "app", &meta.to_string()]);
    let store = d.store().await;
    let demo = store.user_by_name("demo").await.unwrap().unwrap();
    let seed = portcullis_op::authn::factors::app::new_seed().unwrap();
    let now = portcullis_op::now();
    store
        .put_factor(&demo.id, "mobile_app-setup", &seed, now)
        .await
        .unwrap();
    assert!(
        store
            .confirm_app_setup(&demo.id, &seed, 0, now)
            .await
            .unwrap()
    );
    store.close().await;
    let mut browser = Browser::default();
    demo_login(a, &mut browser, password).await;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("redirectUrl", CALLBACK)
        .append_pair("clientId", "app")
        .append_pair("factors", "mobile_app")
        .finish();
    let code =
        portcullis_op::authn::factors::app::code_at(&seed, portcullis_op::now() as u64).unwrap();
    let page = factor_page(a, &browser, &query).await;
    let passed = factor_step(b, &mut browser, &page, &code).await;
    let back = params_of(passed.location());
    assert_eq!(back["auth_token"].split('.').count(), 3, "{back:?}");
    let page = factor_page(b, &browser, &query).await;
    let again = factor_step(c, &mut browser, &page, &code).await;
    assert!(
        matches!(again, Step::ErrorPage(StatusCode::UNAUTHORIZED, _)),
        "the code again, on C: {again:?}"
    );
}

/// `GET /Factor/Authenticate?query` on `node`: the step-up page.
async fn factor_page(node: &Remote, b: &Browser, query: &str) -> String {
    let r = node
        .http
        .get(node.url(&format!("/Factor/Authenticate?{query}")))
        .header("cookie", b.cookie_header().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

/// Posts the authenticator app's `code` for the step-up `page` to `node`: a redirect back, or the page shown.
async fn factor_step(node: &Remote, b: &mut Browser, page: &str, code: &str) -> Step {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("pending", &hidden(page, "pending").unwrap())
        .append_pair("csrf", &hidden(page, "csrf").unwrap())
        .append_pair("method", "mobile_app")
        .append_pair("code", code)
        .finish();
    let r = node
        .http
        .post(node.url("/Factor/step"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", b.cookie_header().unwrap())
        .body(form)
        .send()
        .await
        .unwrap();
    b.step(r).await
}

/// Runs an admin command of the deployment; it must succeed.
fn admin(d: &Deployment, args: &[&str]) {
    let out = d.command(free_port()).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
}

/// The `value` of the element with `id` on a page, HTML entities decoded by [`unescape`] by the caller.
fn value_of(page: &str, id: &str) -> String {
    let needle = format!("id=\"{id}\" value=\"");
    let start = page.find(&needle).unwrap_or_else(|| panic!("{id}: {page}")) + needle.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].to_owned()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `kid` of an ID token.
fn kid(id_token: &str) -> String {
    let header = id_token.split('.').next().unwrap();
    let bytes = portcullis_jose::base64url::decode(header).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_one_postgresql_deployment() {
    let pg = PgCluster::start();
    let database_url = pg.create_db("three_nodes").await;
    let ports = [free_port(), free_port(), free_port()];
    let site_hash = portcullis_op::hash(SITE_KEY);
    // WebAuthn needs a domain name for the issuer: localhost (the nodes listen on 127.0.0.1).
    let d = Deployment::new(
        format!("http://localhost:{}", ports[0]),
        database_url,
        &format!(
            "passkeys = true\n[[bridge_sites]]\nid = \"shop\"\nname = \"Shop\"\n\
             verify_url = \"https://shop.example/verify\"\napi_key_sha256 = \"{site_hash}\"\ntrusted = true\n"
        ),
    );
    // A first (it sets the deployment up: keys, the demo client and user), then B and C on the same database.
    let (a, banner) = d.node(ports[0]).await;
    let password = demo_password(&banner);
    let (b_node, _) = d.node(ports[1]).await;
    let (c, _) = d.node(ports[2]).await;
    let (a, b, c) = (&a.remote, &b_node.remote, &c.remote);

    passkeys_across_nodes(&d, [a, b, c]).await;
    step_up_across_nodes(&d, [a, b, c], &password).await;

    // A code issued on A is redeemed on B; its replay on C is refused and revokes the grant.
    let mut browser = Browser::default();
    let (req, code) = demo_login(a, &mut browser, &password).await;
    let (s, tokens) = demo_redeem(b, &code, &req).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    let (s, _) = demo_redeem(c, &code, &req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "replayed on C");
    let (s, _) = demo_refresh(a, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "the grant was revoked");

    // Refresh rotation across nodes, and reuse detected on a third.
    let (req, code) = demo_login(b, &mut browser, &password).await;
    let (s, tokens) = demo_redeem(a, &code, &req).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    let rt1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (s, rotated) = demo_refresh(b, &rt1).await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let rt2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (s, _) = demo_refresh(c, &rt1).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "reuse of the rotated token");
    let (s, _) = demo_refresh(a, &rt2).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "the family was revoked");

    // A login-bridge request: started on A, answered on B, completed on C.
    let mut bb = Browser::default();
    let req = AuthReq::new("demo", "code", "openid").set("redirect_uri", DEMO_RP);
    let Step::Login(page) = bb.authorize(a, &req.query()).await else {
        panic!("login page")
    };
    let Step::Redirect(verify) = bb
        .submit(b, &page, "/bridge/start", &[("site", "shop")])
        .await
    else {
        panic!("sent to the site")
    };
    let request_id = params_of(&verify)["request_id"].clone();
    let answer = c
        .http
        .post(c.url("/bridge/postback"))
        .bearer_auth(SITE_KEY)
        .json(&json!({"request_id": request_id, "identifier": "u-1", "claims": {"name": "Site User"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let code = answer.json::<serde_json::Value>().await.unwrap()["return_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let step = bb
        .follow(
            c,
            &format!(
                "{}?request_id={request_id}&code={code}",
                c.url("/bridge/return")
            ),
        )
        .await;
    assert!(matches!(step, Step::Consent(_)), "{step:?}");

    // A client assertion (private_key_jwt) used on A is refused on B and on C: its jti is kept in the shared
    // database.
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let meta = json!({"redirect_uris": [DEMO_RP], "token_endpoint_auth_method": "private_key_jwt",
                      "jwks": JwkSet::new(vec![key.to_public().unwrap()]).to_map(),
                      "response_types": [], "grant_types": ["client_credentials"], "scope": "api:read"});
    let out = d
        .command(ports[0])
        .args(["client", "add", "pkjwt", &meta.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let now = portcullis_op::now();
    let assertion = jwt::encode_value(
        &portcullis_jose::jws::Header::new(Algorithm::Es256),
        &json!({"iss": "pkjwt", "sub": "pkjwt", "aud": format!("{}/token", d.issuer), "exp": now + 60,
                "iat": now, "jti": portcullis_op::random_token()}),
        &key.signing_key().unwrap(),
    )
    .unwrap();
    let body = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let (s, t) = token(a, &body, None).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    for node in [b, c] {
        let (s, e) = token(node, &body, None).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "the jti again on {}",
            node.base()
        );
    }

    // A key rotation by the admin command reaches every node within its reload interval (30 s).
    let (req, code) = demo_login(a, &mut browser, &password).await;
    let (_, tokens) = demo_redeem(a, &code, &req).await;
    let before = kid(tokens["id_token"].as_str().unwrap());
    let out = d
        .command(ports[0])
        .args(["keys", "rotate"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let deadline = Instant::now() + Duration::from_secs(45);
    for node in [a, b, c] {
        loop {
            let (req, code) = demo_login(node, &mut browser, &password).await;
            let (s, tokens) = demo_redeem(node, &code, &req).await;
            assert_eq!(s, StatusCode::OK, "{tokens}");
            if kid(tokens["id_token"].as_str().unwrap()) != before {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} still signs with {before}",
                node.base()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    // Consent withdrawn by the admin command: the demo client's refresh token is refused on every node, and
    // the client must ask again.
    let (req, code) = demo_login(b, &mut browser, &password).await;
    let (_, tokens) = demo_redeem(c, &code, &req).await;
    let (early_req, early) = demo_login(a, &mut browser, &password).await;
    let out = d
        .command(ports[0])
        .args(["user", "consents", "demo"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("demo\topenid profile offline_access"),
        "{listed}"
    );
    admin(&d, &["user", "consents", "demo", "--revoke", "demo"]);
    let again = d
        .command(ports[0])
        .args(["user", "consents", "demo", "--revoke", "demo"])
        .output()
        .unwrap();
    assert!(!again.status.success(), "nothing left to withdraw");
    let nobody = d
        .command(ports[0])
        .args(["user", "consents", "nobody", "--revoke", "demo"])
        .output()
        .unwrap();
    assert!(!nobody.status.success(), "no such user");
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no user nobody"));
    for node in [a, b, c] {
        let (s, _) = demo_refresh(node, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "refresh after the withdrawal");
    }
    let (s, e) = demo_redeem(b, &early, &early_req).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "a code issued before the withdrawal: {e}"
    );
    let req = AuthReq::new("demo", "code", "openid profile offline_access")
        .set("redirect_uri", DEMO_RP)
        .set("prompt", "none");
    let back = browser.authorize(a, &req.query()).await.redirect();
    assert_eq!(back["error"], "consent_required");
}

/// PostgreSQL stopped under a running node and started again: meanwhile every request that needs the database is
/// answered 503 with `Retry-After` (never a 500, never a hang), `/ready` says not ready and `/health` still
/// answers; once the database is back the node serves again without a restart, and a flow begun before the outage
/// completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_answers_503_while_postgresql_is_down_and_recovers() {
    let pg = PgCluster::start();
    let database_url = pg.create_db("outage").await;
    let port = free_port();
    let d = Deployment::new(format!("http://127.0.0.1:{port}"), database_url, "");
    let (node, banner) = d.node(port).await;
    let password = demo_password(&banner);
    let op = &node.remote;
    let mut browser = Browser::default();
    // A code issued before the outage.
    let (req, code) = demo_login(op, &mut browser, &password).await;

    pg.stop();
    let started = Instant::now();
    let statuses = [
        op.http.get(op.url("/ready")).send().await.unwrap(),
        op.http
            .post(op.url("/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "not-a-code"),
                ("redirect_uri", DEMO_RP),
                ("client_id", "demo"),
                ("code_verifier", req.verifier.as_str()),
            ])
            .send()
            .await
            .unwrap(),
        op.http
            .get(format!(
                "{}?{}",
                op.url("/authorize"),
                AuthReq::new("demo", "code", "openid")
                    .set("redirect_uri", DEMO_RP)
                    .query()
            ))
            .send()
            .await
            .unwrap(),
    ];
    for r in &statuses {
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{}", r.url());
        assert_eq!(r.headers()["retry-after"], "1", "{}", r.url());
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "answered without hanging"
    );
    let health = op.http.get(op.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    pg.start_again();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = op.http.get(op.url("/ready")).send().await.unwrap();
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the node did not recover");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The code issued before the outage still redeems, once; new sign-ins work.
    let (s, t) = demo_redeem(op, &code, &req).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (req, code) = demo_login(op, &mut browser, &password).await;
    let (s, t) = demo_redeem(op, &code, &req).await;
    assert_eq!(s, StatusCode::OK, "{t}");
}
