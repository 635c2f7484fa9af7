//! `provider-load`: starts `portcullis-provider` (release build, fresh SQLite data dir, loopback only), logs the
//! demo user in once, then runs complete code flows from `--connections` concurrent workers — authorize with
//! the logged-in session (`prompt=none`) → token exchange with PKCE → userinfo — until `--flows` flows are
//! done or `--seconds` have passed, whichever comes first. Prints flows/s, token requests/s, p50/p99 latency of
//! each step and the provider's peak RSS (VmHWM): of start-up and the login, and — the high-water mark reset
//! through `/proc/<pid>/clear_refs` — of the flows alone.
//!
//! Two load models:
//! - closed loop (default): every worker starts its next flow as soon as the last one ended, so the provider is
//!   saturated and latency is mostly time spent queueing behind the other connections;
//! - open loop (`--rate R`): flow *i* is due at `start + i/R`, whatever the answers; each worker takes the next
//!   due flow. The whole-flow latency is counted from the due time, not from when a worker got to it, so a
//!   provider that falls behind is charged for the wait (no "coordinated omission").
//!
//! With `--split`, each endpoint is measured alone instead (authorize, then token, then UserInfo phases).
//! `--warmup S` leaves the flows due in the first S seconds out of every figure (they still run).
//!
//! Each worker owns one keep-alive HTTP/1.1 connection (hyper's client connection, no pool, no redirects); the
//! runtime has `--threads` threads (default 1) so that the generator takes as little of the machine as it can.
//!
//! ```sh
//! cargo build --release -p portcullis-provider -p portcullis-load
//! target/release/provider-load --connections 64 --flows 100000 --seconds 20
//! target/release/provider-load --connections 64 --flows 100000 --seconds 20 --rate 3000
//! ```
//!
//! Must not: load a provider it did not start, or reuse a data directory: it starts its own on `127.0.0.1` with a fresh
//! temporary one.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use portcullis_pkce::{CodeChallenge, CodeVerifier};

#[derive(Parser)]
struct Args {
    /// The provider binary.
    #[arg(long, default_value = "target/release/portcullis-provider")]
    provider: String,
    /// Concurrent workers (each with its own keep-alive connection).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Stop after this many complete flows.
    #[arg(long, default_value_t = 20_000)]
    flows: usize,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Open loop: start this many flows per second (spread over the connections) instead of as many as the
    /// provider answers. Latency of a whole flow is then counted from when it was due.
    #[arg(long)]
    rate: Option<f64>,
    /// Instead of complete flows, measure each endpoint alone: first `--flows` authorizations (codes), then
    /// their token exchanges, then UserInfo with the tokens — each phase with all connections, timed apart.
    /// Codes live 60 s: keep `--flows` to what the provider authorizes in well under that.
    #[arg(long)]
    split: bool,
    /// Seconds at the start of the load that are not counted: flows due in them run, but are left out of the
    /// flow count, the latencies and the CPU times (part of `--seconds`). Not with `--split`.
    #[arg(long, default_value = "0", value_parser = parse_warmup, conflicts_with = "split")]
    warmup: Duration,
    /// Threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Port (loopback).
    #[arg(long, default_value_t = 18080)]
    port: u16,
    /// A shell command run (and waited for) after the login and before the first flow; the load stops if it
    /// fails. `benches/load/instructions.py` zeroes callgrind's counters with it, so that exactly the flows
    /// are counted.
    #[arg(long)]
    after_login: Option<String>,
}

/// `--warmup`: a finite, non-negative number of seconds.
fn parse_warmup(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{e}"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| "a finite, non-negative number of seconds".into())
}

const RP: &str = "http://127.0.0.1:8081/callback";

fn rss_peak_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn hidden(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle).expect("form field") + needle.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

fn query_param(location: &str, name: &str) -> Option<String> {
    let q = location.split_once('?')?.1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A form body, byte for byte what `form_urlencoded::Serializer` writes; values the encoding leaves as they
/// are (codes, verifiers: base64url) are copied whole, so the generator spends less of the machine it shares
/// with the provider.
fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut s = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (k, v) in pairs {
        if !s.is_empty() {
            s.push('&');
        }
        for (i, part) in [k, v].into_iter().enumerate() {
            if i == 1 {
                s.push('=');
            }
            if part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_'))
            {
                s.push_str(part);
            } else {
                s.extend(form_urlencoded::byte_serialize(part.as_bytes()));
            }
        }
    }
    s
}

