//! A real browser: Debian's `chromium` (headless, fresh profile) driven over the DevTools protocol by
//! `playwright-core` (`tests/interop/browser.mjs`), through the demo RP `portcullis-client serve` and
//! `portcullis-provider`: click "Sign in", fill the provider's form, consent, land on the claims page. The
//! screenshot of the claims page is saved under `target/e2e/`; the test fails if the page does not show the user.

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
    let mut rp = Command::new(env!("CARGO_BIN_EXE_portcullis-client"))
        .args([
            "serve",
            "--issuer",
            &p.issuer,
            "--client-id",
            "demo-rp",
            "--port",
        ])
        .arg(rp_port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", rp_port)).is_err() {
        assert!(Instant::now() < deadline, "demo RP did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
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
