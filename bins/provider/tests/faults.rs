//! Faults under load, on provider processes sharing one throwaway PostgreSQL cluster. A bounded load loop
//! (`WORKERS` clients, each at most `MAX_FLOWS` code flows `PACE` apart, for a few seconds) spreads each flow over the
//! nodes — authorize on one, redeem the code on the next, UserInfo on the third — and a client whose node does
//! not answer retries on another, as behind a load balancer. Every code the provider handed out and every token
//! it acknowledged is counted:
//! - `kill -9` of one node mid-load: no code is redeemed twice, none is lost (only a redemption that the killed
//!   node may have committed without answering is left undecided, at most one per client), and every
//!   acknowledged access token still works on the surviving nodes;
//! - PostgreSQL stopped for a few seconds under load: the nodes answer 503 with `Retry-After` meanwhile, never
//!   another 5xx or a dropped connection, and serve again without a restart; nothing acknowledged is lost;
//! - SIGTERM: the node stops accepting, answers the request in flight, closes idle connections and exits 0; a
//!   second signal while it drains stops it at once.
//!
//! Must not: run unbounded (every loop has a count and a deadline), or share anything between the nodes but the
//! database, the key-encryption key and the configuration.

#[path = "../../../crates/op/tests/common/mod.rs"]
mod common;
mod deployment;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use deployment::*;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WORKERS: usize = 4;
const MAX_FLOWS: usize = 3000;
/// The pause between a client's flows: a steady load, not a saturated machine.
const PACE: Duration = Duration::from_millis(10);

/// What happened to one code the provider handed out.
#[derive(Debug, Default)]
struct CodeFate {
    /// 200 answers to its redemption (must be at most one).
    redeemed: usize,
    /// `invalid_grant` answers.
    refused: usize,
    /// A redemption attempt got no answer (its node died) or a 503: it may have been committed unanswered.
    undecided: bool,
}

/// Everything the load saw.
#[derive(Debug, Default)]
struct Tally {
    codes: Vec<CodeFate>,
    /// Acknowledged access tokens.
    tokens: Vec<String>,
    /// Answers no fault excuses: 5xx other than 503, a 503 without `Retry-After`, an unexpected status.
    wrong: Vec<String>,
    unavailable: usize,
    no_answer: usize,
    /// Flows completed after the fault began.
    after_fault: usize,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.codes.extend(o.codes);
        self.tokens.extend(o.tokens);
        self.wrong.extend(o.wrong);
        self.unavailable += o.unavailable;
        self.no_answer += o.no_answer;
        self.after_fault += o.after_fault;
    }
}

/// One answer, or why there was none.
enum Outcome {
    Answer(StatusCode, reqwest::header::HeaderMap, String),
    /// The node did not answer (connection refused or cut).
    NoAnswer,
}

async fn send(r: reqwest::RequestBuilder) -> Outcome {
    match r.send().await {
        Ok(resp) => {
            let (s, h) = (resp.status(), resp.headers().clone());
            match resp.text().await {
                Ok(body) => Outcome::Answer(s, h, body),
                Err(_) => Outcome::NoAnswer,
            }
        }
        Err(_) => Outcome::NoAnswer,
    }
}

/// A client: sends each step to its node, and to the next one when that does not answer or is unavailable.
struct Client {
    http: reqwest::Client,
    nodes: Vec<String>,
    cookie: String,
    tally: Tally,
    fault: Arc<AtomicBool>,
}