fn authorize_path(challenge: &str, prompt_none: bool) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("response_type", "code")
        .append_pair("client_id", "demo")
        .append_pair("redirect_uri", RP)
        .append_pair("scope", "openid profile")
        .append_pair("state", "load")
        .append_pair("nonce", "load")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    if prompt_none {
        s.append_pair("prompt", "none");
    }
    format!("/authorize?{}", s.finish())
}

/// An answer, read to its end.
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// One keep-alive HTTP/1.1 connection to the provider; after an error the next request reconnects.
struct Conn {
    addr: SocketAddr,
    host: String,
    send: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Self {
        Conn {
            addr,
            host: addr.to_string(),
            send: None,
        }
    }

    async fn connect(addr: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
        let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        tcp.set_nodelay(true).ok()?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .ok()?;
        tokio::spawn(conn);
        Some(send)
    }

    async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Option<Resp> {
        if self.send.as_ref().is_none_or(|s| s.is_closed()) {
            self.send = Some(Self::connect(self.addr).await?);
        }
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if body.is_some() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .ok()?;
        let send = self.send.as_mut()?;
        let answer = match send.ready().await {
            Ok(()) => send.send_request(req).await,
            Err(e) => Err(e),
        };
        let Ok(r) = answer else {
            self.send = None;
            return None;
        };
        let (parts, body) = r.into_parts();
        let Ok(body) = body.collect().await else {
            self.send = None;
            return None;
        };
        Some(Resp {
            status: parts.status,
            headers: parts.headers,
            body: body.to_bytes(),
        })
    }
}

/// `GET /authorize` with the session (`prompt=none`): the code and its PKCE verifier.
async fn authorize(c: &mut Conn, cookie: &str) -> Option<(String, CodeVerifier)> {
    let v = CodeVerifier::generate();
    let path = authorize_path(CodeChallenge::s256(&v).as_str(), true);
    let r = c
        .request(Method::GET, &path, &[("cookie", cookie)], None)
        .await?;
    let code = query_param(r.headers.get("location")?.to_str().ok()?, "code")?;
    Some((code, v))
}

/// `POST /token` for a code: the access token.
async fn exchange(c: &mut Conn, code: &str, v: &CodeVerifier) -> Option<String> {
    let body = form_body(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", RP),
        ("client_id", "demo"),
        ("code_verifier", v.as_str()),
    ]);
    let r = c.request(Method::POST, "/token", &[], Some(body)).await?;
    if r.status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    v["access_token"].as_str().map(str::to_owned)
}

/// `GET /userinfo` with the token: whether it answered 200 with a `sub`.
async fn userinfo(c: &mut Conn, at: &str) -> bool {
    let auth = format!("Bearer {at}");
    c.request(Method::GET, "/userinfo", &[("authorization", &auth)], None)
        .await
        .is_some_and(|r| {
            r.status == 200
                && serde_json::from_slice::<serde_json::Value>(&r.body)
                    .is_ok_and(|v| v["sub"].is_string())
        })
}

/// The `name=value` of the cookie `name` a response sets.
fn set_cookie(r: &Resp, name: &str) -> Option<String> {
    r.headers.get_all("set-cookie").iter().find_map(|c| {
        let c = c.to_str().ok()?.split(';').next()?;
        (c.split_once('=')?.0 == name).then(|| c.to_owned())
    })
}

/// One interactive login and consent: the session cookie.
async fn login(addr: SocketAddr, password: &str) -> String {
    let mut c = Conn::new(addr);
    let v = CodeVerifier::generate();
    let page = c
        .request(
            Method::GET,
            &authorize_path(CodeChallenge::s256(&v).as_str(), false),
            &[],
            None,
        )
        .await
        .expect("login page");
    // The login and consent forms are accepted only from the browser the page was shown to.
    let browser = set_cookie(&page, "portcullis_browser").expect("browser binding cookie");
    let page = String::from_utf8_lossy(&page.body).into_owned();
    let form = |page: &str, extra: &[(&str, &str)]| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("pending", &hidden(page, "pending"))
            .append_pair("csrf", &hidden(page, "csrf"));
        for (k, v) in extra {
            s.append_pair(k, v);
        }
        s.finish()
    };
    let r = c
        .request(
            Method::POST,
            "/login",
            &[("cookie", &browser)],
            Some(form(&page, &[("username", "demo"), ("password", password)])),
        )
        .await
        .expect("login");
    let cookie = set_cookie(&r, "portcullis_session").expect("session cookie");
    let consent = String::from_utf8_lossy(&r.body).into_owned();
    let both = format!("{cookie}; {browser}");
    let r = c
        .request(
            Method::POST,
            "/consent",
            &[("cookie", &both)],
            Some(form(&consent, &[("decision", "allow")])),
        )
        .await
        .expect("consent");
    assert_eq!(r.status, 303, "consent");
    cookie
}

