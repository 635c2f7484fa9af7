//! `provider-load`: starts `portcullis-provider` (release build, fresh SQLite data dir, loopback only), logs the
//! demo user in once, then runs complete code flows from `--connections` concurrent workers — authorize with
//! the logged-in session (`prompt=none`) → token exchange with PKCE → userinfo — until `--flows` flows are
//! done or `--seconds` have passed, whichever comes first. Prints flows/s, token requests/s, p50/p99 latency of
//! each step and the provider's peak RSS (VmHWM): of start-up and the login, and — the high-water mark reset
//! through `/proc/<pid>/clear_refs` — of the flows alone.
//!
//! With `--split`, each endpoint is measured alone instead (authorize, then token, then UserInfo phases).
//!
//! ```sh
//! cargo build --release -p portcullis-provider -p portcullis-load
//! target/release/provider-load --provider target/release/portcullis-provider --connections 64 --flows 20000 --seconds 30
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use portcullis_pkce::{CodeChallenge, CodeVerifier};
use tokio::sync::Mutex;

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
    /// Instead of complete flows, measure each endpoint alone: first `--flows` authorizations (codes), then
    /// their token exchanges, then UserInfo with the tokens — each phase with all connections, timed apart.
    /// Codes live 60 s: keep `--flows` to what the provider authorizes in well under that.
    #[arg(long)]
    split: bool,
    /// Port (loopback).
    #[arg(long, default_value_t = 18080)]
    port: u16,
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

fn authorize_url(base: &str, challenge: &str, prompt_none: bool) -> String {
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
    format!("{base}/authorize?{}", s.finish())
}

#[derive(Default)]
struct Samples {
    authorize: Vec<f64>,
    token: Vec<f64>,
    userinfo: Vec<f64>,
    flow: Vec<f64>,
    errors: usize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().expect("temp dir");
    let base = format!("http://127.0.0.1:{}", args.port);
    let mut child = Command::new(&args.provider)
        .env("PORTCULLIS_DATA_DIR", dir.path())
        .env("PORTCULLIS_LISTEN", format!("127.0.0.1:{}", args.port))
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

