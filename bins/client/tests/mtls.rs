//! End to end over mutual TLS (RFC 8705): the real provider serving HTTPS with a client CA, and the real
//! `portcullis-client login --tls-cert --tls-key --ca-file` as a `tls_client_auth` client. The certificate
//! authenticates it at the token endpoint and its access token is bound to that certificate, so UserInfo only
//! answers because the client presents the same certificate there. A CA-issued certificate with another subject
//! DN, and no certificate at all, are refused with `invalid_client`.

mod support;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};
use support::*;

/// A PEM certificate and its key.
type Pair = (String, String);

/// A test CA, a server certificate for 127.0.0.1, and two client certificates (the registered DN and another).
fn pki() -> (String, Pair, Pair, Pair) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Portcullis e2e CA");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |sans: Vec<String>, cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(sans).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CountryName, "DE");
        p.distinguished_name
            .push(DnType::OrganizationName, "Example");
        p.distinguished_name.push(DnType::CommonName, cn);
        (
            p.signed_by(&key, &issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    };
    (
        ca_pem,
        leaf(vec!["127.0.0.1".into()], "127.0.0.1"),
        leaf(vec![], "e2e client"),
        leaf(vec![], "someone else"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_auth_login_with_a_bound_token() {
    let (ca, server, good, other) = pki();
    let port = free_port();
    let (p, secrets) = Provider::start_tls(
        &[(
            "e2e-mtls",
            json!({
                "redirect_uris": [format!("http://127.0.0.1:{port}/callback")],
                "response_types": ["code"],
                "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": "CN=e2e client,O=Example,C=DE",
                "scope": "openid profile email",
            }),
        )],
        Some(ServerTls {
            cert: &server.0,
            key: &server.1,
            client_ca: &ca,
        }),
    );
    assert!(p.issuer.starts_with("https://"));
    assert_eq!(secrets, [None], "no secret for a mutual-TLS client");
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let ca_file = write("ca.pem", &ca);
    let (good_cert, good_key) = (write("good.pem", &good.0), write("good.key", &good.1));
    let (other_cert, other_key) = (write("other.pem", &other.0), write("other.key", &other.1));

    let run = |extra: Vec<String>| {
        let (issuer, ca, password) = (p.issuer.clone(), ca.clone(), p.password.clone());
        let ca_file = ca_file.clone();
        async move {
            let port_s = port.to_string();
            let mut args: Vec<String> = [
                "login",
                "--issuer",
                &issuer,
                "--client-id",
                "e2e-mtls",
                "--ca-file",
                &ca_file,
                "--port",
                &port_s,
                "--no-browser",
                "--timeout",
                "60",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(extra);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut client = ClientProc::spawn(&refs);
            let url = client.authorization_url();
            let mut browser = Browser::trusting(&ca);
            let outcome = browser.sign_in(&issuer, &url, "demo", &password).await;
            let (status, page) = browser.deliver(outcome).await;
            assert!(status == 200 || status == 400, "{status} {page}");
            client.finish()
        }
    };

    let (code, out, err) = run(vec![
        "--tls-cert".into(),
        good_cert,
        "--tls-key".into(),
        good_key,
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["id_token_claims"]["iss"], p.issuer);
    assert_eq!(out["id_token_claims"]["aud"], "e2e-mtls");
    // UserInfo answered: the bound token was presented over a connection with the same certificate.
    assert_eq!(
        out["userinfo"]["sub"], out["id_token_claims"]["sub"],
        "{out}"
    );
    assert_eq!(out["userinfo"]["name"], "Dee Mo");

    // A certificate from the same CA with another subject DN: not this client.
    let (code, _, err) = run(vec![
        "--tls-cert".into(),
        other_cert,
        "--tls-key".into(),
        other_key,
    ])
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("invalid_client"), "{err}");
    // No certificate: the client is public-looking, the provider still wants the certificate.
    let (code, _, err) = run(vec![]).await;
    assert_eq!(code, 1);
    assert!(err.contains("invalid_client"), "{err}");
}
