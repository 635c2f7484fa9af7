//! The real binary, killed with SIGKILL right after it issued codes and refresh tokens, then restarted on the
//! same data: each code still redeems exactly once, and no refresh token is lost. Also: the first run prints
//! what to do next, a second start reuses keys and data, and the admin subcommands.

#[path = "../../../crates/op/tests/common/mod.rs"]
mod common;

mod support;

use std::process::Command;

use common::*;
use reqwest::StatusCode;
use support::{Proc, spawn, spawn_logging};

fn demo_password(p: &Proc) -> String {
    p.stdout
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("demo user:")
                .map(|r| r.trim().rsplit(" / ").next().unwrap().to_owned())
        })
        .expect("demo credentials printed")
}

fn field<'a>(p: &'a Proc, prefix: &str) -> &'a str {
    p.stdout
        .iter()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{prefix} not printed: {:?}", p.stdout))
}

const DEMO_RP: &str = "http://127.0.0.1:8081/callback";

async fn demo_login(
    op: &Remote,
    b: &mut Browser,
    password: &str,
) -> (AuthReq, std::collections::HashMap<String, String>) {
    let req =
        AuthReq::new("demo", "code", "openid profile offline_access").set("redirect_uri", DEMO_RP);
    let mut step = b.authorize(op, &req.query()).await;
    for _ in 0..3 {
        step = match step {
            Step::Login(page) => {
                b.submit(
                    op,
                    &page,
                    "/login",
                    &[("username", "demo"), ("password", password)],
                )
                .await
            }
            Step::Consent(page) => {
                b.submit(op, &page, "/consent", &[("decision", "allow")])
                    .await
            }
            done => done,
        }
    }
    let cb = step.redirect();
    (req, cb)
}