#[derive(Default)]
struct Samples {
    authorize: Vec<f64>,
    token: Vec<f64>,
    userinfo: Vec<f64>,
    flow: Vec<f64>,
    /// Open loop: how long after its due time each flow started.
    lag: Vec<f64>,
    errors: usize,
}

impl Samples {
    fn extend(&mut self, o: Samples) {
        self.authorize.extend(o.authorize);
        self.token.extend(o.token);
        self.userinfo.extend(o.userinfo);
        self.flow.extend(o.flow);
        self.lag.extend(o.lag);
        self.errors += o.errors;
    }
}

fn main() {
    let args = Args::parse();
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(args.threads);
        b
    }
    .enable_all()
    .build()
    .expect("tokio runtime");
    rt.block_on(run(args));
}

async fn run(args: Args) {
    let dir = tempfile::tempdir().expect("temp dir");
    let addr: SocketAddr = ([127, 0, 0, 1], args.port).into();
    let base = format!("http://{addr}");
    let mut child = Command::new(&args.provider)
        .env("PORTCULLIS_DATA_DIR", dir.path())
        .env("PORTCULLIS_LISTEN", addr.to_string())
        .env("PORTCULLIS_ISSUER", &base)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the provider (build it with cargo build --release -p portcullis-provider)");
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut password = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(r) = line.trim().strip_prefix("demo user:") {
            password = r.trim().rsplit(" / ").next().map(str::to_owned);
        }
        if line.contains("curl -s") {
            break;
        }
    }
    let password = password.expect("demo credentials printed");
    let rss_idle = rss_peak_kib(pid);
    let cookie = login(addr, &password).await;
    if let Some(cmd) = &args.after_login {
        let status = Command::new("sh").arg("-c").arg(cmd).status();
        if !status.as_ref().is_ok_and(|s| s.success()) {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("--after-login command failed: {status:?}");
            std::process::exit(1);
        }
    }

    // Peak memory of start-up and the one interactive login (its Argon2 hash alone is 46 MiB, mapped and
    // unmapped again), then reset the high-water mark so the figure below is the peak of the flows alone.
    let rss_setup = rss_peak_kib(pid);
    let reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let cpu_before = cpu_seconds(pid);
    let own_before = cpu_seconds(std::process::id());
    let machine_before = machine_cpu();

    if args.split {
        split_phases(&args, addr, &cookie).await;
        let rss_peak = rss_peak_kib(pid);
        let _ = child.kill();
        let _ = child.wait();
        println!(
            "provider RSS            peak during the phases {} KiB{}",
            rss_peak.map_or("?".into(), |v| v.to_string()),
            if reset {
                " (VmHWM reset after the login)"
            } else {
                " (lifetime)"
            }
        );
        return;
    }

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(args.seconds);
    let warmup = args.warmup.min(Duration::from_secs(args.seconds));
    let counted_from = started + warmup;
    // The CPU times of the counted part: read again when the warm-up ends.
    let cpu_at_start = if warmup.is_zero() {
        None
    } else {
        Some(tokio::spawn(async move {
            tokio::time::sleep_until(counted_from.into()).await;
            (
                cpu_seconds(pid),
                cpu_seconds(std::process::id()),
                machine_cpu(),
            )
        }))
    };
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (cookie, next, flows, rate) = (cookie.clone(), next.clone(), args.flows, args.rate);
        workers.push(tokio::spawn(async move {
            let mut c = Conn::new(addr);
            let mut local = Samples::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= flows || Instant::now() >= stop_at {
                    break;
                }
                let Some(due) = due(started, i, rate, stop_at).await else {
                    break;
                };
                let t0 = Instant::now();
                let Some((code, v)) = authorize(&mut c, &cookie).await else {
                    local.errors += 1;
                    continue;
                };
                let t1 = Instant::now();
                let Some(at) = exchange(&mut c, &code, &v).await else {
                    local.errors += 1;
                    continue;
                };
                let t2 = Instant::now();
                if !userinfo(&mut c, &at).await {
                    local.errors += 1;
                    continue;
                }
                let t3 = Instant::now();
                if due < counted_from {
                    continue;
                }
                let ms = |d: Duration| d.as_secs_f64() * 1e3;
                local.authorize.push(ms(t1 - t0));
                local.token.push(ms(t2 - t1));
                local.userinfo.push(ms(t3 - t2));
                local.flow.push(ms(t3 - due));
                local.lag.push(ms(t0.saturating_duration_since(due)));
            }
            local
        }));
    }
    let mut s = Samples::default();
    for w in workers {
        if let Ok(local) = w.await {
            s.extend(local);
        }
    }
    let elapsed = counted_from.elapsed().as_secs_f64();
    let rss_peak = rss_peak_kib(pid);
    let (cpu_before, own_before, machine_before) = match cpu_at_start {
        Some(t) => t.await.unwrap_or((None, None, None)),
        None => (cpu_before, own_before, machine_before),
    };
    let cpu = cpu_seconds(pid).zip(cpu_before).map(|(a, b)| a - b);
    let own = cpu_seconds(std::process::id())
        .zip(own_before)
        .map(|(a, b)| a - b);
    let machine = machine_cpu().zip(machine_before).map(|(a, b)| a - b);
    let _ = child.kill();
    let _ = child.wait();
    let n = s.flow.len();
    if !warmup.is_zero() {
        println!(
            "warm-up {:.1} s not counted: the figures below are of the flows due after it",
            warmup.as_secs_f64()
        );
    }
    match args.rate {
        Some(r) => println!(
            "connections {}  open loop, {r:.0} flows/s offered  flows {n}  errors {}  elapsed {elapsed:.2} s",
            args.connections, s.errors
        ),
        None => println!(
            "connections {}  closed loop  flows {n}  errors {}  elapsed {elapsed:.2} s",
            args.connections, s.errors
        ),
    }
    println!("flows/s                 {:.0}", n as f64 / elapsed);
    println!(
        "token requests/s        {:.0}   (each flow makes one authorize, one token, one userinfo request)",
        n as f64 / elapsed
    );
    println!("all requests/s          {:.0}", 3.0 * n as f64 / elapsed);
    let whole = if args.rate.is_some() {
        "flow (from due)"
    } else {
        "whole flow"
    };
    for (name, v) in [
        ("authorize", &mut s.authorize),
        ("token", &mut s.token),
        ("userinfo", &mut s.userinfo),
        (whole, &mut s.flow),
    ] {
        let p50 = pct(v, 0.50);
        let p99 = pct(v, 0.99);
        let max = v.last().copied().unwrap_or(f64::NAN);
        println!("{name:<15} latency   p50 {p50:.2} ms   p99 {p99:.2} ms   max {max:.2} ms");
    }
    if args.rate.is_some() {
        let p99 = pct(&mut s.lag, 0.99);
        println!("start lag       p99 {p99:.2} ms (how late flows started after their due time)");
    }
    if let (Some(cpu), Some(own)) = (cpu, own) {
        println!(
            "CPU time                provider {cpu:.1} s, load generator {own:.1} s over {elapsed:.1} s of wall time"
        );
        if let Some(m) = machine {
            // What else ran on the machine meanwhile (other processes, and interrupt time, which includes the
            // loopback traffic's own softirq work) and what the hypervisor took: on a shared VM these tell a run
            // that fell behind because of the provider from one that fell behind because of the machine.
            println!(
                "machine CPU             other processes and interrupts {:.1} s, stolen by the hypervisor {:.1} s ({} CPUs)",
                (m.busy - cpu - own).max(0.0),
                m.steal,
                std::thread::available_parallelism().map_or(0, |n| n.get())
            );
        }
    }
    let kib = |v: Option<u64>| v.map_or("?".into(), |v| v.to_string());
    println!(
        "provider RSS            peak of start-up {} KiB; of start-up + login {} KiB",
        kib(rss_idle),
        kib(rss_setup)
    );
    if reset {
        println!(
            "provider RSS            peak during the flows {} KiB (VmHWM reset after the login)",
            kib(rss_peak)
        );
    } else {
        println!(
            "provider RSS            lifetime peak {} KiB (could not reset VmHWM)",
            kib(rss_peak)
        );
    }
}