    // One interactive login (and consent) to get a session cookie.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.connections)
        .build()
        .unwrap();
    let v = CodeVerifier::generate();
    let page = http
        .get(authorize_url(
            &base,
            CodeChallenge::s256(&v).as_str(),
            false,
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = |page: &str, extra: &[(&str, &str)]| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("pending", &hidden(page, "pending"))
            .append_pair("csrf", &hidden(page, "csrf"));
        for (k, v) in extra {
            s.append_pair(k, v);
        }
        s.finish()
    };
    let resp = http
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(
            &page,
            &[("username", "demo"), ("password", &password)],
        ))
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|c| c.to_str().ok()?.split(';').next().map(str::to_owned))
        .expect("session cookie");
    let consent = resp.text().await.unwrap();
    let r = http
        .post(format!("{base}/consent"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &cookie)
        .body(form(&consent, &[("decision", "allow")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "consent");

    // Peak memory of start-up and the one interactive login (its Argon2 hash alone is 46 MiB, mapped and
    // unmapped again), then reset the high-water mark so the figure below is the peak of the flows alone.
    let rss_setup = rss_peak_kib(pid);
    let reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();

    if args.split {
        split_phases(&args, &base, &cookie).await;
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

    let samples = Arc::new(Mutex::new(Samples::default()));
    let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(args.flows));
    let stop_at = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (base, cookie, samples, remaining) = (
            base.clone(),
            cookie.clone(),
            samples.clone(),
            remaining.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut local = Samples::default();
            while Instant::now() < stop_at
                && remaining
                    .fetch_update(
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                        |n| n.checked_sub(1),
                    )
                    .is_ok()
            {
                let t0 = Instant::now();
                let Some((code, v)) = authorize(&http, &base, &cookie).await else {
                    local.errors += 1;
                    continue;
                };
                let t1 = Instant::now();
                let Some(at) = exchange(&http, &base, &code, &v).await else {
                    local.errors += 1;
                    continue;
                };
                let t2 = Instant::now();
                if !userinfo(&http, &base, &at).await {
                    local.errors += 1;
                    continue;
                }
                let t3 = Instant::now();
                local.authorize.push((t1 - t0).as_secs_f64() * 1e3);
                local.token.push((t2 - t1).as_secs_f64() * 1e3);
                local.userinfo.push((t3 - t2).as_secs_f64() * 1e3);
                local.flow.push((t3 - t0).as_secs_f64() * 1e3);
            }
            let mut s = samples.lock().await;
            s.authorize.extend(local.authorize);
            s.token.extend(local.token);
            s.userinfo.extend(local.userinfo);
            s.flow.extend(local.flow);
            s.errors += local.errors;
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rss_peak = rss_peak_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    let mut guard = samples.lock().await;
    let s = &mut *guard;
    let n = s.flow.len();
    println!(
        "connections {}  flows {n}  errors {}  elapsed {elapsed:.2} s",
        args.connections, s.errors
    );
    println!("flows/s                 {:.0}", n as f64 / elapsed);
    println!(
        "token requests/s        {:.0}   (each flow makes one authorize, one token, one userinfo request)",
        n as f64 / elapsed
    );
    println!("all requests/s          {:.0}", 3.0 * n as f64 / elapsed);
    for (name, v) in [
        ("authorize", &mut s.authorize),
        ("token", &mut s.token),
        ("userinfo", &mut s.userinfo),
        ("whole flow", &mut s.flow),
    ] {
        let p50 = pct(v, 0.50);
        let p99 = pct(v, 0.99);
        println!("{name:<12} latency   p50 {p50:.2} ms   p99 {p99:.2} ms");
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

/// Runs `job` over `items` from `connections` workers (each with its own keep-alive connection), bounded by
/// `deadline`; returns the successful results, each request's latency (ms), the error count and the elapsed
/// time.
async fn phase<T, R, F, Fut>(
    items: Vec<T>,
    connections: usize,
    deadline: Instant,
    job: F,
) -> (Vec<R>, Vec<f64>, usize, f64)
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(reqwest::Client, T) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Option<R>> + Send,
{
    let queue = Arc::new(std::sync::Mutex::new(items));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let queue = queue.clone();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        workers.push(tokio::spawn(async move {
            let (mut out, mut lat, mut errors) = (Vec::new(), Vec::new(), 0usize);
            while Instant::now() < deadline {
                let Some(item) = queue.lock().unwrap().pop() else {
                    break;
                };
                let t0 = Instant::now();
                match job(http.clone(), item).await {
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

async fn split_phases(args: &Args, base: &str, cookie: &str) {
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let base: &'static str = Box::leak(base.to_owned().into_boxed_str());
    let cookie: &'static str = Box::leak(cookie.to_owned().into_boxed_str());
    println!(
        "split phases, {} connections, up to {} of each request",
        args.connections, args.flows
    );
    let (codes, mut lat, errors, elapsed) = phase(
        (0..args.flows).collect(),
        args.connections,
        deadline,
        move |http, _| async move { authorize(&http, base, cookie).await },
    )
    .await;
    report("authorize", &mut lat, errors, elapsed);
    let (tokens, mut lat, errors, elapsed) = phase(
        codes,
        args.connections,
        deadline,
        move |http, (code, v)| async move { exchange(&http, base, &code, &v).await },
    )
    .await;
    report("token", &mut lat, errors, elapsed);
    let (_, mut lat, errors, elapsed) = phase(
        tokens,
        args.connections,
        deadline,
        move |http, at| async move { userinfo(&http, base, &at).await.then_some(()) },
    )
    .await;
    report("userinfo", &mut lat, errors, elapsed);
}

/// `GET /authorize` with the session (`prompt=none`): the code and its PKCE verifier.
async fn authorize(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
) -> Option<(String, CodeVerifier)> {
    let v = CodeVerifier::generate();
    let r = http
        .get(authorize_url(base, CodeChallenge::s256(&v).as_str(), true))
        .header("cookie", cookie)
        .send()
        .await
        .ok()?;
    let code = query_param(r.headers().get("location")?.to_str().ok()?, "code")?;
    Some((code, v))
}

/// `POST /token` for a code: the access token.
async fn exchange(
    http: &reqwest::Client,
    base: &str,
    code: &str,
    v: &CodeVerifier,
) -> Option<String> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", RP)
        .append_pair("client_id", "demo")
        .append_pair("code_verifier", v.as_str())
        .finish();
    let r = http
        .post(format!("{base}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.ok()?).ok()?;
    v["access_token"].as_str().map(str::to_owned)
}

/// `GET /userinfo` with the token: whether it answered 200.
async fn userinfo(http: &reqwest::Client, base: &str, at: &str) -> bool {
    http.get(format!("{base}/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}