async fn redeem_demo(op: &Remote, code: &str, verifier: &str) -> (StatusCode, serde_json::Value) {
    token(
        op,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", DEMO_RP),
            ("client_id", "demo"),
            ("code_verifier", verifier),
        ],
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_code_and_no_refresh_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let first = spawn(dir.path(), port);
    assert!(
        first.stdout.iter().any(|l| l.contains("First run")),
        "{:?}",
        first.stdout
    );
    assert_eq!(
        field(&first, "discovery:"),
        format!("http://127.0.0.1:{port}/.well-known/openid-configuration")
    );
    assert!(field(&first, "demo client:").starts_with("demo (public, PKCE S256 required"));
    let password = demo_password(&first);
    let op = Remote::new(&format!("http://127.0.0.1:{port}"));
    let jwks_before = op
        .http
        .get(op.url("/jwks"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let mut b = Browser::default();
    // Codes issued and not yet redeemed.
    let mut codes = Vec::new();
    for _ in 0..5 {
        let (req, cb) = demo_login(&op, &mut b, &password).await;
        codes.push((cb["code"].clone(), req.verifier.as_str().to_owned()));
    }
    // Refresh tokens issued.
    let mut refresh = Vec::new();
    for _ in 0..5 {
        let (req, cb) = demo_login(&op, &mut b, &password).await;
        let (s, t) = redeem_demo(&op, &cb["code"], req.verifier.as_str()).await;
        assert_eq!(s, StatusCode::OK, "{t}");
        refresh.push(t["refresh_token"].as_str().unwrap().to_owned());
    }
    // SIGKILL: no shutdown hook runs.
    let mut first = first;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    drop(first);

    let second = spawn(dir.path(), port);
    assert!(
        !second.stdout.iter().any(|l| l.contains("First run")),
        "second start reuses the data"
    );
    // The demo password was shown once, at creation, and is not stored: a restart cannot show it again.
    let demo_line = field(&second, "demo user:");
    assert!(!demo_line.contains(&password), "{demo_line}");
    assert!(
        second.stdout.iter().all(|l| !l.contains(&password)),
        "{:?}",
        second.stdout
    );
    // ... and it still signs in (a new browser: login, then the code).
    let (_, cb) = demo_login(&op, &mut Browser::default(), &password).await;
    assert!(cb.contains_key("code"), "{cb:?}");
    let jwks_after = op
        .http
        .get(op.url("/jwks"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(jwks_before, jwks_after, "same keys after restart");

    for (code, verifier) in &codes {
        let (s, t) = redeem_demo(&op, code, verifier).await;
        assert_eq!(
            s,
            StatusCode::OK,
            "a code issued before the kill redeems: {t}"
        );
        let (s, t) = redeem_demo(&op, code, verifier).await;
        assert_eq!(
            (s, t["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "and only once"
        );
    }
    for rt in &refresh {
        let (s, t) = token(
            &op,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("client_id", "demo"),
            ],
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "refresh token survived: {t}");
        assert_eq!(
            userinfo(&op, t["access_token"].as_str().unwrap()).await.0,
            StatusCode::OK
        );
    }
    // The session from before the kill still works too (sessions are stored).
    let req = AuthReq::new("demo", "code", "openid profile offline_access")
        .set("redirect_uri", DEMO_RP)
        .set("prompt", "none");
    let cb = b.authorize(&op, &req.query()).await.redirect();
    assert!(cb.contains_key("code"), "{cb:?}");
}

#[test]
fn help_explains_every_setting_and_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis-provider"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for word in [
        "PORTCULLIS_ISSUER",
        "PORTCULLIS_LISTEN",
        "PORTCULLIS_DATA_DIR",
        "PORTCULLIS_DATABASE_URL",
        "PORTCULLIS_CONFIG",
        "client",
        "user",
        "keys",
        "config",
    ] {
        assert!(help.contains(word), "--help lacks {word}");
    }
}

#[test]
fn admin_subcommands_work_and_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_portcullis-provider"))
            .env("PORTCULLIS_DATA_DIR", dir.path())
            .env("PORTCULLIS_PASSWORD", "a long password")
            .env_remove("PORTCULLIS_ISSUER")
            .args(args)
            .output()
            .unwrap()
    };
    let ok = |args: &[&str]| {
        let o = run(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let out = ok(&[
        "client",
        "add",
        "shop",
        r#"{"redirect_uris":["https://shop.example/cb"]}"#,
    ]);
    assert!(out.contains("client_secret (shown once)"), "{out}");
    assert!(ok(&["client", "list"]).contains("shop"));
    ok(&["user", "add", "carol", "--claims", r#"{"name":"Carol"}"#]);
    assert!(ok(&["user", "list"]).contains("carol"));
    ok(&["user", "set-password", "carol"]);
    let keys = ok(&["keys", "list"]);
    assert_eq!(
        keys.lines().count(),
        8,
        "current and next for 4 key families: {keys}"
    );
    ok(&["keys", "rotate"]);
    let keys = ok(&["keys", "list"]);
    assert_eq!(
        keys.lines().filter(|l| l.contains("\tretired\t")).count(),
        4,
        "{keys}"
    );
    assert_eq!(
        keys.lines().filter(|l| l.contains("\tnext\t")).count(),
        4,
        "{keys}"
    );
    ok(&["client", "remove", "shop"]);
    assert!(!ok(&["client", "list"]).contains("shop"));
    assert!(ok(&["config", "check"]).contains("issuer = \"http://127.0.0.1:8080\""));
    // Refusals: exit 1 with a one-line reason.
    for bad in [
        vec![
            "client",
            "add",
            "x",
            r#"{"redirect_uris":["http://evil.example/cb"]}"#,
        ],
        vec!["client", "add", "x", "not json"],
        vec!["client", "remove", "nobody"],
        vec!["user", "add", "carol"],
        vec!["user", "set-password", "nobody"],
    ] {
        let o = run(&bad);
        assert_eq!(o.status.code(), Some(1), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).starts_with("error: "),
            "{bad:?}"
        );
    }
    let o = Command::new(env!("CARGO_BIN_EXE_portcullis-provider"))
        .env("PORTCULLIS_ISSUER", "http://example.com")
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "plain http issuer off loopback is refused"
    );
}

/// The log, as JSON lines at level debug, through a sign-in (a wrong password first), consent, the code, tokens and
/// a refresh: every line is a JSON object, the audit events are there, and no password, code or token is.
#[tokio::test]
async fn json_logs_hold_audit_events_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("provider.log");
    let port = free_port();
    let p = spawn_logging(&dir.path().join("data"), port, Some(&log));
    let password = demo_password(&p);
    let op = Remote::new(&format!("http://127.0.0.1:{port}"));
    let mut b = Browser::default();
    let req =
        AuthReq::new("demo", "code", "openid profile offline_access").set("redirect_uri", DEMO_RP);
    let Step::Login(page) = b.authorize(&op, &req.query()).await else {
        panic!("login page")
    };
    let wrong = "wrong-password-7c2e9a";
    let _ = b
        .submit(
            &op,
            &page,
            "/login",
            &[("username", "demo"), ("password", wrong)],
        )
        .await;
    let (req, cb) = demo_login(&op, &mut b, &password).await;
    let (s, t) = redeem_demo(&op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let refreshed = op
        .http
        .post(op.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("client_id", "demo"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    drop(p);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.is_empty());
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.is_object(), "{line}");
    }
    assert!(
        text.contains("portcullis::audit") && text.contains("sign_in"),
        "{text}"
    );
    for secret in [
        password.as_str(),
        wrong,
        cb["code"].as_str(),
        t["access_token"].as_str().unwrap(),
        rt.as_str(),
        t["id_token"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "a secret in the log: {secret}");
    }
}
