//! Test harness: a real provider on a real loopback socket (SQLite in a temp dir, or a throwaway PostgreSQL
//! cluster), an HTTP client that does not follow redirects, and the browser steps (login, consent) done by
//! reading the provider's forms.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use portcullis_jose::{Algorithm, JwkSet};
use portcullis_op::{Config, Provider, admin};
use portcullis_pkce::{CodeChallenge, CodeVerifier};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery";
pub const RP: &str = "https://rp.example/cb";

/// Anything the browser and token helpers can talk to: an in-process provider or a spawned binary.
pub trait Target {
    fn base(&self) -> &str;
    fn http(&self) -> &reqwest::Client;
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }
}

/// A provider reached only over HTTP (a spawned `portcullis-provider`).
pub struct Remote {
    pub base: String,
    pub http: reqwest::Client,
}

impl Remote {
    pub fn new(base: &str) -> Remote {
        Remote {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }
}

impl Target for Remote {
    fn base(&self) -> &str {
        &self.base
    }
    fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

impl Target for Op {
    fn base(&self) -> &str {
        &self.base
    }
    fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

pub struct Op {
    pub base: String,
    pub provider: Arc<Provider>,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Op {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn config(dir: &std::path::Path, port: u16, database_url: Option<String>) -> Config {
    Config {
        issuer: format!("http://127.0.0.1:{port}"),
        listen: format!("127.0.0.1:{port}"),
        data_dir: dir.to_owned(),
        database_url,
        demo: false,
        ..Config::default()
    }
}

impl Op {
    pub async fn sqlite() -> Op {
        Self::start_with(|c| c).await
    }

    pub async fn start_with(f: impl FnOnce(Config) -> Config) -> Op {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = f(config(dir.path(), port, None));
        Self::start_cfg(cfg, dir).await
    }

    pub async fn start_cfg(cfg: Config, dir: tempfile::TempDir) -> Op {
        Self::start_login(cfg, dir, Box::new(portcullis_op::login::PasswordLogin)).await
    }

    pub async fn start_login(
        cfg: Config,
        dir: tempfile::TempDir,
        login: Box<dyn portcullis_op::login::LoginMethod>,
    ) -> Op {
        let op = Self::start_unseeded(cfg, dir, login).await;
        op.seed().await;
        op
    }

    /// A provider on an existing database (another node of the same deployment): no seeding.
    pub async fn start_unseeded(
        cfg: Config,
        dir: tempfile::TempDir,
        login: Box<dyn portcullis_op::login::LoginMethod>,
    ) -> Op {
        let running = portcullis_op::start_with_login(cfg, login)
            .await
            .expect("provider starts");
        let base = running.provider.cfg.issuer.clone();
        let provider = running.provider.clone();
        let task = tokio::spawn(async move {
            let _ = running.run().await;
        });
        Op {
            base,
            provider,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            dir,
            task,
        }
    }

    /// Clients and a user used by the tests.
    async fn seed(&self) {
        let store = &self.provider.store;
        let all_rts = json!([
            "code",
            "id_token",
            "id_token token",
            "code id_token",
            "code token",
            "code id_token token"
        ]);
        admin::add_client(
            store,
            "public",
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none", "response_types": all_rts,
                    "grant_types": ["authorization_code", "refresh_token", "implicit"],
                    "post_logout_redirect_uris": ["https://rp.example/bye"],
                    "scope": "openid profile email phone address offline_access avatar payment_details"}),
        )
        .await
        .unwrap();
        admin::add_client_with_secret(
            store,
            "confidential",
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_basic",
                    "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                    "scope": "openid profile email api:read"}),
            "s3cret-s3cret",
        )
        .await
        .unwrap();
        admin::add_client(
            store,
            "pairwise-a",
            &json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none",
                    "subject_type": "pairwise", "require_pkce": true}),
        )
        .await
        .unwrap();
        admin::add_client(
            store,
            "pairwise-b",
            &json!({"redirect_uris": ["https://b.example/cb"], "token_endpoint_auth_method": "none",
                    "subject_type": "pairwise"}),
        )
        .await
        .unwrap();
        admin::add_user(store, "alice", PASSWORD, &admin::demo_claims())
            .await
            .unwrap();
        admin::add_user(store, "bob", PASSWORD, &json!({"name": "Bob"}))
            .await
            .unwrap();
    }

