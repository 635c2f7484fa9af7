//! RFC 8705 over real TLS: the provider serves HTTPS (rustls) with optional client certificates;
//! `tls_client_auth` clients are recognized by a CA-issued certificate with their registered subject DN,
//! `self_signed_tls_client_auth` clients by the public key registered in their JWK Set; their access tokens are
//! bound to the certificate (`cnf.x5t#S256`) and refused at UserInfo over any other connection.

mod common;

use common::*;
use portcullis_jose::{Jwk, JwkSet};
use portcullis_oidc::certificate_thumbprint_s256;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use reqwest::{Certificate, Identity, StatusCode};
use serde_json::{Value, json};

struct Pki {
    ca_pem: String,
    server: (String, String),
    /// CA-issued client certificate with the registered DN.
    good: (String, String),
    /// CA-issued, another DN.
    other_dn: (String, String),
    /// Self-signed, same DN as `good` (does not chain).
    rogue: (String, String),
    /// Self-signed, registered by key for the self-signed client.
    self_signed: (String, String),
}

fn client_dn(p: &mut CertificateParams, cn: &str) {
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CountryName, "DE");
    p.distinguished_name
        .push(DnType::OrganizationName, "Example");
    p.distinguished_name.push(DnType::CommonName, cn);
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Portcullis test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |sans: Vec<String>, cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(sans).unwrap();
        client_dn(&mut p, cn);
        let c = p.signed_by(&key, &issuer).unwrap();
        (c.pem(), key.serialize_pem())
    };
    let self_signed = |cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_dn(&mut p, cn);
        let c = p.self_signed(&key).unwrap();
        (c.pem(), key.serialize_pem())
    };
    Pki {
        ca_pem: ca_cert.pem(),
        server: leaf(vec!["127.0.0.1".into()], "127.0.0.1"),
        good: leaf(vec![], "payments client"),
        other_dn: leaf(vec![], "someone else"),
        rogue: self_signed("payments client"),
        self_signed: self_signed("self signed client"),
    }
}

fn client(pki: &Pki, identity: Option<&(String, String)>) -> reqwest::Client {
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

fn der_of(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

async fn start(pki: &Pki, database_url: Option<String>) -> Op {
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
    let mut cfg = config(dir.path(), port, database_url);
    cfg.issuer = format!("https://127.0.0.1:{port}");
    cfg.tls = Some(tls);
    let mut op = Op::start_cfg(cfg, dir).await;
    op.http = client(pki, None);
    let store = &op.provider.store;
    portcullis_op::admin::add_client(
        store,
        "mtls",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": "CN=payments client,O=Example,C=DE",
                "grant_types": ["authorization_code", "client_credentials"], "scope": "openid email api:read"}),
    )
    .await
    .unwrap();
    let ss_key = Jwk::from_pkcs8_pem(&pki.self_signed.1)
        .unwrap()
        .to_public()
        .unwrap();
    portcullis_op::admin::add_client(
        store,
        "selfsigned",
        &json!({"response_types": [], "grant_types": ["client_credentials"], "scope": "api:read",
                "token_endpoint_auth_method": "self_signed_tls_client_auth",
                "jwks": JwkSet::new(vec![ss_key]).to_map()}),
    )
    .await
    .unwrap();
    portcullis_op::admin::add_client_with_secret(
        store,
        "bound-secret",
        &json!({"response_types": [], "grant_types": ["client_credentials"], "scope": "api:read",
                "token_endpoint_auth_method": "client_secret_basic",
                "tls_client_certificate_bound_access_tokens": true}),
        "bound-s3cret-s3cret",
    )
    .await
    .unwrap();
    op
}

async fn cc(op: &Op, http: &reqwest::Client, client_id: &str) -> (StatusCode, Value) {
    let r = http
        .post(op.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={client_id}&scope=api%3Aread"
        ))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_auth_and_self_signed_and_bound_tokens() {
    let pki = pki();
    let op = start(&pki, None).await;
    assert_eq!(
        op.provider.store.kind(),
        portcullis_op::store::DbKind::Sqlite
    );
    tls_cases(&pki, &op).await;
}

/// The same over TLS with the provider on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_auth_and_self_signed_and_bound_tokens_on_postgres() {
    let pg = PgCluster::start();
    let url = pg.create_db("mtls").await;
    let pki = pki();
    let op = start(&pki, Some(url)).await;
    assert_eq!(
        op.provider.store.kind(),
        portcullis_op::store::DbKind::Postgres
    );
    tls_cases(&pki, &op).await;
}