impl Client {
    /// Sends `make(node)` starting at node `first`, moving on while a node does not answer or answers 503, until
    /// an answer or `deadline`. 503s must carry `Retry-After`; other 5xx are wrong.
    async fn call(
        &mut self,
        first: usize,
        deadline: Instant,
        mut on_retry: impl FnMut(),
        make: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Option<(StatusCode, reqwest::header::HeaderMap, String)> {
        let mut i = first;
        while Instant::now() < deadline {
            let node = &self.nodes[i % self.nodes.len()];
            i += 1;
            match send(make(&self.http, node)).await {
                Outcome::NoAnswer => {
                    self.tally.no_answer += 1;
                    on_retry();
                }
                Outcome::Answer(StatusCode::SERVICE_UNAVAILABLE, h, _) => {
                    self.tally.unavailable += 1;
                    if h.get("retry-after").is_none() {
                        self.tally
                            .wrong
                            .push(format!("503 without Retry-After from {node}"));
                    }
                    on_retry();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Outcome::Answer(s, h, body) if s.is_server_error() => {
                    self.tally.wrong.push(format!("{s} from {node}: {body}"));
                    return Some((s, h, body));
                }
                Outcome::Answer(s, h, body) => return Some((s, h, body)),
            }
        }
        None
    }

    /// One flow starting at node `n`: authorize (prompt=none, with the session) → token → UserInfo.
    async fn flow(&mut self, n: usize, deadline: Instant) {
        let req = AuthReq::new("demo", "code", "openid profile offline_access")
            .set("redirect_uri", DEMO_RP)
            .set("prompt", "none");
        let (query, cookie) = (req.query(), self.cookie.clone());
        let Some((s, h, body)) = self
            .call(
                n,
                deadline,
                || {},
                |c, node| {
                    c.get(format!("{node}/authorize?{query}"))
                        .header("cookie", &cookie)
                },
            )
            .await
        else {
            return;
        };
        let Some(code) = h
            .get("location")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| params_of(l).remove("code"))
        else {
            self.tally.wrong.push(format!("authorize: {s} {body}"));
            return;
        };
        let fault_before = self.fault.load(Ordering::SeqCst);
        let mut fate = CodeFate::default();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", DEMO_RP),
            ("client_id", "demo"),
            ("code_verifier", req.verifier.as_str()),
        ];
        // A code handed out is redeemed even after the load's deadline (within a grace period).
        let grace = Instant::now() + Duration::from_secs(30);
        let answer = self
            .call(
                n + 1,
                grace,
                || fate.undecided = true,
                |c, node| c.post(format!("{node}/token")).form(&form),
            )
            .await;
        let token = match answer {
            Some((StatusCode::OK, _, body)) => {
                fate.redeemed += 1;
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                v["access_token"].as_str().map(str::to_owned)
            }
            Some((StatusCode::BAD_REQUEST, _, body)) if body.contains("invalid_grant") => {
                fate.refused += 1;
                None
            }
            other => {
                self.tally.wrong.push(format!("token: {other:?}"));
                None
            }
        };
        self.tally.codes.push(fate);
        let Some(at) = token else { return };
        self.tally.tokens.push(at.clone());
        let answer = self
            .call(
                n + 2,
                grace,
                || {},
                |c, node| c.get(format!("{node}/userinfo")).bearer_auth(&at),
            )
            .await;
        match answer {
            Some((StatusCode::OK, _, _)) if fault_before => self.tally.after_fault += 1,
            Some((StatusCode::OK, _, _)) => {}
            other => self.tally.wrong.push(format!("userinfo: {other:?}")),
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Runs `WORKERS` clients over `nodes` until `stop` is set or `deadline` (each at most `MAX_FLOWS` flows).
async fn load(
    nodes: Vec<String>,
    cookie: String,
    stop: Arc<AtomicBool>,
    fault: Arc<AtomicBool>,
    deadline: Instant,
) -> Tally {
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let mut client = Client {
            http: http(),
            nodes: nodes.clone(),
            cookie: cookie.clone(),
            tally: Tally::default(),
            fault: fault.clone(),
        };
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            for i in 0..MAX_FLOWS {
                if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                    break;
                }
                client.flow(w + i, deadline).await;
                tokio::time::sleep(PACE).await;
            }
            client.tally
        }));
    }
    let mut all = Tally::default();
    for w in workers {
        all.merge(w.await.unwrap());
    }
    all
}

/// Starts [`load`] in a task with a deadline `within` from now: its stop and fault flags, and the task.
fn start_load(
    nodes: Vec<String>,
    cookie: String,
    within: Duration,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicBool>,
    tokio::task::JoinHandle<Tally>,
) {
    let (stop, fault) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let running = tokio::spawn(load(
        nodes,
        cookie,
        stop.clone(),
        fault.clone(),
        Instant::now() + within,
    ));
    (stop, fault, running)
}

