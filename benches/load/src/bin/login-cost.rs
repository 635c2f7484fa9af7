//! `login-cost`: the provider's CPU per login — a passkey sign-in (the login page, which begins the autofill
//! ceremony; begin; finish) against a password sign-in (the login page; the password) — measured from outside
//! as the provider process's user + system time (`/proc/<pid>/stat`) over many sign-ins, one after another,
//! each from a fresh browser (no cookies). The passkey is a software authenticator in this process, so its
//! signing is not counted; the provider's Argon2id is.
//!
//! ```sh
//! cargo build --release -p portcullis-provider -p portcullis-load
//! target/release/login-cost --passkey-logins 2000 --password-logins 100
//! ```
//!
//! Must not: load a provider it did not start, or reuse a data directory.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

#[derive(Parser)]
struct Args {
    /// The provider binary.
    #[arg(long, default_value = "target/release/portcullis-provider")]
    provider: String,
    /// Passkey sign-ins to time.
    #[arg(long, default_value_t = 1000)]
    passkey_logins: usize,
    /// Password sign-ins to time.
    #[arg(long, default_value_t = 100)]
    password_logins: usize,
    /// Port (loopback).
    #[arg(long, default_value_t = 18090)]
    port: u16,
    /// Stop each phase after this many seconds.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
}

/// A browser without a cookie jar of its own: the cookies the provider set, sent back by hand.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

