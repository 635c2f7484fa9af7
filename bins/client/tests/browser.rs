//! A real browser: Debian's `chromium` (headless, fresh profile) driven over the DevTools protocol by
//! `playwright-core` (`tests/interop/browser.mjs`), through the demo RP `portcullis-client serve` and
//! `portcullis-provider`: click "Sign in", fill the provider's form, consent, land on the claims page. The
//! screenshot of the claims page is saved under `target/e2e/`; the test fails if the page does not show the user.
//! And passkeys with a virtual authenticator (`tests/interop/passkey.mjs`).

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: apt-get install chromium (the CI script does), or set CHROMIUM"
    );
    path
}

/// Starts the demo web RP (`portcullis-client serve`) for `issuer` and `client_id` with `extra` arguments on
/// `port`, and waits until it listens (at most 30 s).
fn demo_rp(issuer: &str, client_id: &str, extra: &[&str], port: u16) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_portcullis-client"))
        .args(["serve", "--issuer", issuer, "--client-id", client_id])
        .args(extra)
        .arg("--port")
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "demo RP did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[test]
fn chromium_logs_in_through_the_demo_rp() {
    let browser = chromium();
    let rp_port = free_port();
    let redirect = format!("http://127.0.0.1:{rp_port}/callback");
    let (p, _) = Provider::start(&[(
        "demo-rp",
        json!({"redirect_uris": [redirect], "token_endpoint_auth_method": "none",
               "scope": "openid profile email"}),
    )]);
    let mut rp = demo_rp(&p.issuer, "demo-rp", &[], rp_port);
    // Login CSRF: a cross-origin form post to the demo RP's login is refused (403), a same-origin one is not.
    let post = |origin: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", rp_port)).unwrap();
        let body = format!(
            "issuer={}",
            p.issuer.replace(':', "%3A").replace('/', "%2F")
        );
        write!(
            s,
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{rp_port}\r\nOrigin: {origin}\r\nContent-Type: \
             application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        resp
    };
    let evil = post("https://evil.example");
    assert!(evil.starts_with("HTTP/1.1 403"), "{evil}");
    let own = post(&format!("http://127.0.0.1:{rp_port}"));
    assert!(own.starts_with("HTTP/1.1 303"), "{own}");

    let shots = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("demo-rp-claims.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tempfile::tempdir().unwrap();
    let (ok, out, err) = node(
        "browser.mjs",
        &[
            ("RP_URL", format!("http://127.0.0.1:{rp_port}/")),
            ("DEMO_PASSWORD", p.password.clone()),
            ("SCREENSHOT", shot.display().to_string()),
            ("CHROMIUM", browser),
            ("USER_DATA_DIR", profile.path().display().to_string()),
        ],
    );
    let _ = rp.kill();
    let _ = rp.wait();
    assert!(ok, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("browser: ok"), "{out}");
    let png = std::fs::read(&shot).expect("screenshot saved");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
}

/// Passkeys in Chromium with a virtual authenticator (`tests/interop/passkey.mjs`), through the demo RP
/// (`portcullis-client serve --key`): "Create an account with a passkey" (its signed `prompt=create` request) →
/// the create-a-passkey page → the RP shows the account; signed out, a username-less sign-in with that passkey
/// (autofill, or the button) → the RP shows the same `sub`; then the RP's signed second-factor request (acr
/// second-factor, amr with `mfa`, the same `sub`), and a cancelled ceremony (an error on the sign-in page, 401,
/// never a 500). Screenshots under `target/e2e/`.
#[test]
fn chromium_creates_an_account_with_a_passkey_and_signs_in_with_it() {
    use portcullis_jose::{Algorithm, Jwk, JwkSet, jwt};
    use portcullis_pkce::{CodeChallenge, CodeVerifier};
    let browser = chromium();
    let rp_port = free_port();
    let rp_callback = format!("http://127.0.0.1:{rp_port}/callback");
    // The redirect URI of the requests the script sends directly (it answers them itself).
    let direct = format!("http://127.0.0.1:{}/cb", free_port());
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let (p, _) = Provider::start_passkeys(&[(
        "shop",
        json!({"redirect_uris": [rp_callback, direct], "token_endpoint_auth_method": "private_key_jwt",
               "jwks": JwkSet::new(vec![key.to_public().unwrap()]).to_map()}),
    )]);
    let key_file = p.dir.path().join("shop-key.json");
    std::fs::write(&key_file, key.to_json()).unwrap();
    let key_arg = key_file.display().to_string();
    let mut rp = demo_rp(&p.issuer, "shop", &["--key", &key_arg], rp_port);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let query = |pairs: &serde_json::Value| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.as_object().unwrap() {
            s.append_pair(k, v.as_str().unwrap());
        }
        s.finish()
    };
    let verifiers = [(); 2].map(|()| CodeVerifier::generate());
    let params = |v: &CodeVerifier| {
        json!({"response_type": "code", "client_id": "shop", "redirect_uri": direct, "scope": "openid",
               "state": CodeVerifier::generate().as_str()[..16], "nonce": CodeVerifier::generate().as_str()[..16],
               "code_challenge": CodeChallenge::s256(v).as_str(), "code_challenge_method": "S256"})
    };
    // The RP's second-factor request (it checked the password itself): signed, single use, naming its user.
    let mut second = params(&verifiers[0]);
    second["iss"] = json!("shop");
    second["aud"] = json!(p.issuer);
    second["exp"] = json!(now + 300);
    second["jti"] = json!(CodeVerifier::generate().as_str()[..24]);
    second["login_hint"] = json!("customer-7");
    second["acr_values"] = json!("urn:portcullis:acr:second-factor");
    let second = jwt::encode_value(
        &portcullis_jose::jws::Header::new(Algorithm::Es256),
        &second,
        &key.signing_key().unwrap(),
    )
    .unwrap();
    let second_factor = format!(
        "{}/authorize?{}",
        p.issuer,
        query(
            &json!({"client_id": "shop", "response_type": "code", "scope": "openid",
                      "redirect_uri": direct, "request": second})
        )
    );
    let cancel = format!("{}/authorize?{}", p.issuer, query(&params(&verifiers[1])));
    let shots = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e");
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let (ok, out, err) = node(
        "passkey.mjs",
        &[
            ("RP_URL", format!("http://127.0.0.1:{rp_port}/")),
            ("ACCOUNT", "customer-7".into()),
            ("SECOND_FACTOR_URL", second_factor),
            ("CANCEL_URL", cancel),
            ("REDIRECT_PREFIX", direct.clone()),
            ("SCREENSHOT_DIR", shots.display().to_string()),
            ("CHROMIUM", browser),
            ("USER_DATA_DIR", profile.path().display().to_string()),
        ],
    );
    let _ = rp.kill();
    let _ = rp.wait();
    assert!(ok, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("passkey browser: ok"), "{out}");
    let seen: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        seen["registered"]["sub"], seen["signedIn"]["sub"],
        "the passkey signs in the account it created: {seen}"
    );
    assert!(seen["registered"]["sub"].is_string(), "{seen}");

    // The second factor's code, redeemed by the RP's backend (private_key_jwt).
    let token_endpoint = format!("{}/token", p.issuer);
    let assertion = jwt::encode_value(
        &portcullis_jose::jws::Header::new(Algorithm::Es256),
        &json!({"iss": "shop", "sub": "shop", "aud": token_endpoint, "jti": CodeVerifier::generate().as_str()[..24],
                "iat": now, "exp": now + 60}),
        &key.signing_key().unwrap(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t: serde_json::Value = rt.block_on(async {
        let text = reqwest::Client::new()
            .post(&token_endpoint)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", seen["secondFactor"].as_str().unwrap()),
                ("redirect_uri", &direct),
                ("client_id", "shop"),
                ("code_verifier", verifiers[0].as_str()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap()
    });
    let idt = t["id_token"].as_str().unwrap_or_else(|| panic!("{t}"));
    let payload = idt.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&portcullis_jose::base64url::decode(payload).unwrap()).unwrap();
    assert_eq!(
        claims["sub"], seen["registered"]["sub"],
        "the second factor is the named user's"
    );
    assert_eq!(claims["acr"], "urn:portcullis:acr:second-factor");
    // Passed with the passkey added on the account page, on a device-bound authenticator.
    assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]));
    for shot in [
        "passkey-create.png",
        "passkey-sign-in.png",
        "passkey-second-factor.png",
        "passkey-cancelled.png",
        "passkey-account.png",
    ] {
        let png = std::fs::read(shots.join(shot)).expect("screenshot saved");
        assert!(png.starts_with(b"\x89PNG"), "{shot}");
    }
}

