//! Issue 26, first slice: three provider *processes* on one throwaway PostgreSQL cluster, with the requests of
//! each flow spread across them. A code issued on A is redeemed on B, and its replay on C is refused and revokes
//! the grant; refresh rotation on one node and reuse detection on another; a login-bridge request started on one
//! node, answered on another and completed on the third; a client assertion's `jti` used on one node refused on
//! the others; a key rotation made by the admin command is used by every node within its reload interval.
//!
//! Must not: share anything between the nodes but the database, the key-encryption key and the configuration.

#[path = "../../../crates/op/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use portcullis_jose::{Algorithm, Jwk, JwkSet, jwt};
use reqwest::StatusCode;
use serde_json::json;

const DEMO_RP: &str = "http://127.0.0.1:8081/callback";
const SITE_KEY: &str = "nodes-site-api-key-0123456789abcdefghijkl";

struct Node {
    child: Child,
    remote: Remote,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment every node shares.
struct Deployment {
    dir: tempfile::TempDir,
    issuer: String,
    database_url: String,
    kek: String,
}

impl Deployment {
    fn command(&self, port: u16) -> Command {
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
        .env_remove("PORTCULLIS_PASSWORD");
        c
    }

    /// Starts a node on `port`; its banner's lines (the first node prints the demo credentials).
    async fn node(&self, port: u16) -> (Node, Vec<String>) {
        let mut child = self
            .command(port)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
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
        (Node { child, remote }, lines)
    }
}

async fn demo_login(node: &Remote, b: &mut Browser, password: &str) -> (AuthReq, String) {
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

async fn redeem(node: &Remote, code: &str, req: &AuthReq) -> (StatusCode, serde_json::Value) {
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

async fn refresh(node: &Remote, rt: &str) -> (StatusCode, serde_json::Value) {
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

/// The `kid` of an ID token.
fn kid(id_token: &str) -> String {
    let header = id_token.split('.').next().unwrap();
    let bytes = portcullis_jose::base64url::decode(header).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_one_postgresql_deployment() {
    let pg = PgCluster::start();
    let database_url = pg.create_db("three_nodes").await;
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let site_hash = portcullis_op::hash(SITE_KEY);
    std::fs::write(
        dir.path().join("portcullis.toml"),
        format!(
            "[[bridge_sites]]\nid = \"shop\"\nname = \"Shop\"\nverify_url = \"https://shop.example/verify\"\n\
             api_key_sha256 = \"{site_hash}\"\ntrusted = true\n"
        ),
    )
    .unwrap();
    let d = Deployment {
        issuer: format!("http://127.0.0.1:{}", ports[0]),
        database_url,
        kek: portcullis_op::store::Kek::generate()
            .unwrap()
            .text()
            .to_string(),
        dir,
    };
    // A first (it sets the deployment up: keys, the demo client and user), then B and C on the same database.
    let (a, banner) = d.node(ports[0]).await;
    let password = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("demo user:"))
        .and_then(|r| r.trim().rsplit(" / ").next())
        .expect("demo credentials")
        .to_owned();
    let (b_node, _) = d.node(ports[1]).await;
    let (c, _) = d.node(ports[2]).await;
    let (a, b, c) = (&a.remote, &b_node.remote, &c.remote);

    // A code issued on A is redeemed on B; its replay on C is refused and revokes the grant.
    let mut browser = Browser::default();
    let (req, code) = demo_login(a, &mut browser, &password).await;
    let (s, tokens) = redeem(b, &code, &req).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    let (s, _) = redeem(c, &code, &req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "replayed on C");
    let (s, _) = refresh(a, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "the grant was revoked");

    // Refresh rotation across nodes, and reuse detected on a third.
    let (req, code) = demo_login(b, &mut browser, &password).await;
    let (s, tokens) = redeem(a, &code, &req).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    let rt1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (s, rotated) = refresh(b, &rt1).await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let rt2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (s, _) = refresh(c, &rt1).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "reuse of the rotated token");
    let (s, _) = refresh(a, &rt2).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "the family was revoked");

    // A login-bridge request: started on A, answered on B, completed on C.
    let mut bb = Browser::default();
    let req = AuthReq::new("demo", "code", "openid").set("redirect_uri", DEMO_RP);
    let Step::Login(page) = bb.authorize(a, &req.query()).await else {
        panic!("login page")
    };
    let Step::Redirect(verify) = bb
        .submit(b, &page, "/bridge/start", &[("site", "shop")])
        .await
    else {
        panic!("sent to the site")
    };
    let request_id = params_of(&verify)["request_id"].clone();
    let answer = c
        .http
        .post(c.url("/bridge/postback"))
        .bearer_auth(SITE_KEY)
        .json(&json!({"request_id": request_id, "identifier": "u-1", "claims": {"name": "Site User"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let code = answer.json::<serde_json::Value>().await.unwrap()["return_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let step = bb
        .follow(
            c,
            &format!(
                "{}?request_id={request_id}&code={code}",
                c.url("/bridge/return")
            ),
        )
        .await;
    assert!(matches!(step, Step::Consent(_)), "{step:?}");

    // A client assertion (private_key_jwt) used on A is refused on B and on C: its jti is kept in the shared
    // database.
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let meta = json!({"redirect_uris": [DEMO_RP], "token_endpoint_auth_method": "private_key_jwt",
                      "jwks": JwkSet::new(vec![key.to_public().unwrap()]).to_map(),
                      "response_types": [], "grant_types": ["client_credentials"], "scope": "api:read"});
    let out = d
        .command(ports[0])
        .args(["client", "add", "pkjwt", &meta.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let now = portcullis_op::now();
    let assertion = jwt::encode_value(
        &portcullis_jose::jws::Header::new(Algorithm::Es256),
        &json!({"iss": "pkjwt", "sub": "pkjwt", "aud": format!("{}/token", d.issuer), "exp": now + 60,
                "iat": now, "jti": portcullis_op::random_token()}),
        &key.signing_key().unwrap(),
    )
    .unwrap();
    let body = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let (s, t) = token(a, &body, None).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    for node in [b, c] {
        let (s, e) = token(node, &body, None).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "the jti again on {}",
            node.base()
        );
    }

    // A key rotation by the admin command reaches every node within its reload interval (30 s).
    let (req, code) = demo_login(a, &mut browser, &password).await;
    let (_, tokens) = redeem(a, &code, &req).await;
    let before = kid(tokens["id_token"].as_str().unwrap());
    let out = d
        .command(ports[0])
        .args(["keys", "rotate"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let deadline = Instant::now() + Duration::from_secs(45);
    for node in [a, b, c] {
        loop {
            let (req, code) = demo_login(node, &mut browser, &password).await;
            let (s, tokens) = redeem(node, &code, &req).await;
            assert_eq!(s, StatusCode::OK, "{tokens}");
            if kid(tokens["id_token"].as_str().unwrap()) != before {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} still signs with {before}",
                node.base()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// PostgreSQL stopped under a running node and started again: meanwhile every request that needs the database is
/// answered 503 with `Retry-After` (never a 500, never a hang), `/ready` says not ready and `/health` still
/// answers; once the database is back the node serves again without a restart, and a flow begun before the outage
/// completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_answers_503_while_postgresql_is_down_and_recovers() {
    let pg = PgCluster::start();
    let database_url = pg.create_db("outage").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("portcullis.toml"), "").unwrap();
    let port = free_port();
    let d = Deployment {
        issuer: format!("http://127.0.0.1:{port}"),
        database_url,
        kek: portcullis_op::store::Kek::generate()
            .unwrap()
            .text()
            .to_string(),
        dir,
    };
    let (node, banner) = d.node(port).await;
    let password = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("demo user:"))
        .and_then(|r| r.trim().rsplit(" / ").next())
        .expect("demo credentials")
        .to_owned();
    let op = &node.remote;
    let mut browser = Browser::default();
    // A code issued before the outage.
    let (req, code) = demo_login(op, &mut browser, &password).await;

    pg.stop();
    let started = Instant::now();
    let statuses = [
        op.http.get(op.url("/ready")).send().await.unwrap(),
        op.http
            .post(op.url("/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "not-a-code"),
                ("redirect_uri", DEMO_RP),
                ("client_id", "demo"),
                ("code_verifier", req.verifier.as_str()),
            ])
            .send()
            .await
            .unwrap(),
        op.http
            .get(format!(
                "{}?{}",
                op.url("/authorize"),
                AuthReq::new("demo", "code", "openid")
                    .set("redirect_uri", DEMO_RP)
                    .query()
            ))
            .send()
            .await
            .unwrap(),
    ];
    for r in &statuses {
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{}", r.url());
        assert_eq!(r.headers()["retry-after"], "1", "{}", r.url());
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "answered without hanging"
    );
    let health = op.http.get(op.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    pg.start_again();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = op.http.get(op.url("/ready")).send().await.unwrap();
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the node did not recover");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The code issued before the outage still redeems, once; new sign-ins work.
    let (s, t) = redeem(op, &code, &req).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (req, code) = demo_login(op, &mut browser, &password).await;
    let (s, t) = redeem(op, &code, &req).await;
    assert_eq!(s, StatusCode::OK, "{t}");
}
