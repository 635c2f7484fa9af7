//! `portcullis-client login --register --login-hint ALICE --key client-key.json` and `--second-factor`: the
//! client sends a request object signed with its key, carrying `prompt=create` (or the second-factor `acr`) and
//! the relying party's identifier in `login_hint`, with a `jti`; the provider accepts it and shows the
//! create-a-passkey page (or the passkey alone). Without `--key` or `--login-hint` the client refuses to start.
//!
//! Must not: change the provider or weaken what another test proves.

mod support;

use portcullis_jose::{Algorithm, Jwk};
use serde_json::{Value, json};
use support::*;

/// The claims of the request object in an authorization URL (read without verification: the provider
/// verifies it when the URL is opened).
fn request_claims(url: &str) -> Value {
    let query = url.split_once('?').unwrap().1;
    let request = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no request object in {url}"));
    let payload = portcullis_jose::jws::decode_unverified(&request)
        .unwrap()
        .payload;
    serde_json::from_slice(&payload).unwrap()
}

async fn open(url: &str) -> (u16, String) {
    let resp = reqwest::get(url).await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_second_factor_send_signed_requests_the_provider_accepts() {
    let port = free_port();
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let (p, _) = Provider::start_passkeys(&[(
        "shop",
        json!({"redirect_uris": [format!("http://127.0.0.1:{port}/callback")],
               "token_endpoint_auth_method": "private_key_jwt",
               "jwks": {"keys": [Value::Object(key.to_public().unwrap().to_map())]}}),
    )]);
    let key_file = p.dir.path().join("client-key.json");
    std::fs::write(&key_file, key.to_json()).unwrap();
    let key_path = key_file.to_str().unwrap();
    let port_s = port.to_string();
    let login = |extra: &[&str]| {
        let mut args = vec![
            "login",
            "--issuer",
            &p.issuer,
            "--port",
            &port_s,
            "--no-browser",
            "--timeout",
            "60",
            "--client-id",
            "shop",
        ];
        args.extend_from_slice(extra);
        ClientProc::spawn(&args)
    };

    let mut register = login(&["--key", key_path, "--register", "--login-hint", "alice"]);
    let url = register.authorization_url();
    let claims = request_claims(&url);
    assert_eq!(claims["prompt"], "create", "{claims}");
    assert_eq!(claims["login_hint"], "alice");
    assert!(claims["jti"].is_string(), "{claims}");
    let (status, page) = open(&url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"passkey-create\""), "{page}");
    assert!(
        page.contains("<strong id=\"account\">alice</strong>"),
        "{page}"
    );
    drop(register);

    let mut second = login(&[
        "--key",
        key_path,
        "--second-factor",
        "--login-hint",
        "alice",
    ]);
    let url = second.authorization_url();
    let claims = request_claims(&url);
    assert_eq!(claims["acr_values"], portcullis_oidc::SECOND_FACTOR_ACR);
    assert_eq!(claims["login_hint"], "alice");
    assert!(claims["jti"].is_string(), "{claims}");
    let (status, page) = open(&url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"passkey-begin\""), "{page}");
    assert!(!page.contains("type=\"password\""), "{page}");
    drop(second);

    // Without the key (nothing to sign with) or the identifier: a usage error, nothing sent.
    for args in [
        &["--register", "--login-hint", "alice"][..],
        &["--key", key_path, "--register"][..],
        &["--key", key_path, "--second-factor"][..],
    ] {
        let (code, _, err) = login(args).finish();
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}
