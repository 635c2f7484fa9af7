//! Interop with peers nobody here wrote (npm packages from `tests/interop/package-lock.json`):
//! node `openid-client` against our provider, our client against node `oidc-provider`, and ID tokens / JWTs
//! both ways with node `jose` for ES256, RS256, PS256 and EdDSA.

mod support;

use serde_json::{Value, json};
use support::*;

fn metadata(redirect: &str, auth: &str) -> Value {
    json!({
        "redirect_uris": [redirect],
        "response_types": ["code"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": auth,
        "scope": "openid profile email offline_access",
    })
}

#[test]
fn openid_client_against_our_provider() {
    let redirect = "http://127.0.0.1:9/openid-client/cb";
    let (p, secrets) = Provider::start(&[
        ("oc-secret", metadata(redirect, "client_secret_basic")),
        ("oc-public", metadata(redirect, "none")),
    ]);
    let (ok, out, err) = node(
        "openid-client.mjs",
        &[
            ("ISSUER", p.issuer.clone()),
            ("DEMO_PASSWORD", p.password.clone()),
            ("SECRET_CLIENT_ID", "oc-secret".into()),
            ("CLIENT_SECRET", secrets[0].clone().unwrap()),
            ("PUBLIC_CLIENT_ID", "oc-public".into()),
            ("REDIRECT_URI", redirect.into()),
        ],
    );
    assert!(ok, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("\"flow\":\"client_secret_basic\""), "{out}");
    assert!(out.contains("\"flow\":\"public\""), "{out}");
    assert!(out.contains("openid-client interop: ok"), "{out}");
}

#[test]
fn our_client_against_node_oidc_provider() {
    let (ok, out, err) = node(
        "oidc-provider.mjs",
        &[
            ("CLIENT_BIN", env!("CARGO_BIN_EXE_portcullis-client").into()),
            ("OP_PORT", free_port().to_string()),
            ("RP_PORT", free_port().to_string()),
        ],
    );
    assert!(ok, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("oidc-provider interop: ok"), "{out}");
}

const ALGS: [&str; 4] = ["ES256", "RS256", "PS256", "EdDSA"];

/// One code flow through `portcullis-client login --show-tokens`, the forms filled by the scripted agent.
async fn id_token_for(p: &Provider, client_id: &str, port: u16) -> String {
    let port_s = port.to_string();
    let mut client = ClientProc::spawn(&[
        "login",
        "--issuer",
        &p.issuer,
        "--client-id",
        client_id,
        "--port",
        &port_s,
        "--no-browser",
        "--timeout",
        "60",
        "--show-tokens",
    ]);
    let url = client.authorization_url();
    let mut browser = Browser::new();
    let outcome = browser.sign_in(&p.issuer, &url, "demo", &p.password).await;
    browser.deliver(outcome).await;
    let (code, out, err) = client.finish();
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["id_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_from_our_provider_verify_in_node_jose() {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let clients: Vec<(String, Value)> = ALGS
        .iter()
        .map(|alg| {
            let mut m = metadata(&redirect, "none");
            m["id_token_signed_response_alg"] = json!(alg);
            (format!("jose-{}", alg.to_lowercase()), m)
        })
        .collect();
    let refs: Vec<(&str, Value)> = clients
        .iter()
        .map(|(i, m)| (i.as_str(), m.clone()))
        .collect();
    let (p, _) = Provider::start(&refs);
    let mut tokens = Vec::new();
    for (alg, (id, _)) in ALGS.iter().zip(&clients) {
        let token = id_token_for(&p, id, port).await;
        tokens.push(json!({"alg": alg, "aud": id, "token": token}));
    }
    let (ok, out, err) = node(
        "jose.mjs",
        &[
            ("MODE", "verify".into()),
            ("ISSUER", p.issuer.clone()),
            ("TOKENS", Value::Array(tokens).to_string()),
        ],
    );
    assert!(ok, "stdout: {out}\nstderr: {err}");
    for alg in ALGS {
        assert!(
            out.contains(&format!("jose verified {alg} ID token")),
            "{out}"
        );
    }
}

#[test]
fn tokens_signed_by_node_jose_verify_in_portcullis_client() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = node(
        "jose.mjs",
        &[
            ("MODE", "sign".into()),
            ("OUT_DIR", dir.path().display().to_string()),
        ],
    );
    assert!(ok, "stdout: {out}\nstderr: {err}");
    let bin = env!("CARGO_BIN_EXE_portcullis-client");
    for alg in ALGS {
        let jwks = dir.path().join(format!("{alg}.jwks.json"));
        let token = std::fs::read_to_string(dir.path().join(format!("{alg}.jwt"))).unwrap();
        let run = |allowed: &str, aud: &str| {
            std::process::Command::new(bin)
                .args([
                    "jwt",
                    "verify",
                    "--jwks",
                    jwks.to_str().unwrap(),
                    "--alg",
                    allowed,
                ])
                .args(["--iss", "https://jose.example", "--aud", aud, token.trim()])
                .output()
                .unwrap()
        };
        let ok = run(alg, "portcullis");
        assert!(ok.status.success(), "{alg}: {ok:?}");
        let v: Value = serde_json::from_slice(&ok.stdout).unwrap();
        assert_eq!(v["header"]["alg"], alg);
        assert_eq!(v["claims"]["sub"], "jose-user");
        assert_eq!(v["claims"]["name"], format!("signed by jose with {alg}"));
        // Refusals: another audience; an algorithm outside the allow-list.
        assert_eq!(run(alg, "someone-else").status.code(), Some(1), "{alg}");
        let other = if alg == "ES256" { "RS256" } else { "ES256" };
        assert_eq!(run(other, "portcullis").status.code(), Some(1), "{alg}");
    }
}
