//! What the multi-node tests share: a deployment of provider *processes* on one throwaway PostgreSQL cluster
//! (the same database, key-encryption key and configuration, nothing else), and the demo client's flow steps.
//!
//! Must not: leave a process running (a `Node` kills its child when dropped), or share anything between the
//! nodes but what a real deployment shares.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::StatusCode;

/// The demo client's registered redirect URI.
pub const DEMO_RP: &str = "http://127.0.0.1:8081/callback";

/// One provider process.
pub struct Node {
    pub child: Child,
    pub remote: Remote,
    pub port: u16,
}

impl Node {
    /// Sends `signal` (`-TERM`, `-KILL`) to the process.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill {signal}");
    }

    /// Waits (at most `limit`) for the process to exit: its status, `None` if it is still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment every node shares.
pub struct Deployment {
    pub dir: tempfile::TempDir,
    pub issuer: String,
    pub database_url: String,
    pub kek: String,
}

impl Deployment {
    /// A deployment on `database_url` whose issuer is `issuer`, with `toml` as its configuration file.
    pub fn new(issuer: String, database_url: String, toml: &str) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("portcullis.toml"), toml).unwrap();
        Deployment {
            dir,
            issuer,
            database_url,
            kek: portcullis_op::store::Kek::generate()
                .unwrap()
                .text()
                .to_string(),
        }
    }

    /// The provider binary with the deployment's environment, for a node on `port` (or an admin command).
    pub fn command(&self, port: u16) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_portcullis-provider"));
        c.env(
            "PORTCULLIS_DATA_DIR",
            self.dir.path().join(format!("node-{port}")),
        )
        .env("PORTCULLIS_LISTEN", format!("127.0.0.1:{port}"))
        .env("PORTCULLIS_ISSUER", &self.issuer)
        .env("PORTCULLIS_DATABASE_URL", &self.database_url)
        .env("PORTCULLIS_KEK", &self.kek)
        .env("PORTCULLIS_CONFIG", self.dir.path().join("portcullis.toml"))
        .env_remove("PORTCULLIS_PASSWORD")
        .env_remove("PORTCULLIS_LOG");
        c
    }

    /// Starts a node on `port`; its banner's lines (the first node prints the demo credentials).
    pub async fn node(&self, port: u16) -> (Node, Vec<String>) {
        self.node_logging(port, None).await
    }

    /// [`Deployment::node`] with the node's log (level `info`) appended to `log`.
    pub async fn node_logging(
        &self,
        port: u16,
        log: Option<&std::path::Path>,
    ) -> (Node, Vec<String>) {
        let mut cmd = self.command(port);
        cmd.stdout(Stdio::piped());
        match log {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap();
                cmd.env("PORTCULLIS_LOG", "info").stderr(file);
            }
            None => {
                cmd.stderr(Stdio::null());
            }
        }
        let mut child = cmd.spawn().unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "node did not start: {lines:?}");
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                panic!("node exited: {lines:?}");
            }
            let done = line.contains("curl -s");
            lines.push(line.trim_end().to_owned());
            if done {
                break;
            }
        }
        let remote = Remote::new(&format!("http://127.0.0.1:{port}"));
        (
            Node {
                child,
                remote,
                port,
            },
            lines,
        )
    }

    /// A store on the deployment's database, with its key-encryption key (to set things up as an admin would).
    pub async fn store(&self) -> portcullis_op::store::Store {
        let kek = portcullis_op::store::Kek::from_text(&self.kek).unwrap();
        portcullis_op::store::Store::open(&self.database_url)
            .await
            .unwrap()
            .with_kek(kek)
    }
}

/// The demo user's password, from the first node's banner.
pub fn demo_password(banner: &[String]) -> String {
    banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("demo user:"))
        .and_then(|r| r.trim().rsplit(" / ").next())
        .expect("demo credentials")
        .to_owned()
}

/// The demo user signs in on `node` (password, then consent when asked): the request and its code.
pub async fn demo_login(node: &Remote, b: &mut Browser, password: &str) -> (AuthReq, String) {
    let req =
        AuthReq::new("demo", "code", "openid profile offline_access").set("redirect_uri", DEMO_RP);
    let mut step = b.authorize(node, &req.query()).await;
    for _ in 0..3 {
        step = match step {
            Step::Login(page) => {
                b.submit(
                    node,
                    &page,
                    "/login",
                    &[("username", "demo"), ("password", password)],
                )
                .await
            }
            Step::Consent(page) => {
                b.submit(node, &page, "/consent", &[("decision", "allow")])
                    .await
            }
            done => done,
        }
    }
    let code = step.redirect()["code"].clone();
    (req, code)
}

/// Redeems the demo client's `code` on `node`.
pub async fn demo_redeem(
    node: &Remote,
    code: &str,
    req: &AuthReq,
) -> (StatusCode, serde_json::Value) {
    token(
        node,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", DEMO_RP),
            ("client_id", "demo"),
            ("code_verifier", req.verifier.as_str()),
        ],
        None,
    )
    .await
}

/// Uses the demo client's refresh token `rt` on `node`.
pub async fn demo_refresh(node: &Remote, rt: &str) -> (StatusCode, serde_json::Value) {
    token(
        node,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "demo"),
        ],
        None,
    )
    .await
}