/// When request (or flow) `i` starts: now in a closed loop; in an open loop at `rate` per second, at
/// `started + i/rate`, after waiting for it. `None` when that is past `deadline`.
async fn due(started: Instant, i: usize, rate: Option<f64>, deadline: Instant) -> Option<Instant> {
    let Some(r) = rate else {
        return Some(Instant::now());
    };
    let due = started + Duration::from_secs_f64(i as f64 / r);
    if due >= deadline {
        return None;
    }
    tokio::time::sleep_until(due.into()).await;
    Some(due)
}

/// The whole machine's CPU time, all CPUs summed, from the first line of `/proc/stat` (clock ticks of 1/100 s).
#[derive(Clone, Copy, Debug, PartialEq)]
struct MachineCpu {
    /// user, nice, system, irq and softirq: time some process or the kernel ran.
    busy: f64,
    /// Time a virtual CPU was ready but the hypervisor ran something else.
    steal: f64,
}

impl std::ops::Sub for MachineCpu {
    type Output = MachineCpu;
    fn sub(self, o: MachineCpu) -> MachineCpu {
        MachineCpu {
            busy: self.busy - o.busy,
            steal: self.steal - o.steal,
        }
    }
}

/// Parses the aggregate `cpu` line of `/proc/stat` (`cpu user nice system idle iowait irq softirq steal ...`).
fn parse_machine_cpu(stat: &str) -> Option<MachineCpu> {
    let line = stat.lines().next()?;
    let mut f = line.split_whitespace();
    if f.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = f.take(8).map(|x| x.parse().ok()).collect::<Option<_>>()?;
    if v.len() < 8 {
        return None;
    }
    let ticks = |x: u64| x as f64 / 100.0;
    Some(MachineCpu {
        busy: ticks(v[0] + v[1] + v[2] + v[5] + v[6]),
        steal: ticks(v[7]),
    })
}

