//! `--split`: each endpoint measured alone (authorizations, then their token exchanges, then UserInfo), each
//! phase with every connection.
//!
//! Must not: mix the phases (one ends before the next starts).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::*;

/// Runs `job` over `items` from `connections` workers (each with its own keep-alive connection), bounded by
/// `deadline`; returns the successful results, each request's latency (ms), the error count and the elapsed
/// time.
pub(crate) async fn phase<T, R, F, Fut>(
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

pub(crate) async fn split_phases(args: &Args, addr: SocketAddr, cookie: &str) {
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
