//! Issue 22, item 7: slow clients. 1,000 connections that trickle a header block or a body at one byte a second,
//! or connect and say nothing, or go quiet after a request, must not starve normal clients, and the provider
//! closes each of them after `READ_TIMEOUT`.
//!
//! Must not: change the provider or weaken what another test proves.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// How the slow connections misbehave.
#[derive(Clone, Copy, Debug)]
enum Slow {
    /// A header block that never ends.
    Header,
    /// A declared body that arrives a byte a second.
    Body,
    /// Nothing at all after connecting.
    Silent,
    /// One request answered, then nothing.
    Idle,
}

async fn open(addr: &str, kind: Slow) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let start: &[u8] = match kind {
        Slow::Header => b"GET /jwks HTTP/1.1\r\nHost: op\r\n",
        Slow::Body => b"POST /token HTTP/1.1\r\nHost: op\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\ngrant_type=",
        Slow::Silent => b"",
        Slow::Idle => b"GET /health HTTP/1.1\r\nHost: op\r\n\r\n",
    };
    s.write_all(start).await.unwrap();
    if let Slow::Idle = kind {
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "health answered");
    }
    s
}

/// Whether the provider has closed `s` (end of stream, after any answer such as a 408), within `wait`.
async fn closed_by_server(s: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_clients_do_not_starve_normal_ones() {
    let op = Op::sqlite().await;
    let addr = op.base.trim_start_matches("http://").to_owned();
    let kinds = [Slow::Header, Slow::Body, Slow::Silent, Slow::Idle];
    let mut slow = Vec::with_capacity(1000);
    for i in 0..1000 {
        let kind = kinds[i % kinds.len()];
        slow.push((kind, open(&addr, kind).await));
    }
    let opened = Instant::now();
    // The slow ones trickle a byte a second (those that send at all), for a bounded time.
    let trickle = tokio::spawn(async move {
        for _ in 0..14 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            for (kind, s) in slow.iter_mut() {
                let byte: &[u8] = match kind {
                    Slow::Header => b"X",
                    Slow::Body => b"a",
                    Slow::Silent | Slow::Idle => continue,
                };
                let _ = tokio::time::timeout(Duration::from_millis(5), s.write_all(byte)).await;
            }
        }
        slow
    });
    // Meanwhile normal clients, each on a fresh connection, are answered promptly.
    let mut worst = Duration::ZERO;
    for _ in 0..40 {
        let fresh = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let started = Instant::now();
        let r = fresh.get(op.url("/jwks")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.bytes().await.unwrap();
        worst = worst.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        worst < Duration::from_secs(2),
        "a normal client waited {worst:?}"
    );
    // Every slow connection is closed by the provider after READ_TIMEOUT (plus scheduling slack).
    let mut slow = trickle.await.unwrap();
    let limit = portcullis_op::http::READ_TIMEOUT + Duration::from_secs(4);
    let left = limit.saturating_sub(opened.elapsed());
    let mut open_still = Vec::new();
    for (kind, s) in slow.iter_mut() {
        if !closed_by_server(s, left.max(Duration::from_millis(50))).await {
            open_still.push(*kind);
        }
    }
    assert!(
        open_still.is_empty(),
        "{} slow connections still open after {limit:?}: {:?}",
        open_still.len(),
        &open_still[..open_still.len().min(8)]
    );
}

/// At most `max_connections` are served at once: the next client waits (in the listen backlog) until one
/// closes, and is then served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped() {
    let op = Op::start_with(|c| portcullis_op::config::Config {
        max_connections: 16,
        ..c
    })
    .await;
    let addr = op.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(open(&addr, Slow::Silent).await);
    }
    let url = op.url("/health");
    let waiting = tokio::spawn(async move {
        let fresh = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(8))
            .build()
            .unwrap();
        fresh.get(url).send().await.map(|r| r.status())
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiting.is_finished(), "served beyond the cap");
    drop(held.pop());
    let status = tokio::time::timeout(Duration::from_secs(3), waiting)
        .await
        .expect("served once a connection closed")
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK);
}