fn machine_cpu() -> Option<MachineCpu> {
    parse_machine_cpu(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// User + system CPU time of a process, from `/proc/<pid>/stat` (clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Runs `job` over `items` from `connections` workers (each with its own keep-alive connection), bounded by
/// `deadline`; returns the successful results, each request's latency (ms), the error count and the elapsed
/// time.
async fn phase<T, R, F, Fut>(
    mut items: Vec<T>,
    addr: SocketAddr,
    connections: usize,
    deadline: Instant,
    rate: Option<f64>,
    job: F,
) -> (Vec<R>, Vec<f64>, usize, f64)
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Conn, T) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = (Conn, Option<R>)> + Send,
{
    // Taken in their order (codes are redeemed oldest first), counted for the open loop's due times.
    items.reverse();
    let queue = Arc::new(std::sync::Mutex::new((items, 0usize)));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let queue = queue.clone();
        workers.push(tokio::spawn(async move {
            let (mut out, mut lat, mut errors) = (Vec::new(), Vec::new(), 0usize);
            let mut conn = Conn::new(addr);
            while Instant::now() < deadline {
                let (item, i) = {
                    let mut q = queue.lock().unwrap();
                    let Some(item) = q.0.pop() else {
                        break;
                    };
                    q.1 += 1;
                    (item, q.1 - 1)
                };
                // Open loop: latency counts from when the request was due.
                let Some(t0) = due(started, i, rate, deadline).await else {
                    break;
                };
                let (c, r) = job(conn, item).await;
                conn = c;
                match r {
                    Some(r) => {
                        lat.push(t0.elapsed().as_secs_f64() * 1e3);
                        out.push(r);
                    }
                    None => errors += 1,
                }
            }
            (out, lat, errors)
        }));
    }
    let (mut out, mut lat, mut errors) = (Vec::new(), Vec::new(), 0);
    for w in workers {
        if let Ok((o, l, e)) = w.await {
            out.extend(o);
            lat.extend(l);
            errors += e;
        }
    }
    (out, lat, errors, started.elapsed().as_secs_f64())
}

