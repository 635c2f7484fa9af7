//! Issue 22, item 12: a `sector_identifier_uri` is fetched at registration (https only, bounded in size and
//! time, no redirects) and must list every redirect URI (OIDC Core §8.1), so a client cannot claim another
//! client's sector and receive the same pairwise `sub`.
//!
//! Must not: change the provider or weaken what another test proves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use portcullis_op::admin;
use portcullis_op::sector::SectorFetcher;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::json;

use crate::common::*;

/// An HTTPS server on loopback serving the sector documents of the test; its base URL and CA (PEM).
async fn sector_server() -> (String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "sector test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let app = Router::new()
        .route(
            "/both.json",
            get(|| async { r#"["https://a.example/cb", "https://thief.example/cb"]"# }),
        )
        .route(
            "/victim.json",
            get(|| async { r#"["https://a.example/cb"]"# }),
        )
        .route("/object.json", get(|| async { r#"{"redirect_uris": []}"# }))
        .route(
            "/huge.json",
            get(|| async { format!("[{}]", vec!["\"https://a.example/cb\""; 5000].join(",")) }),
        )
        .route(
            "/moved.json",
            get(|| async {
                (
                    axum::http::StatusCode::FOUND,
                    [("location", "/both.json")],
                    "",
                )
            }),
        )
        .route(
            "/slow.json",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "[]"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (base, ca_cert.pem())
}

fn pairwise(redirect: &str, sector: &str) -> serde_json::Value {
    json!({"redirect_uris": [redirect], "token_endpoint_auth_method": "none",
           "subject_type": "pairwise", "sector_identifier_uri": sector})
}

/// The attack: a client names the victim's sector document, which does not list its redirect URI. Refused;
/// and every other bad document too. A document listing the client's redirect URIs registers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sector_identifier_uri_must_list_every_redirect_uri() {
    let op = Op::sqlite().await;
    let (base, ca) = sector_server().await;
    let fetcher = SectorFetcher::with_root_certificate(ca.as_bytes()).unwrap();
    let store = &op.provider.store;
    let thief = "https://thief.example/cb";
    // The victim's own registration works.
    admin::add_client_with(
        store,
        "victim",
        &pairwise("https://a.example/cb", &format!("{base}/victim.json")),
        &fetcher,
    )
    .await
    .unwrap();
    for (doc, why) in [
        ("/victim.json", "does not list"),
        ("/object.json", "not a JSON array"),
        ("/huge.json", "larger than"),
        ("/moved.json", "could not be fetched"),
        ("/missing.json", "could not be fetched"),
    ] {
        let err = admin::add_client_with(
            store,
            "thief",
            &pairwise(thief, &format!("{base}{doc}")),
            &fetcher,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains(why), "{doc}: {err}");
    }
    // Plain http is refused before any fetch (by the registration rules or the fetcher).
    let http = base.replace("https://", "http://");
    assert!(
        admin::add_client_with(
            store,
            "thief",
            &pairwise(thief, &format!("{http}/both.json")),
            &fetcher
        )
        .await
        .is_err()
    );
    // A server that never answers costs at most the fetch timeout.
    let started = Instant::now();
    let err = admin::add_client_with(
        store,
        "thief",
        &pairwise(thief, &format!("{base}/slow.json")),
        &fetcher,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("could not be fetched"), "{err}");
    assert!(started.elapsed() < portcullis_op::sector::FETCH_TIMEOUT + Duration::from_secs(3));
    // Nothing of the refused registrations was stored.
    assert!(store.client("thief").await.unwrap().is_none());
    // Without the test CA (the public web PKI only) the document cannot be fetched.
    assert!(
        admin::add_client(
            store,
            "thief",
            &pairwise(thief, &format!("{base}/both.json"))
        )
        .await
        .is_err()
    );
    // A document listing the client's redirect URI registers it.
    admin::add_client_with(
        store,
        "thief",
        &pairwise(thief, &format!("{base}/both.json")),
        &fetcher,
    )
    .await
    .unwrap();
}
