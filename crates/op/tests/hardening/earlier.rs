//! Login CSRF binding, refresh tokens of other clients, query response modes, logout redirect URIs, password
//! changes, assertion algorithms, certificate-bound refresh tokens.
//!
//! Must not: change the provider or weaken what another test proves.

use crate::common::*;
use portcullis_jose::{Algorithm, Jwk, JwkSet, jwt};
use portcullis_op::store::PendingRow;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub(crate) fn login_page(step: Step) -> String {
    match step {
        Step::Login(p) => p,
        other => panic!("expected a login page, got {other:?}"),
    }
}

pub(crate) fn form(page: &str, extra: &[(&str, &str)]) -> String {
    let mut f = form_urlencoded::Serializer::new(String::new());
    f.append_pair("pending", &hidden(page, "pending").unwrap());
    f.append_pair("csrf", &hidden(page, "csrf").unwrap());
    for (k, v) in extra {
        f.append_pair(k, v);
    }
    f.finish()
}

/// Posts `body` to `path` with `cookie` and extra headers (each appended, so a name may repeat).
pub(crate) async fn post_raw(
    op: &Op,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    body: String,
) -> reqwest::Response {
    let mut r = op
        .http
        .post(op.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

pub(crate) const LOGIN: &[(&str, &str)] = &[("username", "alice"), ("password", PASSWORD)];

/// Several `Sec-Fetch-Site` / `Origin` headers: a cross-site value anywhere refuses the post (only the first
/// one is read today).
#[tokio::test]
async fn repeated_fetch_metadata_headers_are_all_checked() {
    let op = Op::sqlite().await;
    let mut passed = Vec::new();
    for extra in [
        [
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-site", "cross-site"),
        ],
        [("origin", "null"), ("origin", "https://evil.example")],
    ] {
        let mut b = Browser::default();
        let page = login_page(
            b.authorize(&op, &AuthReq::new("public", "code", "openid").query())
                .await,
        );
        let cookie = b.cookie_header();
        let r = post_raw(&op, "/login", cookie.as_deref(), &extra, form(&page, LOGIN)).await;
        if r.status() != StatusCode::FORBIDDEN {
            passed.push((extra, r.status()));
        }
    }
    assert!(passed.is_empty(), "accepted: {passed:?}");
}

/// `Origin: null` with `Sec-Fetch-Site: cross-site`, odd cases and non-ASCII values are refused; a refused post
/// consumes nothing (the page still works from its own browser afterwards).
#[tokio::test]
async fn odd_fetch_metadata_is_refused_and_consumes_nothing() {
    let op = Op::sqlite().await;
    let mut b = Browser::default();
    let page = login_page(
        b.authorize(&op, &AuthReq::new("public", "code", "openid email").query())
            .await,
    );
    let cookie = b.cookie_header();
    let slash = format!("{}/", op.base);
    for extra in [
        vec![("origin", "null"), ("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "Cross-Site")],
        vec![("origin", "HTTP://EVIL.EXAMPLE")],
        vec![("origin", slash.as_str())],
        vec![
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "same-origin"),
        ],
    ] {
        let r = post_raw(&op, "/login", cookie.as_deref(), &extra, form(&page, LOGIN)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{extra:?}");
        assert!(r.headers().get("set-cookie").is_none(), "{extra:?}");
    }
    // Another browser (no binding, a different binding, a malformed one, a duplicated pair) is refused too.
    let mut other = Browser::default();
    login_page(
        other
            .authorize(&op, &AuthReq::new("public", "code", "openid").query())
            .await,
    );
    let mine = b.browser.clone().unwrap();
    let theirs = other.browser.clone().unwrap();
    for c in [
        theirs.clone(),
        format!("{theirs}; {mine}"),
        format!("{}x", mine),
        format!("portcullis_browser= {}", mine.split_once('=').unwrap().1),
        format!("PORTCULLIS_BROWSER={}", mine.split_once('=').unwrap().1),
    ] {
        let r = post_raw(&op, "/login", Some(&c), &[], form(&page, LOGIN)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{c}");
    }
    // Nothing was consumed: the page still signs in from its own browser, and consent works.
    let done = b.complete(&op, Step::Login(page), "alice").await;
    assert!(matches!(done, Step::Redirect(_)), "{done:?}");
}

/// Pending rows with no browser (a pushed request, a ceremony, a row from before migration 0008) are never
/// answered at /login or /consent.
#[tokio::test]
async fn rows_without_a_browser_are_refused() {
    let op = Op::sqlite().await;
    let mut b = Browser::default();
    login_page(
        b.authorize(&op, &AuthReq::new("public", "code", "openid").query())
            .await,
    );
    let params = AuthReq::new("public", "code", "openid").query();
    for kind in ["authorize", "stepup", "consent", "par", "ceremony"] {
        let row = PendingRow {
            id: portcullis_op::random_token(),
            kind: kind.into(),
            client_id: "public".into(),
            params: params.clone(),
            csrf: "known-csrf".into(),
            expires_at: portcullis_op::now() + 300,
            browser: String::new(),
        };
        op.provider.store.put_pending(&row).await.unwrap();
        for path in ["/login", "/consent"] {
            let body = format!(
                "pending={}&csrf=known-csrf&username=alice&password={}&decision=allow",
                row.id,
                form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect::<String>()
            );
            let r = post_raw(&op, path, b.cookie_header().as_deref(), &[], body).await;
            assert!(
                r.status().is_client_error() && r.headers().get("set-cookie").is_none(),
                "{kind} at {path}: {}",
                r.status()
            );
        }
    }
}

/// A pushed request (request_uri) still goes through login and consent, and the consent page is bound to the
/// browser.
#[tokio::test]
async fn pushed_requests_work_through_login_and_consent() {
    let op = Op::sqlite().await;
    let req = AuthReq::new("confidential", "code", "openid email");
    let r = op
        .http
        .post(op.url("/par"))
        .basic_auth("confidential", Some("s3cret-s3cret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(req.query())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "confidential")
        .append_pair("request_uri", v["request_uri"].as_str().unwrap())
        .finish();
    let mut b = Browser::default();
    let page = login_page(b.authorize(&op, &q).await);
    let Step::Consent(consent) = b.login(&op, &page, "alice").await else {
        panic!("consent page")
    };
    let mut thief = Browser {
        session: b.session.clone(),
        ..Default::default()
    };
    thief
        .authorize(&op, &AuthReq::new("public", "code", "openid").query())
        .await;
    let stolen = thief
        .submit(&op, &consent, "/consent", &[("decision", "allow")])
        .await;
    assert!(
        matches!(stolen, Step::ErrorPage(StatusCode::FORBIDDEN, _)),
        "{stolen:?}"
    );
    let cb = b
        .submit(&op, &consent, "/consent", &[("decision", "allow")])
        .await
        .redirect();
    assert_eq!(cb["state"], req.state);
}

/// A refresh token presented by another client is neither consumed nor counted as reuse.
#[tokio::test]
async fn refresh_token_of_another_client_changes_nothing() {
    let op = Op::sqlite().await;
    let mut b = Browser::default();
    let (_, t) = code_flow(&op, &mut b, "alice", "openid").await;
    let rt = t["refresh_token"].as_str().unwrap();
    let (s, e) = token(
        &op,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some(("confidential", "s3cret-s3cret")),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (s, fresh) = token(
        &op,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "public"),
        ],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "the owner's token still works: {fresh}");
    let (s, _) = userinfo(&op, fresh["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "the grant was not revoked");
}

/// Nothing in the query of `location` (nor in a JARM `response` there) is a code or token.
fn no_token_in_query(location: &str) {
    use base64::Engine as _;
    let query = location.split('#').next().unwrap();
    let query = query.split_once('?').map_or("", |(_, q)| q);
    let mut keys: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    if let Some((_, jarm)) = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "response")
    {
        let payload = jarm.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let claims: serde_json::Map<String, Value> = serde_json::from_slice(&bytes).unwrap();
        keys.extend(claims.keys().cloned());
    }
    for k in ["access_token", "id_token", "code"] {
        assert!(!keys.iter().any(|x| x == k), "{k} in the query: {location}");
    }
}

/// `query` and `query.jwt` never carry tokens: as parameters, pushed, or in a signed request object.
#[tokio::test]
async fn query_response_modes_never_carry_tokens() {
    let op = Op::sqlite().await;
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    portcullis_op::admin::add_client(
        &op.provider.store,
        "jar",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none",
                "response_types": ["code", "code id_token", "id_token", "code token", "id_token token"],
                "grant_types": ["authorization_code", "implicit"],
                "jwks": JwkSet::new(vec![key.to_public().unwrap()]).to_map()}),
    )
    .await
    .unwrap();
    let mut b = Browser::default();
    code_flow(&op, &mut b, "alice", "openid").await; // a session, consent for public
    for rt in ["code id_token", "id_token", "code token", "id_token token"] {
        for mode in ["query", "query.jwt"] {
            // As parameters.
            let req = AuthReq::new("public", rt, "openid").set("response_mode", mode);
            let step = b.authorize(&op, &req.query()).await;
            let step = b.complete(&op, step, "alice").await;
            no_token_in_query(step.location());
            // In a signed request object (the outer query says fragment).
            let req = AuthReq::new("jar", rt, "openid").set("response_mode", mode);
            let mut claims: serde_json::Map<String, Value> = req
                .pairs
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            claims.insert("iss".into(), json!("jar"));
            claims.insert("aud".into(), json!(op.base));
            claims.insert("exp".into(), json!(portcullis_op::now() + 300));
            let obj = jwt::encode_value(
                &portcullis_jose::jws::Header::new(Algorithm::Es256),
                &claims,
                &key.signing_key().unwrap(),
            )
            .unwrap();
            let q = form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", "jar")
                .append_pair("response_type", rt)
                .append_pair("response_mode", "fragment")
                .append_pair("scope", "openid")
                .append_pair("redirect_uri", RP)
                .append_pair("request", &obj)
                .finish();
            let step = b.authorize(&op, &q).await;
            let step = b.complete(&op, step, "alice").await;
            no_token_in_query(step.location());
            // Pushed.
            let req = AuthReq::new("confidential", rt, "openid").set("response_mode", mode);
            let r = op
                .http
                .post(op.url("/par"))
                .basic_auth("confidential", Some("s3cret-s3cret"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(req.query())
                .send()
                .await
                .unwrap();
            if r.status() == StatusCode::CREATED {
                let v: Value = r.json().await.unwrap();
                let q = form_urlencoded::Serializer::new(String::new())
                    .append_pair("client_id", "confidential")
                    .append_pair("request_uri", v["request_uri"].as_str().unwrap())
                    .finish();
                let step = b.authorize(&op, &q).await;
                if let Step::Redirect(l) = b.complete(&op, step, "alice").await {
                    no_token_in_query(&l);
                }
            }
        }
        // `jwt` resolves to fragment.jwt for these.
        let req = AuthReq::new("public", rt, "openid").set("response_mode", "jwt");
        let step = b.authorize(&op, &req.query()).await;
        let l = b.complete(&op, step, "alice").await.location().to_owned();
        no_token_in_query(&l);
        assert!(l.contains("#response="), "{l}");
    }
}

/// A private_key_jwt client may register only an algorithm the provider advertises for assertions
/// (`token_endpoint_auth_signing_alg_values_supported`).
#[tokio::test]
async fn assertion_alg_must_be_one_the_provider_advertises() {
    let op = Op::sqlite().await;
    let meta: Value = op
        .http
        .get(op.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let advertised = meta["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .clone();
    let key = Jwk::generate(Algorithm::Rs256).unwrap();
    for alg in ["RS512", "PS512"] {
        let added = portcullis_op::admin::add_client(
            &op.provider.store,
            &format!("pkj-{alg}"),
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "private_key_jwt",
                    "token_endpoint_auth_signing_alg": alg,
                    "jwks": JwkSet::new(vec![key.to_public().unwrap()]).to_map()}),
        )
        .await;
        assert!(
            advertised.contains(&json!(alg)) || added.is_err(),
            "{alg} registered though not advertised ({advertised:?})"
        );
    }
}

/// post_logout_redirect_uris: scripts, look-alike loopback hosts and userinfo tricks are refused at
/// registration.
#[tokio::test]
async fn post_logout_redirect_uris_are_validated() {
    let op = Op::sqlite().await;
    let mut registered = Vec::new();
    for (i, uri) in [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,x",
        "http://127.0.0.1.evil.example/bye",
        "http://evil.example/bye",
        "http://127.0.0.1\\@evil.example/bye",
        "http://localhost@evil.example/bye",
        // userinfo that looks like a loopback host and port: the host is evil.example.
        "http://localhost:80@evil.example/bye",
        "http://127.0.0.1:1@evil.example/bye",
        "http://[::1]@evil.example/bye",
        "https:evil.example",
        "https://rp.example/bye#x",
        "https://rp.example/\nbye",
    ]
    .iter()
    .enumerate()
    {
        let r = portcullis_op::admin::add_client(
            &op.provider.store,
            &format!("plr-{i}"),
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none",
                    "post_logout_redirect_uris": [uri]}),
        )
        .await;
        if r.is_ok() {
            registered.push(*uri);
        }
    }
    assert!(registered.is_empty(), "registered: {registered:?}");
}

/// A password change ends every session of the user.
#[tokio::test]
async fn password_change_ends_sessions() {
    let op = Op::sqlite().await;
    let mut b = Browser::default();
    code_flow(&op, &mut b, "alice", "openid").await;
    portcullis_op::admin::set_password(&op.provider.store, "alice", "a new long passphrase")
        .await
        .unwrap();
    let step = b
        .authorize(&op, &AuthReq::new("public", "code", "openid").query())
        .await;
    assert!(matches!(step, Step::Login(_)), "{step:?}");
}

mod tls {
    //! A provider over HTTPS with optional client certificates, for certificate-bound tokens.
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use reqwest::{Certificate, Identity};

    pub struct Pki {
        pub ca_pem: String,
        pub server: (String, String),
        pub a: (String, String),
        pub b: (String, String),
    }

    pub fn pki() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["127.0.0.1".into()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let self_signed = || {
            let key = KeyPair::generate().unwrap();
            let c = CertificateParams::new(Vec::<String>::new())
                .unwrap()
                .self_signed(&key)
                .unwrap();
            (c.pem(), key.serialize_pem())
        };
        Pki {
            ca_pem: ca_cert.pem(),
            server: (server.pem(), key.serialize_pem()),
            a: self_signed(),
            b: self_signed(),
        }
    }

    pub fn client(pki: &Pki, identity: Option<&(String, String)>) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
            .redirect(reqwest::redirect::Policy::none());
        if let Some((cert, key)) = identity {
            b = b.identity(Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
        }
        b.build().unwrap()
    }

    pub async fn start(pki: &Pki) -> Op {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let tls = portcullis_op::config::TlsConfig {
            cert: write("server.pem", &pki.server.0),
            key: write("server.key", &pki.server.1),
            client_ca: Some(write("ca.pem", &pki.ca_pem)),
        };
        let port = free_port();
        let mut cfg = config(dir.path(), port, None);
        cfg.issuer = format!("https://127.0.0.1:{port}");
        cfg.tls = Some(tls);
        let mut op = Op::start_cfg(cfg, dir).await;
        op.http = client(pki, None);
        op
    }
}

async fn token_with(http: &reqwest::Client, op: &Op, body: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = http.post(op.url("/token")).form(body).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

/// RFC 8705 §4: a public client's refresh token is bound to its certificate; another certificate (or none)
/// cannot refresh it (else a stolen refresh token buys tokens bound to the thief's certificate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_public_refresh_token_needs_the_same_certificate() {
    let pki = tls::pki();
    let op = tls::start(&pki).await;
    portcullis_op::admin::add_client(
        &op.provider.store,
        "bound-public",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none",
                "tls_client_certificate_bound_access_tokens": true,
                "grant_types": ["authorization_code", "refresh_token"], "scope": "openid"}),
    )
    .await
    .unwrap();
    let req = AuthReq::new("bound-public", "code", "openid");
    let mut b = Browser::default();
    let step = b.authorize(&op, &req.query()).await;
    let cb = b.complete(&op, step, "alice").await.redirect();
    let with_a = tls::client(&pki, Some(&pki.a));
    let (s, t) = token_with(
        &with_a,
        &op,
        &[
            ("grant_type", "authorization_code"),
            ("code", &cb["code"]),
            ("redirect_uri", RP),
            ("client_id", "bound-public"),
            ("code_verifier", req.verifier.as_str()),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let rt = t["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
        ("client_id", "bound-public"),
    ];
    let (s, e) = token_with(&tls::client(&pki, None), &op, &refresh).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "no certificate: {e}");
    let (s, e) = token_with(&tls::client(&pki, Some(&pki.b)), &op, &refresh).await;
    assert!(
        e.get("access_token").is_none(),
        "another certificate refreshed a bound refresh token ({s}): {e}"
    );
    let (s, e) = token_with(&with_a, &op, &refresh).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the same certificate still refreshes: {e}"
    );
}