fn report(name: &str, lat: &mut [f64], errors: usize, elapsed: f64) {
    let n = lat.len();
    let (p50, p99) = (pct(lat, 0.50), pct(lat, 0.99));
    println!(
        "{name:<10} {n:>6} requests  {errors} errors  {:>7.0} req/s   p50 {p50:.2} ms   p99 {p99:.2} ms",
        n as f64 / elapsed
    );
}

async fn split_phases(args: &Args, addr: SocketAddr, cookie: &str) {
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let cookie: &'static str = Box::leak(cookie.to_owned().into_boxed_str());
    match args.rate {
        Some(r) => println!(
            "split phases, {} connections, up to {} of each request, open loop at {r:.0} requests/s (latency from \
             the due time)",
            args.connections, args.flows
        ),
        None => println!(
            "split phases, {} connections, up to {} of each request, closed loop",
            args.connections, args.flows
        ),
    }
    let (codes, mut lat, errors, elapsed) = phase(
        (0..args.flows).collect(),
        addr,
        args.connections,
        deadline,
        args.rate,
        move |mut c, _| async move {
            let r = authorize(&mut c, cookie).await;
            (c, r)
        },
    )
    .await;
    report("authorize", &mut lat, errors, elapsed);
    let (tokens, mut lat, errors, elapsed) = phase(
        codes,
        addr,
        args.connections,
        deadline,
        args.rate,
        move |mut c, (code, v)| async move {
            let r = exchange(&mut c, &code, &v).await;
            (c, r)
        },
    )
    .await;
    report("token", &mut lat, errors, elapsed);
    let (_, mut lat, errors, elapsed) = phase(
        tokens,
        addr,
        args.connections,
        deadline,
        args.rate,
        move |mut c, at| async move {
            let ok = userinfo(&mut c, &at).await;
            (c, ok.then_some(()))
        },
    )
    .await;
    report("userinfo", &mut lat, errors, elapsed);
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_body_matches_form_urlencoded() {
        let pairs = [
            ("code", "c1.AbC-_09"),
            ("redirect_uri", "http://127.0.0.1:8081/callback"),
            ("x y", "a b+c&d=e~é"),
            ("empty", ""),
        ];
        let mut reference = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            reference.append_pair(k, v);
        }
        assert_eq!(form_body(&pairs), reference.finish());
        assert_eq!(form_body(&[]), "");
    }

    use super::*;

    #[test]
    fn machine_cpu_reads_the_aggregate_line() {
        let stat = "cpu  100 5 50 1000 7 3 2 40 0 0\ncpu0 50 2 25 500 3 1 1 20 0 0\n";
        let m = parse_machine_cpu(stat).unwrap();
        assert!((m.busy - 1.60).abs() < 1e-9, "{m:?}");
        assert!((m.steal - 0.40).abs() < 1e-9, "{m:?}");
        // Refused: a per-CPU line first, too few fields, a non-number.
        assert_eq!(parse_machine_cpu("cpu0 1 2 3 4 5 6 7 8\n"), None);
        assert_eq!(parse_machine_cpu("cpu 1 2 3 4 5 6 7\n"), None);
        assert_eq!(parse_machine_cpu("cpu 1 2 3 4 5 x 7 8\n"), None);
        assert_eq!(parse_machine_cpu(""), None);
    }

    #[test]
    fn warmup_takes_non_negative_seconds_only() {
        assert_eq!(parse_warmup("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_warmup("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_warmup("0"), Ok(Duration::ZERO));
        for bad in ["-1", "NaN", "inf", "", "3s"] {
            assert!(parse_warmup(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn warmup_and_split_do_not_go_together() {
        assert!(Args::try_parse_from(["provider-load", "--warmup", "3", "--split"]).is_err());
        assert!(Args::try_parse_from(["provider-load", "--warmup", "-1"]).is_err());
        let a = Args::try_parse_from(["provider-load", "--warmup", "2.5"]).unwrap();
        assert_eq!(a.warmup, Duration::from_millis(2500));
        assert_eq!(
            Args::try_parse_from(["provider-load"]).unwrap().warmup,
            Duration::ZERO
        );
    }
}