async fn tls_cases(pki: &Pki, op: &Op) {
    let r = op
        .http
        .get(op.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    // Every HTTPS answer carries HSTS (a 404 too).
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let meta: Value = r.json().await.unwrap();
    let missing = op.http.get(op.url("/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert_eq!(meta["tls_client_certificate_bound_access_tokens"], true);
    assert!(
        meta["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("tls_client_auth"))
    );

    // tls_client_auth: the CA-issued certificate with the registered DN authenticates; the token is bound to it.
    let good = client(pki, Some(&pki.good));
    let (s, t) = cc(op, &good, "mtls").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let at = t["access_token"].as_str().unwrap().to_owned();
    let r = good
        .post(op.url("/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("client_id=mtls&token={at}"))
        .send()
        .await
        .unwrap();
    let i: Value = r.json().await.unwrap();
    assert_eq!(i["active"], true);
    assert_eq!(
        i["cnf"]["x5t#S256"],
        certificate_thumbprint_s256(&der_of(&pki.good.0))
    );

    // Refusals: no certificate, another DN from the same CA, the right DN but not issued by the CA, a secret.
    for (name, http) in [
        ("no certificate", client(pki, None)),
        ("other DN", client(pki, Some(&pki.other_dn))),
        (
            "self-signed with the registered DN",
            client(pki, Some(&pki.rogue)),
        ),
        (
            "a self-signed client's certificate",
            client(pki, Some(&pki.self_signed)),
        ),
    ] {
        let (s, e) = cc(op, &http, "mtls").await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{name}"
        );
    }
    let r = good
        .post(op.url("/token"))
        .basic_auth("mtls", Some("anything"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a secret cannot stand in for the certificate"
    );

    // self_signed_tls_client_auth: matched by the registered public key, chain or not.
    let ss = client(pki, Some(&pki.self_signed));
    let (s, t) = cc(op, &ss, "selfsigned").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    for http in [
        client(pki, None),
        client(pki, Some(&pki.good)),
        client(pki, Some(&pki.rogue)),
    ] {
        let (s, _) = cc(op, &http, "selfsigned").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }

    // Code flow for the mTLS client: the browser has no certificate; the token exchange does; UserInfo accepts
    // the bound token only over a connection with that certificate.
    let remote = Remote {
        base: op.base.clone(),
        http: client(pki, None),
    };
    let mut b = Browser::default();
    let req = AuthReq::new("mtls", "code", "openid email");
    let step = b.authorize(&remote, &req.query()).await;
    let cb = b.complete(&remote, step, "alice").await.redirect();
    let r = good
        .post(op.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "authorization_code")
                .append_pair("code", &cb["code"])
                .append_pair("redirect_uri", RP)
                .append_pair("client_id", "mtls")
                .append_pair("code_verifier", req.verifier.as_str())
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    let at = t["access_token"].as_str().unwrap();
    let ui = |http: reqwest::Client| {
        let url = op.url("/userinfo");
        let at = at.to_owned();
        async move { http.get(url).bearer_auth(at).send().await.unwrap().status() }
    };
    assert_eq!(ui(good.clone()).await, StatusCode::OK);
    assert_eq!(
        ui(client(pki, None)).await,
        StatusCode::UNAUTHORIZED,
        "bound token without its certificate"
    );
    assert_eq!(
        ui(client(pki, Some(&pki.other_dn))).await,
        StatusCode::UNAUTHORIZED,
        "with another certificate"
    );
    // RFC 8705 §3: a client registered for bound tokens (here authenticated by its secret) gets none without a
    // certificate, never an unbound bearer token; with one, its token is bound to it.
    let bound_cc = |http: reqwest::Client| async move {
        let r = http
            .post(op.url("/token"))
            .basic_auth("bound-secret", Some("bound-s3cret-s3cret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    let (s, e) = bound_cc(client(pki, None)).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{e}"
    );
    assert!(e.get("access_token").is_none());
    let (s, t) = bound_cc(client(pki, Some(&pki.good))).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    // Unbound tokens (public client) still work with or without a certificate.
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let step = b.authorize(&remote, &req.query()).await;
    let cb = b.complete(&remote, step, "alice").await.redirect();
    let (s, t) = redeem(&remote, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::OK);
    let at = t["access_token"].as_str().unwrap();
    for http in [client(pki, None), client(pki, Some(&pki.good))] {
        assert_eq!(
            http.get(op.url("/userinfo"))
                .bearer_auth(at)
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_provider_cannot_authenticate_mtls_clients() {
    let op = Op::sqlite().await;
    // No HSTS over plain HTTP (browsers ignore it there; an http issuer is development on loopback).
    let r = op.http.get(op.url("/jwks")).send().await.unwrap();
    assert!(r.headers().get("strict-transport-security").is_none());
    let store = &op.provider.store;
    portcullis_op::admin::add_client(
        store,
        "mtls",
        &json!({"response_types": [], "grant_types": ["client_credentials"], "scope": "api:read",
                "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "client.example.com"}),
    )
    .await
    .unwrap();
    let (s, e) = token(
        &op,
        &[("grant_type", "client_credentials"), ("client_id", "mtls")],
        None,
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
}
