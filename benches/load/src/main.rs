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
//! With `--database-url` the provider runs on PostgreSQL, and with `--nodes N` as N processes on that one
//! database, each flow's three steps going to three nodes in turn (`nodes.rs`); `benches/load/postgres.py` makes
//! the throwaway cluster. CPU per flow then counts the database server's processes too.
//!
//! Must not: load a provider it did not start, or reuse a data directory: it starts its own on `127.0.0.1` with a
//! fresh temporary one (and a fresh database, which the caller provides).

#![forbid(unsafe_code)]

mod args;
mod conn;
mod flow;
mod nodes;
mod split;
mod stats;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;

pub(crate) use args::*;
pub(crate) use conn::*;
pub(crate) use flow::*;
pub(crate) use nodes::*;
pub(crate) use split::*;
pub(crate) use stats::*;

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
    let mut nodes = Nodes::start(&args);
    let addr = nodes.addrs[0];
    let addrs = nodes.addrs.clone();
    let password = nodes.password.clone();
    let rss_idle = nodes.rss_peak_kib();
    let cookie = login(addr, &password).await;
    if let Some(cmd) = &args.after_login {
        let status = Command::new("sh").arg("-c").arg(cmd).status();
        if !status.as_ref().is_ok_and(|s| s.success()) {
            nodes.stop();
            eprintln!("--after-login command failed: {status:?}");
            std::process::exit(1);
        }
    }

    // Peak memory of start-up and the one interactive login (its Argon2 hash alone is 46 MiB, mapped and
    // unmapped again), then reset the high-water mark so the figure below is the peak of the flows alone.
    let rss_setup = nodes.rss_peak_kib();
    let reset = nodes.clear_refs();
    let cpu_before = nodes.cpu_seconds();
    let db_before = database_cpu_seconds();
    let own_before = cpu_seconds(std::process::id());
    let machine_before = machine_cpu();

    if args.split {
        // (The phases load node 0 alone.)
        split_phases(&args, addr, &cookie).await;
        let rss_peak = nodes.rss_peak_kib();
        nodes.stop();
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
        let pids = nodes.pids();
        Some(tokio::spawn(async move {
            tokio::time::sleep_until(counted_from.into()).await;
            (
                pids.into_iter().map(cpu_seconds).sum::<Option<f64>>(),
                cpu_seconds(std::process::id()),
                machine_cpu(),
                database_cpu_seconds(),
            )
        }))
    };
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (cookie, next, flows, rate) = (cookie.clone(), next.clone(), args.flows, args.rate);
        let addrs = addrs.clone();
        workers.push(tokio::spawn(async move {
            // One keep-alive connection to each node; flow i goes to nodes i, i+1 and i+2 (modulo their
            // number) for its three steps.
            let mut conns: Vec<Conn> = addrs.iter().map(|a| Conn::new(*a)).collect();
            let n = conns.len();
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
                let Some((code, v)) = authorize(&mut conns[i % n], &cookie).await else {
                    local.errors += 1;
                    continue;
                };
                let t1 = Instant::now();
                let Some(at) = exchange(&mut conns[(i + 1) % n], &code, &v).await else {
                    local.errors += 1;
                    continue;
                };
                let t2 = Instant::now();
                if !userinfo(&mut conns[(i + 2) % n], &at).await {
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
    let rss_peak = nodes.rss_peak_kib();
    let (cpu_before, own_before, machine_before, db_before) = match cpu_at_start {
        Some(t) => t.await.unwrap_or((None, None, None, None)),
        None => (cpu_before, own_before, machine_before, db_before),
    };
    let cpu = nodes.cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    let db = database_cpu_seconds()
        .zip(db_before)
        .map(|(a, b)| a - b)
        .filter(|_| args.database_url.is_some());
    let own = cpu_seconds(std::process::id())
        .zip(own_before)
        .map(|(a, b)| a - b);
    let machine = machine_cpu().zip(machine_before).map(|(a, b)| a - b);
    nodes.stop();
    let n = s.flow.len();
    match &args.database_url {
        Some(_) => println!(
            "{} provider node(s) on one PostgreSQL database; each flow's steps spread over them",
            args.nodes
        ),
        None => println!("one provider node on SQLite"),
    }
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
        let per_flow = |s: f64| s * 1e3 / n.max(1) as f64;
        match db {
            Some(db) => println!(
                "CPU per flow            provider {:.3} ms + database {:.3} ms = {:.3} ms (database: every `postgres` process)",
                per_flow(cpu),
                per_flow(db),
                per_flow(cpu + db)
            ),
            None => println!("CPU per flow            provider {:.3} ms", per_flow(cpu)),
        }
        if let Some(m) = machine {
            // What else ran on the machine meanwhile (other processes, and interrupt time, which includes the
            // loopback traffic's own softirq work) and what the hypervisor took: on a shared VM these tell a run
            // that fell behind because of the provider from one that fell behind because of the machine.
            println!(
                "machine CPU             other processes and interrupts {:.1} s, stolen by the hypervisor {:.1} s ({} CPUs)",
                (m.busy - cpu - own - db.unwrap_or(0.0)).max(0.0),
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
pub(crate) async fn due(
    started: Instant,
    i: usize,
    rate: Option<f64>,
    deadline: Instant,
) -> Option<Instant> {
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