/// Checks what no fault excuses, and that every acknowledged token still works on `live`.
async fn assert_nothing_lost(t: &Tally, live: &[String]) {
    assert!(t.wrong.is_empty(), "{:#?}", t.wrong);
    assert!(t.codes.len() >= 20, "the load ran: {} codes", t.codes.len());
    assert!(t.after_fault > 0, "flows completed after the fault began");
    let twice = t.codes.iter().filter(|c| c.redeemed > 1).count();
    assert_eq!(twice, 0, "codes redeemed twice");
    let lost = t
        .codes
        .iter()
        .filter(|c| c.redeemed == 0 && !c.undecided)
        .count();
    assert_eq!(
        lost,
        0,
        "codes lost: {:?}",
        t.codes
            .iter()
            .filter(|c| c.redeemed == 0)
            .collect::<Vec<_>>()
    );
    let undecided = t.codes.iter().filter(|c| c.redeemed == 0).count();
    assert!(
        undecided <= WORKERS,
        "at most one redemption per client can be undecided by the fault: {undecided}"
    );
    let http = http();
    for (i, at) in t.tokens.iter().enumerate() {
        let node = &live[i % live.len()];
        let r = http
            .get(format!("{node}/userinfo"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "acknowledged token {i} on {node}"
        );
    }
}

/// A deployment of `n` nodes on a fresh database; the nodes, and the demo user's session cookie.
async fn deployment(pg: &PgCluster, db: &str, n: usize) -> (Deployment, Vec<Node>, String) {
    let database_url = pg.create_db(db).await;
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let d = Deployment::new(format!("http://127.0.0.1:{}", ports[0]), database_url, "");
    let mut nodes = Vec::new();
    let (first, banner) = d.node(ports[0]).await;
    nodes.push(first);
    for p in &ports[1..] {
        nodes.push(d.node(*p).await.0);
    }
    let mut b = Browser::default();
    demo_login(&nodes[0].remote, &mut b, &demo_password(&banner)).await;
    let cookie = b.cookie_header().unwrap();
    (d, nodes, cookie)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_node_mid_load_loses_no_grant_and_redeems_none_twice() {
    let pg = PgCluster::start();
    let (_d, mut nodes, cookie) = deployment(&pg, "kill_nine", 3).await;
    let bases: Vec<String> = nodes.iter().map(|n| n.remote.base.clone()).collect();
    let (stop, fault, running) = start_load(bases.clone(), cookie, Duration::from_secs(40));
    tokio::time::sleep(Duration::from_secs(2)).await;
    nodes[1].signal("-KILL");
    fault.store(true, Ordering::SeqCst);
    assert!(nodes[1].wait_exit(Duration::from_secs(5)).is_some());
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    let tally = running.await.unwrap();
    eprintln!(
        "kill -9: {} codes, {} tokens, {} attempts without an answer, {} undecided",
        tally.codes.len(),
        tally.tokens.len(),
        tally.no_answer,
        tally.codes.iter().filter(|c| c.redeemed == 0).count()
    );
    assert!(tally.no_answer > 0, "the killed node was in the rotation");
    assert_nothing_lost(&tally, &[bases[0].clone(), bases[2].clone()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_outage_under_load_gives_503s_and_loses_nothing() {
    let pg = PgCluster::start();
    let (_d, nodes, cookie) = deployment(&pg, "outage_load", 2).await;
    let bases: Vec<String> = nodes.iter().map(|n| n.remote.base.clone()).collect();
    let (stop, fault, running) = start_load(bases.clone(), cookie, Duration::from_secs(60));
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::block_in_place(|| pg.stop());
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::block_in_place(|| pg.start_again());
    fault.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::SeqCst);
    let tally = running.await.unwrap();
    eprintln!(
        "outage: {} codes, {} tokens, {} answers 503, {} undecided",
        tally.codes.len(),
        tally.tokens.len(),
        tally.unavailable,
        tally.codes.iter().filter(|c| c.redeemed == 0).count()
    );
    assert!(tally.unavailable > 0, "the outage was seen");
    assert_eq!(tally.no_answer, 0, "every node kept answering");
    assert_nothing_lost(&tally, &bases).await;
    for mut n in nodes {
        assert!(n.wait_exit(Duration::ZERO).is_none(), "no node exited");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_the_request_in_flight_then_exits() {
    let pg = PgCluster::start();
    let database_url = pg.create_db("drain").await;
    let port = free_port();
    let d = Deployment::new(format!("http://127.0.0.1:{port}"), database_url, "");
    let (mut node, banner) = d.node(port).await;
    let mut b = Browser::default();
    let (req, code) = demo_login(&node.remote, &mut b, &demo_password(&banner)).await;
    let addr = format!("127.0.0.1:{port}");

    // A token request whose body is half sent when SIGTERM arrives.
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", DEMO_RP)
        .append_pair("client_id", "demo")
        .append_pair("code_verifier", req.verifier.as_str())
        .finish();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut in_flight = tokio::net::TcpStream::connect(&addr).await.unwrap();
    in_flight
        .write_all(
            format!(
                "POST /token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\r\n{first}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // An idle kept-alive connection.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(300)).await;

    node.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(node.wait_exit(Duration::ZERO).is_none(), "still draining");
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "no new connection is accepted"
    );
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the idle connection is closed"
    );

    in_flight.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), in_flight.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"access_token\""), "{answer}");
    let status = node.wait_exit(Duration::from_secs(10)).expect("exited");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_a_draining_node_at_once() {
    let pg = PgCluster::start();
    let database_url = pg.create_db("second_signal").await;
    let port = free_port();
    let d = Deployment::new(format!("http://127.0.0.1:{port}"), database_url, "");
    let (mut node, _) = d.node(port).await;
    let addr = format!("127.0.0.1:{port}");
    // A request that never finishes arriving keeps the drain going (up to its 20 s).
    let mut stuck = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stuck
        .write_all(
            format!("POST /token HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\ngrant")
                .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    node.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(node.wait_exit(Duration::ZERO).is_none(), "draining");
    node.signal("-INT");
    let status = node
        .wait_exit(Duration::from_secs(5))
        .expect("stopped at the second signal");
    assert_eq!(status.code(), Some(1));
}
