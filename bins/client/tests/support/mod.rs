//! Shared by the client's end-to-end tests: the real `portcullis-provider` binary on a fresh data dir, the real
//! `portcullis-client` binary, and a scripted "browser" that fills the provider's login and consent forms.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A binary of the workspace, next to this package's own (`cargo test --workspace` builds them all).
pub fn workspace_bin(name: &str) -> PathBuf {
    let own = PathBuf::from(env!("CARGO_BIN_EXE_portcullis-client"));
    let path = own.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p {name}` (or `cargo test --workspace`) first",
        path.display()
    );
    path
}

pub struct Provider {
    pub child: Child,
    pub issuer: String,
    /// How to run an admin command against it: port, configuration file, passkeys.
    admin: (u16, Option<PathBuf>, bool),
    /// The demo user's password, read from the first-run banner.
    pub password: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The provider's issuer in these tests: on 127.0.0.1, or on `localhost` when passkeys are on (a WebAuthn
/// relying party ID is a domain name).
fn issuer_of(port: u16, https: bool, passkeys: bool) -> String {
    let scheme = if https { "https" } else { "http" };
    let host = if passkeys { "localhost" } else { "127.0.0.1" };
    format!("{scheme}://{host}:{port}")
}

/// More configuration (TOML) for a provider, given its data directory.
pub type ExtraToml<'a> = Box<dyn Fn(&std::path::Path) -> String + 'a>;

/// How [`Provider::start_opts`] starts a provider beyond its clients.
#[derive(Default)]
pub struct Options<'a> {
    /// Serve HTTPS.
    pub tls: Option<ServerTls<'a>>,
    /// Offer passkeys (the issuer is then on `localhost`).
    pub passkeys: bool,
    /// The issuer on `localhost` (a browser keeps its cookies apart from a provider's on 127.0.0.1).
    pub localhost: bool,
    /// More configuration (TOML), given the data directory.
    pub toml: Option<ExtraToml<'a>>,
}

pub fn provider_cmd(
    dir: &std::path::Path,
    port: u16,
    config: Option<&std::path::Path>,
    (issuer, passkeys): (&str, bool),
) -> Command {
    let mut c = Command::new(workspace_bin("portcullis-provider"));
    c.env("PORTCULLIS_DATA_DIR", dir)
        .env("PORTCULLIS_LISTEN", format!("127.0.0.1:{port}"))
        .env("PORTCULLIS_ISSUER", issuer)
        .env("PORTCULLIS_PASSKEYS", passkeys.to_string())
        .env_remove("PORTCULLIS_PASSWORD")
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_CONFIG");
    if let Some(path) = config {
        c.env("PORTCULLIS_CONFIG", path);
    }
    c
}

/// Server TLS material for [`Provider::start_tls`] (PEM text).
pub struct ServerTls<'a> {
    pub cert: &'a str,
    pub key: &'a str,
    /// CA of `tls_client_auth` client certificates.
    pub client_ca: &'a str,
}

impl Provider {
    /// Starts the provider on a fresh data dir (first run: demo client and user), then registers `clients` (id,
    /// RFC 7591 metadata) with the admin subcommand. Returns the provider and the secrets printed for
    /// secret-based clients.
    pub fn start(clients: &[(&str, serde_json::Value)]) -> (Provider, Vec<Option<String>>) {
        Self::start_with(clients, None, false)
    }

    /// Like [`start`](Self::start), offering passkeys (`PORTCULLIS_PASSKEYS`; the issuer is then on
    /// `localhost`).
    pub fn start_passkeys(
        clients: &[(&str, serde_json::Value)],
    ) -> (Provider, Vec<Option<String>>) {
        Self::start_with(clients, None, true)
    }

    /// Like [`start`](Self::start), serving HTTPS with optional client certificates when `tls` is given (a
    /// TOML configuration with `[tls]` in the data dir).
    pub fn start_tls(
        clients: &[(&str, serde_json::Value)],
        tls: Option<ServerTls<'_>>,
    ) -> (Provider, Vec<Option<String>>) {
        Self::start_with(clients, tls, false)
    }

    fn start_with(
        clients: &[(&str, serde_json::Value)],
        tls: Option<ServerTls<'_>>,
        passkeys: bool,
    ) -> (Provider, Vec<Option<String>>) {
        Self::start_opts(
            clients,
            Options {
                tls,
                passkeys,
                ..Options::default()
            },
        )
    }

    /// A provider with `clients` and `opts`.
    pub fn start_opts(
        clients: &[(&str, serde_json::Value)],
        opts: Options<'_>,
    ) -> (Provider, Vec<Option<String>>) {
        let Options {
            tls,
            passkeys,
            localhost,
            toml,
        } = opts;
        let https = tls.is_some();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let extra = toml.map(|f| f(dir.path())).unwrap_or_default();
        let config = tls.map(|t| {
            let (cert, key, ca) = (
                write("server.pem", t.cert),
                write("server.key", t.key),
                write("clients-ca.pem", t.client_ca),
            );
            format!(
                "[tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n",
                cert.display().to_string(),
                key.display().to_string(),
                ca.display().to_string()
            )
        });
        let config = match (config, extra.is_empty()) {
            (None, true) => None,
            // The extra keys first: the TLS table, when there is one, must come after them.
            (tls, _) => Some(write(
                "portcullis.toml",
                &format!("{extra}\n{}", tls.unwrap_or_default()),
            )),
        };
        let config = config.as_deref();
        let issuer = issuer_of(port, https, passkeys || localhost);
        // The provider's log goes to the test's stderr (shown for failing tests) when PORTCULLIS_TEST_LOG is set.
        let log = if std::env::var_os("PORTCULLIS_TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let mut child = provider_cmd(dir.path(), port, config, (&issuer, passkeys))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        // The banner ends with the curl line.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut password = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("provider did not start");
            if let Some(rest) = line.trim().strip_prefix("demo user:") {
                password = rest.trim().rsplit(" / ").next().map(str::to_owned);
            }
            if line.contains("curl -s") {
                break;
            }
        }
        let mut secrets = Vec::new();
        for (id, metadata) in clients {
            let out = provider_cmd(dir.path(), port, config, (&issuer, passkeys))
                .args(["client", "add", id, &metadata.to_string()])
                .output()
                .unwrap();
            assert!(out.status.success(), "client add: {out:?}");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            secrets.push(
                text.split("(shown once): ")
                    .nth(1)
                    .map(|s| s.trim().to_owned()),
            );
        }
        (
            Provider {
                child,
                admin: (port, config.map(|c| c.to_owned()), passkeys),
                issuer,
                password: password.expect("demo password printed"),
                dir,
            },
            secrets,
        )
    }
}

impl Provider {
    /// Runs `portcullis-provider ARGS` against this provider's data directory and configuration.
    pub fn admin(&self, args: &[&str]) -> std::process::Output {
        let (port, config, passkeys) = &self.admin;
        provider_cmd(
            self.dir.path(),
            *port,
            config.as_deref(),
            (&self.issuer, *passkeys),
        )
        .args(args)
        .output()
        .unwrap()
    }
}

/// A running `portcullis-client` whose stderr is read line by line.
pub struct ClientProc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub stderr: Vec<String>,
}

impl Drop for ClientProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ClientProc {
    pub fn spawn(args: &[&str]) -> ClientProc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis-client"))
            .args(args)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        ClientProc {
            child,
            lines: rx,
            stderr: Vec::new(),
        }
    }

    /// The first stderr line that is a URL (the authorization URL `login` prints).
    pub fn authorization_url(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no authorization URL; stderr: {:?}", self.stderr));
            self.stderr.push(line.clone());
            if line.starts_with("http") {
                return line;
            }
        }
    }

    /// Waits for exit; returns (status code, stdout, the rest of stderr).
    pub fn finish(mut self) -> (i32, String, String) {
        use std::io::Read;
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "client did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.stderr.push(l);
        }
        (status.code().unwrap_or(-1), out, self.stderr.join("\n"))
    }
}

pub fn hidden(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

/// A user agent that does not follow redirects, keeps the provider's cookies (the session and the browser
/// binding), and fills its forms.
pub struct Browser {
    pub http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

/// Where the provider finally sent the browser.
#[derive(Debug)]
pub enum Outcome {
    /// A redirect to the RP.
    Redirect(String),
    /// A `form_post` page: (action, fields).
    FormPost(String, Vec<(String, String)>),
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    /// A browser that trusts `ca_pem` (a provider serving HTTPS with a test CA); it presents no certificate.
    pub fn trusting(ca_pem: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    /// Sends `r` with this browser's provider cookies, keeping any it is given: status, `Location`, body.
    pub async fn send(&mut self, r: reqwest::RequestBuilder) -> (u16, Option<String>, String) {
        let r = if self.cookies.is_empty() {
            r
        } else {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            r.header("cookie", jar.join("; "))
        };
        let resp = r.send().await.unwrap();
        for c in resp.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let Some((name, value)) = c.split(';').next().unwrap().split_once('=') else {
                continue;
            };
            if name.starts_with("portcullis_") || name.starts_with("__Host-portcullis_") {
                self.cookies.retain(|(k, _)| k != name);
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (status, location, resp.text().await.unwrap())
    }

    /// Opens the authorization URL and signs in as the demo user, consenting when asked.
    pub async fn sign_in(
        &mut self,
        issuer: &str,
        url: &str,
        user: &str,
        password: &str,
    ) -> Outcome {
        let (mut status, mut location, mut body) = self.send(self.http.get(url)).await;
        for _ in 0..4 {
            if let Some(l) = location.clone().filter(|_| (300..400).contains(&status)) {
                return Outcome::Redirect(l);
            }
            let (action, extra): (&str, Vec<(&str, &str)>) = if body.contains("action=\"/login\"") {
                ("/login", vec![("username", user), ("password", password)])
            } else if body.contains("action=\"/consent\"") {
                ("/consent", vec![("decision", "allow")])
            } else if body.contains("document.forms[0].submit()") {
                return Outcome::FormPost(form_action(&body), form_fields(&body));
            } else {
                panic!("unexpected provider page ({status}): {body}");
            };
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("pending", &hidden(&body, "pending").unwrap());
            form.append_pair("csrf", &hidden(&body, "csrf").unwrap());
            for (k, v) in extra {
                form.append_pair(k, v);
            }
            let req = self
                .http
                .post(format!("{issuer}{action}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.finish());
            (status, location, body) = self.send(req).await;
        }
        panic!("no answer after login and consent")
    }

    /// Delivers the provider's answer to the RP the way a browser would: follows a query redirect, runs the
    /// fragment page's script (posts the fragment back), or submits a form_post form.
    pub async fn deliver(&self, outcome: Outcome) -> (u16, String) {
        let resp = match outcome {
            Outcome::Redirect(l) => match l.split_once('#') {
                Some((base, fragment)) => {
                    let page = self.http.get(base).send().await.unwrap();
                    assert_eq!(page.status(), 200);
                    let html = page.text().await.unwrap();
                    assert!(html.contains("/callback.js"), "{html}");
                    self.http
                        .post(base)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(fragment.to_owned())
                        .send()
                        .await
                        .unwrap()
                }
                None => self.http.get(&l).send().await.unwrap(),
            },
            Outcome::FormPost(action, fields) => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                for (k, v) in &fields {
                    form.append_pair(k, v);
                }
                self.http
                    .post(action)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form.finish())
                    .send()
                    .await
                    .unwrap()
            }
        };
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn form_action(html: &str) -> String {
    let start = html.find("action=\"").unwrap() + 8;
    let end = html[start..].find('"').unwrap() + start;
    unescape(&html[start..end])
}

fn form_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("name=\"") {
        rest = &rest[i + 6..];
        let end = rest.find('"').unwrap();
        let name = unescape(&rest[..end]);
        let v = rest.find("value=\"").unwrap() + 7;
        let vend = rest[v..].find('"').unwrap() + v;
        out.push((name, unescape(&rest[v..vend])));
        rest = &rest[vend..];
    }
    out
}

/// `tests/interop` with its npm packages installed (`npm ci` from the committed lock file, once per test binary).
pub fn interop_dir() -> PathBuf {
    static READY: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop");
    READY.get_or_init(|| {
        if !dir.join("node_modules/openid-client").exists() {
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .output()
                .expect("npm (node 20) is needed for the interop tests");
            assert!(out.status.success(), "npm ci failed: {out:?}");
        }
    });
    dir
}

/// Runs `node tests/interop/<script>` with `envs`; returns (success, stdout, stderr).
pub fn node(script: &str, envs: &[(&str, String)]) -> (bool, String, String) {
    let dir = interop_dir();
    let mut c = Command::new("node");
    c.arg(dir.join(script)).current_dir(&dir);
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().expect("node");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