/// Step-up in Chromium (`tests/interop/stepup.mjs`): the demo user signs in at the demo RP, sets up an
/// authenticator app on the provider's account page from its QR code (screenshot `totp-enrolment.png`), then the
/// RP's "Sensitive action" sends the browser to `/Factor/Authenticate`; the app's code there brings it back to
/// the RP with an Auth Token the RP validated (screenshot `stepup-done.png`).
#[test]
fn chromium_sets_up_an_authenticator_app_and_steps_up_at_the_demo_rp() {
    let browser = chromium();
    let rp_port = free_port();
    let redirect = format!("http://127.0.0.1:{rp_port}/callback");
    let (p, _) = Provider::start(&[(
        "demo-rp",
        json!({"redirect_uris": [redirect], "token_endpoint_auth_method": "none",
               "scope": "openid profile email"}),
    )]);
    let mut rp = demo_rp(&p.issuer, "demo-rp", &[], rp_port);
    let shots = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e");
    std::fs::create_dir_all(&shots).unwrap();
    let _ = std::fs::remove_file(shots.join("totp-enrolment.png"));
    let profile = tempfile::tempdir().unwrap();
    let (ok, out, err) = node(
        "stepup.mjs",
        &[
            ("RP_URL", format!("http://127.0.0.1:{rp_port}/")),
            ("ISSUER", p.issuer.clone()),
            ("DEMO_PASSWORD", p.password.clone()),
            ("SCREENSHOT_DIR", shots.display().to_string()),
            ("CHROMIUM", browser),
            ("USER_DATA_DIR", profile.path().display().to_string()),
        ],
    );
    let _ = rp.kill();
    let _ = rp.wait();
    assert!(ok, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("stepup browser: ok"), "{out}");
    let png = std::fs::read(shots.join("totp-enrolment.png")).expect("enrolment screenshot saved");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
}