    pub async fn jwks(&self) -> JwkSet {
        let body = self
            .http
            .get(self.url("/jwks"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        JwkSet::from_json(&body).unwrap()
    }
}

/// A browser: a cookie jar of one cookie.
#[derive(Default, Clone)]
pub struct Browser {
    pub session: Option<String>,
}

pub fn hidden(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

pub fn params_of(location: &str) -> HashMap<String, String> {
    let part = location
        .split_once('#')
        .map(|(_, f)| f)
        .or_else(|| location.split_once('?').map(|(_, q)| q))
        .unwrap_or("");
    form_urlencoded::parse(part.as_bytes())
        .into_owned()
        .collect()
}

/// What the provider answered to an authorization step.
#[derive(Debug)]
pub enum Step {
    Login(String),
    Consent(String),
    Redirect(String),
    FormPost(String),
    ErrorPage(StatusCode, String),
}

impl Step {
    pub fn redirect(self) -> HashMap<String, String> {
        match self {
            Step::Redirect(l) => params_of(&l),
            other => panic!("expected a redirect, got {other:?}"),
        }
    }
    pub fn location(&self) -> &str {
        match self {
            Step::Redirect(l) => l,
            other => panic!("expected a redirect, got {other:?}"),
        }
    }
}

impl Browser {
    pub async fn step(&mut self, resp: reqwest::Response) -> Step {
        let status = resp.status();
        for c in resp.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            if let Some(v) = c.strip_prefix("portcullis_session=") {
                let v = v.split(';').next().unwrap();
                self.session = (!v.is_empty()).then(|| v.to_owned());
            }
        }
        if status == StatusCode::SEE_OTHER {
            return Step::Redirect(resp.headers()["location"].to_str().unwrap().to_owned());
        }
        let body = resp.text().await.unwrap();
        if body.contains("action=\"/login\"") {
            Step::Login(body)
        } else if body.contains("action=\"/consent\"") {
            Step::Consent(body)
        } else if body.contains("document.forms[0].submit()") {
            Step::FormPost(body)
        } else {
            Step::ErrorPage(status, body)
        }
    }

    fn with_cookie(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.session {
            Some(s) => r.header("cookie", format!("portcullis_session={s}")),
            None => r,
        }
    }

    pub async fn authorize(&mut self, op: &impl Target, query: &str) -> Step {
        let r = self.with_cookie(op.http().get(format!("{}?{query}", op.url("/authorize"))));
        let resp = r.send().await.unwrap();
        self.step(resp).await
    }

    pub async fn authorize_post(&mut self, op: &impl Target, body: &str) -> Step {
        let r = self.with_cookie(
            op.http()
                .post(op.url("/authorize"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_owned()),
        );
        let resp = r.send().await.unwrap();
        self.step(resp).await
    }

    pub async fn submit(
        &mut self,
        op: &impl Target,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Step {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("pending", &hidden(page, "pending").unwrap());
        form.append_pair("csrf", &hidden(page, "csrf").unwrap());
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        let r = self.with_cookie(
            op.http()
                .post(op.url(action))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.finish()),
        );
        let resp = r.send().await.unwrap();
        self.step(resp).await
    }

    pub async fn login(&mut self, op: &impl Target, page: &str, user: &str) -> Step {
        self.submit(
            op,
            page,
            "/login",
            &[("username", user), ("password", PASSWORD)],
        )
        .await
    }

    /// Drives login and consent as needed until the provider answers the client.
    pub async fn complete(&mut self, op: &impl Target, mut step: Step, user: &str) -> Step {
        for _ in 0..4 {
            step = match step {
                Step::Login(page) => self.login(op, &page, user).await,
                Step::Consent(page) => {
                    self.submit(op, &page, "/consent", &[("decision", "allow")])
                        .await
                }
                done => return done,
            };
        }
        panic!("no answer after login and consent")
    }
}

/// An authorization request for the `public` client with PKCE.
pub struct AuthReq {
    pub verifier: CodeVerifier,
    pub nonce: String,
    pub state: String,
    pub pairs: Vec<(String, String)>,
}

impl AuthReq {
    pub fn new(client: &str, response_type: &str, scope: &str) -> AuthReq {
        let verifier = CodeVerifier::generate();
        let challenge = CodeChallenge::s256(&verifier);
        let nonce = portcullis_op::random_token();
        let state = portcullis_op::random_token();
        let pairs = vec![
            ("response_type".into(), response_type.into()),
            ("client_id".into(), client.into()),
            ("redirect_uri".into(), RP.into()),
            ("scope".into(), scope.into()),
            ("state".into(), state.clone()),
            ("nonce".into(), nonce.clone()),
            ("code_challenge".into(), challenge.as_str().into()),
            ("code_challenge_method".into(), "S256".into()),
        ];
        AuthReq {
            verifier,
            nonce,
            state,
            pairs,
        }
    }

    pub fn set(mut self, k: &str, v: &str) -> Self {
        self.pairs.retain(|(a, _)| a != k);
        self.pairs.push((k.into(), v.into()));
        self
    }

    pub fn without(mut self, k: &str) -> Self {
        self.pairs.retain(|(a, _)| a != k);
        self
    }

    pub fn query(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            s.append_pair(k, v);
        }
        s.finish()
    }
}

pub async fn token(
    op: &impl Target,
    body: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in body {
        form.append_pair(k, v);
    }
    let mut r = op
        .http()
        .post(op.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish());
    if let Some((u, p)) = basic {
        r = r.basic_auth(u, Some(p));
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    (status, resp.json().await.unwrap())
}

pub async fn redeem(op: &impl Target, code: &str, verifier: &str) -> (StatusCode, Value) {
    token(
        op,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP),
            ("client_id", "public"),
            ("code_verifier", verifier),
        ],
        None,
    )
    .await
}

pub async fn userinfo(op: &impl Target, at: &str) -> (StatusCode, Value) {
    let resp = op
        .http()
        .get(op.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    let s = resp.status();
    (s, resp.json().await.unwrap_or(Value::Null))
}

/// A full code flow for `user`: returns the token response.
pub async fn code_flow(
    op: &impl Target,
    browser: &mut Browser,
    user: &str,
    scope: &str,
) -> (AuthReq, Value) {
    let req = AuthReq::new("public", "code", scope);
    let step = browser.authorize(op, &req.query()).await;
    let cb = browser.complete(op, step, user).await.redirect();
    assert_eq!(cb["state"], req.state);
    assert_eq!(cb["iss"], op.base());
    let (status, tokens) = redeem(op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    (req, tokens)
}

pub const ALGS: [Algorithm; 4] = [
    Algorithm::Es256,
    Algorithm::Rs256,
    Algorithm::Ps256,
    Algorithm::EdDsa,
];

/// A throwaway PostgreSQL cluster (initdb in a temp dir, pg_ctl on a free port); stopped on drop.
pub struct PgCluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
}

fn pg_bin() -> PathBuf {
    for v in ["17", "16", "15", "14", "13"] {
        let p = PathBuf::from(format!("/usr/lib/postgresql/{v}/bin"));
        if p.join("initdb").exists() {
            return p;
        }
    }
    panic!(
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

fn pg_command(bin: &std::path::Path, tool: &str) -> Command {
    if is_root() {
        // initdb refuses to run as root: run the cluster as the postgres system user.
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

impl PgCluster {
    pub fn start() -> PgCluster {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("portcullis-pg")
            .tempdir_in("/tmp")
            .unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let data = dir.path().join("data");
        let out = pg_command(&bin, "initdb")
            .args(["-D"])
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            dir.path().display()
        );
        let out = pg_command(&bin, "pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(dir.path().join("log"))
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PgCluster { dir, port, bin }
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub async fn create_db(&self, name: &str) -> String {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        self.url(name)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = pg_command(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