fn field(html: &str, needle: &str) -> Option<String> {
    let start = html.find(needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

fn hidden(html: &str, name: &str) -> String {
    field(html, &format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} in {html}"))
}

impl Browser {
    fn new(base: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
            cookies: Vec::new(),
        }
    }

    async fn send(&mut self, r: reqwest::RequestBuilder) -> (u16, String) {
        let jar: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let r = if jar.is_empty() {
            r
        } else {
            r.header("cookie", jar.join("; "))
        };
        let resp = r.send().await.expect("the provider answers");
        for c in resp.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.retain(|(n, _)| n != k);
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    async fn get(&mut self, path: &str) -> (u16, String) {
        let r = self.http.get(format!("{}{path}", self.base));
        self.send(r).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let r = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(r).await
    }

    /// The login page of a fresh authorization request of the demo client.
    async fn login_page(&mut self) -> String {
        let verifier = portcullis_pkce::CodeVerifier::generate();
        let challenge = portcullis_pkce::CodeChallenge::s256(&verifier);
        let path = format!(
            "/authorize?response_type=code&client_id=demo&redirect_uri=http%3A%2F%2F127.0.0.1%3A8081%2Fcallback\
             &scope=openid&state=s&nonce=n&code_challenge={}&code_challenge_method=S256",
            challenge.as_str()
        );
        let (status, page) = self.get(&path).await;
        assert_eq!(status, 200, "{page}");
        page
    }

    async fn password_login(&mut self, password: &str) {
        let page = self.login_page().await;
        let (pending, csrf) = (hidden(&page, "pending"), hidden(&page, "csrf"));
        let form = [
            ("pending", pending.as_str()),
            ("csrf", &csrf),
            ("method", "password"),
            ("username", "demo"),
            ("password", password),
        ];
        let (status, body) = self.post("/login", &form).await;
        assert!(
            status == 200 || status == 303,
            "password sign-in: {status} {body}"
        );
        assert!(
            !body.contains("role=\"alert\""),
            "password sign-in refused: {body}"
        );
    }

    async fn passkey_login(&mut self, key: &mut SoftPasskey, origin: &url::Url) {
        let page = self.login_page().await;
        let (pending, csrf) = (hidden(&page, "pending"), hidden(&page, "csrf"));
        let form = [
            ("pending", pending.as_str()),
            ("csrf", &csrf),
            ("method", "passkey"),
            ("step", "begin"),
            ("username", "demo"),
        ];
        let (status, step) = self.post("/login", &form).await;
        assert_eq!(status, 200, "{step}");
        let options: RequestChallengeResponse = serde_json::from_str(
            &field(&step, "id=\"passkey-options\" value=\"").expect("options"),
        )
        .unwrap();
        let assertion = key
            .do_authentication(origin.clone(), options)
            .expect("the soft passkey signs");
        let credential = serde_json::to_string(&assertion).unwrap();
        let ceremony = hidden(&step, "ceremony");
        let form = [
            ("pending", pending.as_str()),
            ("csrf", &csrf),
            ("method", "passkey"),
            ("ceremony", &ceremony),
            ("credential", &credential),
        ];
        let (status, body) = self.post("/login", &form).await;
        assert!(
            status == 200 || status == 303,
            "passkey sign-in: {status} {body}"
        );
        assert!(
            !body.contains("role=\"alert\""),
            "passkey sign-in refused: {body}"
        );
    }
}

/// The provider's user + system CPU so far, seconds (`/proc/<pid>/stat` fields 14 and 15, in USER_HZ = 100).
fn cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // After the command name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().unwrap();
    let base = format!("http://localhost:{}", args.port);
    // The login-page rate limit is for the open internet; here one address signs in on purpose, many times.
    let config = dir.path().join("provider.toml");
    std::fs::write(
        &config,
        "login_pages_per_second = 1000000.0\nlogin_pages_burst = 1000000.0\n",
    )
    .unwrap();
    let mut child = Command::new(&args.provider)
        .env("PORTCULLIS_DATA_DIR", dir.path().join("data"))
        .env("PORTCULLIS_CONFIG", &config)
        .env("PORTCULLIS_LISTEN", format!("127.0.0.1:{}", args.port))
        .env("PORTCULLIS_ISSUER", &base)
        .env("PORTCULLIS_PASSKEYS", "true")
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_KEK")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the provider (cargo build --release -p portcullis-provider)");
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut password = None;
    let mut line = String::new();
    while password.is_none() && out.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.trim().strip_prefix("demo user:") {
            password = rest.split(" / ").nth(1).map(|p| p.trim().to_owned());
        }
        line.clear();
    }
    let password = password.expect("the demo password on the provider's first run");
    std::thread::spawn(move || for _ in out.lines() {});

    // The demo user signs in with the password and adds a passkey on the account page.
    let origin = url::Url::parse(&base).unwrap();
    let mut key = SoftPasskey::new(true);
    let mut b = Browser::new(&base);
    b.password_login(&password).await;
    let (_, account) = b.get("/account").await;
    let (status, new) = b
        .post(
            "/account/passkeys/new",
            &[("csrf", &hidden(&account, "csrf"))],
        )
        .await;
    assert_eq!(status, 200, "{new}");
    let options: CreationChallengeResponse =
        serde_json::from_str(&field(&new, "id=\"passkey-creation-options\" value=\"").unwrap())
            .unwrap();
    let created = key
        .do_registration(origin.clone(), options)
        .expect("the soft passkey registers");
    let credential = serde_json::to_string(&created).unwrap();
    let form = [
        ("pending", hidden(&new, "pending")),
        ("csrf", hidden(&new, "csrf")),
        ("ceremony", hidden(&new, "ceremony")),
        ("credential", credential),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = b.post("/account/passkeys", &form).await;
    assert_eq!(status, 303, "{body}");

    let limit = Duration::from_secs(args.seconds);
    let mut figures = Vec::new();
    for (name, count) in [
        ("passkey", args.passkey_logins),
        ("password", args.password_logins),
    ] {
        let (c0, t0) = (cpu(pid), Instant::now());
        let mut done = 0;
        while done < count && t0.elapsed() < limit {
            let mut b = Browser::new(&base);
            if name == "passkey" {
                b.passkey_login(&mut key, &origin).await;
            } else {
                b.password_login(&password).await;
            }
            done += 1;
        }
        let (c1, elapsed) = (cpu(pid), t0.elapsed());
        let per = (c1 - c0) / done as f64 * 1000.0;
        println!(
            "{name}: {done} sign-ins in {:.1} s; provider CPU {:.2} s, {per:.2} ms per sign-in",
            elapsed.as_secs_f64(),
            c1 - c0
        );
        figures.push(per);
    }
    println!(
        "a password sign-in costs the provider {:.1}× the CPU of a passkey sign-in",
        figures[1] / figures[0]
    );
    let _ = child.kill();
    let _ = child.wait();
}