/// The screenshot directory, emptied of `names`.
fn shots(names: &[&str]) -> std::path::PathBuf {
    let shots = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e");
    std::fs::create_dir_all(&shots).unwrap();
    for n in names {
        let _ = std::fs::remove_file(shots.join(n));
    }
    shots
}

fn assert_png(path: &std::path::Path) {
    let png = std::fs::read(path).unwrap_or_else(|_| panic!("{} saved", path.display()));
    assert!(png.starts_with(b"\x89PNG"), "{}", path.display());
}

/// The login bridge in Chromium (`tests/interop/bridge.mjs`): a site added with `portcullis-provider site add`
/// (its API key printed once), the example authenticating website (`examples/bridge-site`) with that key, and the
/// demo RP: RP → the provider's login page → "Continue with Example Shop" → the site's own form → consent → the
/// RP, with the site's user (`amr` fed). Screenshots `bridge-site-login.png`, `bridge-consent.png`,
/// `bridge-rp.png`.
#[test]
fn chromium_signs_in_through_the_example_site_and_the_login_bridge() {
    let browser = chromium();
    let rp_port = free_port();
    let redirect = format!("http://127.0.0.1:{rp_port}/callback");
    let (p, _) = Provider::start(&[(
        "demo-rp",
        json!({"redirect_uris": [redirect], "token_endpoint_auth_method": "none",
               "scope": "openid profile email"}),
    )]);
    // The site: its port first, so that its verify URL can be registered.
    let site = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let site_url = format!("http://{}", site.local_addr().unwrap());
    let out = p.admin(&[
        "site",
        "add",
        "shop",
        "--name",
        "Example Shop",
        "--verify-url",
        &format!("{site_url}/verify"),
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let key = text
        .split("(shown once): ")
        .nth(1)
        .and_then(|s| s.lines().next())
        .expect("the API key is printed")
        .trim()
        .to_owned();
    assert!(
        text.contains(&format!("postback URL: {}/bridge/postback", p.issuer)),
        "{text}"
    );
    // The same id again is refused without --replace (a typo must not hand the site's users to another party).
    let again = p.admin(&[
        "site",
        "add",
        "shop",
        "--name",
        "Other",
        "--verify-url",
        "https://other.example/verify",
    ]);
    assert!(!again.status.success(), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("--replace"),
        "{again:?}"
    );
    let listed = String::from_utf8_lossy(&p.admin(&["site", "list"]).stdout).to_string();
    assert!(
        listed.contains("shop\tExample Shop") && !listed.contains(&key),
        "{listed}"
    );
    let issuer = p.issuer.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            site.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(site).unwrap();
            let app = portcullis_bridge_site::router(portcullis_bridge_site::Site {
                provider: issuer,
                api_key: key,
                no_prompt: false,
                users: vec![portcullis_bridge_site::User::new(
                    "shopper",
                    "shopper-password",
                    json!({"name": "Sam Shopper", "email": "sam@shop.example", "email_verified": true}),
                )],
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    let mut rp = demo_rp(&p.issuer, "demo-rp", &[], rp_port);
    let dir = shots(&[
        "bridge-site-login.png",
        "bridge-consent.png",
        "bridge-rp.png",
    ]);
    let profile = tempfile::tempdir().unwrap();
    let (ok, out, err) = node(
        "bridge.mjs",
        &[
            ("RP_URL", format!("http://127.0.0.1:{rp_port}/")),
            ("SCREENSHOT_DIR", dir.display().to_string()),
            ("CHROMIUM", browser),
            ("USER_DATA_DIR", profile.path().display().to_string()),
        ],
    );
    let _ = rp.kill();
    let _ = rp.wait();
    assert!(ok, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("bridge browser: ok"), "{out}");
    for n in [
        "bridge-site-login.png",
        "bridge-consent.png",
        "bridge-rp.png",
    ] {
        assert_png(&dir.join(n));
    }
}

/// The identity-provider selector in Chromium (`tests/interop/selector.mjs`): a bank (a provider on
/// `localhost`), a hub listing it as an upstream, and the demo RP with the hub's selector: RP → the hub's
/// `/select-accounts` → Bank A → the RP's `initiate_login_uri` → Bank A's login → the RP, signed in by Bank A; then
/// the remembered choice. Screenshots `selector.png`, `selector-rp.png`.
#[test]
fn chromium_chooses_a_bank_at_the_selector_and_signs_in_there() {
    let browser = chromium();
    let rp_port = free_port();
    let rp = format!("http://127.0.0.1:{rp_port}");
    let (bank, _) = Provider::start_opts(
        &[(
            "demo-rp",
            json!({"redirect_uris": [format!("{rp}/callback")], "token_endpoint_auth_method": "none",
                   "scope": "openid profile email"}),
        )],
        Options {
            localhost: true,
            ..Options::default()
        },
    );
    let bank_issuer = bank.issuer.clone();
    let (hub, _) = Provider::start_opts(
        &[(
            "demo-rp",
            json!({"redirect_uris": [format!("{rp}/callback")], "token_endpoint_auth_method": "none",
                   "initiate_login_uri": format!("{rp}/initiate")}),
        )],
        Options {
            toml: Some(Box::new(move |dir: &std::path::Path| {
                let key = dir.join("hub-key.json");
                let jwk =
                    portcullis_jose::Jwk::generate(portcullis_jose::Algorithm::Es256).unwrap();
                std::fs::write(&key, jwk.to_json()).unwrap();
                format!(
                    "[[upstreams]]\nid = \"bank-a\"\nname = \"Bank A\"\nissuer = {bank_issuer:?}\n\
                     client_id = \"hub\"\nprivate_key_file = {:?}\n",
                    key.display().to_string()
                )
            })),
            ..Options::default()
        },
    );
    let selector = format!("{}/select-accounts", hub.issuer);
    let mut demo = demo_rp(&bank.issuer, "demo-rp", &["--selector", &selector], rp_port);
    let dir = shots(&["selector.png", "selector-rp.png"]);
    let profile = tempfile::tempdir().unwrap();
    let (ok, out, err) = node(
        "selector.mjs",
        &[
            ("RP_URL", format!("{rp}/")),
            ("BANK", bank.issuer.clone()),
            ("BANK_PASSWORD", bank.password.clone()),
            ("SCREENSHOT_DIR", dir.display().to_string()),
            ("CHROMIUM", browser),
            ("USER_DATA_DIR", profile.path().display().to_string()),
        ],
    );
    let _ = demo.kill();
    let _ = demo.wait();
    drop(hub);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("selector browser: ok"), "{out}");
    for n in ["selector.png", "selector-rp.png"] {
        assert_png(&dir.join(n));
    }
}
