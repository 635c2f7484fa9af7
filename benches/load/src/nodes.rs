//! The providers under load: one `portcullis-provider` on a fresh SQLite data directory (the default), or
//! `--nodes N` of them on one PostgreSQL database (`--database-url`), sharing only the database, a
//! key-encryption key generated for the run and the issuer — as several nodes behind a load balancer. Node *i*
//! listens on `127.0.0.1:(port + i)`. Also the CPU time of the database server's processes, so that a figure
//! per flow on PostgreSQL counts the database's work too.
//!
//! Must not: start a provider anywhere but on loopback, reuse a data directory, or leave a process running
//! (the nodes are killed when dropped).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::*;

/// The running nodes.
pub(crate) struct Nodes {
    children: Vec<Child>,
    /// Their addresses, node 0 first.
    pub(crate) addrs: Vec<SocketAddr>,
    /// The demo user's password (printed by node 0 at first start).
    pub(crate) password: String,
    _dir: tempfile::TempDir,
}

impl Nodes {
    /// Starts the nodes `args` asks for, one after the other (node 0 creates the schema and the demo user).
    pub(crate) fn start(args: &Args) -> Nodes {
        if args.nodes > 1 && args.database_url.is_none() {
            eprintln!(
                "--nodes above 1 needs --database-url: SQLite nodes would not share their data"
            );
            std::process::exit(2);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let kek = Command::new(&args.provider)
            .args(["kek", "generate"])
            .output()
            .expect(
                "start the provider (build it with cargo build --release -p portcullis-provider)",
            );
        let kek = String::from_utf8(kek.stdout).expect("a key-encryption key");
        let issuer = format!("http://127.0.0.1:{}", args.port);
        let mut nodes = Nodes {
            children: Vec::new(),
            addrs: Vec::new(),
            password: String::new(),
            _dir: dir,
        };
        for i in 0..args.nodes {
            let port = args
                .port
                .checked_add(i)
                .expect("--port + --nodes fit a port");
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let mut cmd = Command::new(&args.provider);
            cmd.env(
                "PORTCULLIS_DATA_DIR",
                nodes._dir.path().join(format!("node-{i}")),
            )
            .env("PORTCULLIS_LISTEN", addr.to_string())
            .env("PORTCULLIS_ISSUER", &issuer)
            .env("PORTCULLIS_KEK", kek.trim())
            .env_remove("PORTCULLIS_CONFIG")
            .env_remove("PORTCULLIS_PASSWORD")
            .stdout(Stdio::piped());
            match &args.database_url {
                Some(url) => cmd.env("PORTCULLIS_DATABASE_URL", url),
                None => cmd.env_remove("PORTCULLIS_DATABASE_URL"),
            };
            let mut child = cmd.spawn().expect("start the provider");
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let mut line = String::new();
                if out.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                // (Later nodes find the demo user made and print no password.)
                if let Some(r) = line.trim().strip_prefix("demo user:").filter(|_| i == 0) {
                    nodes.password = r.trim().rsplit(" / ").next().unwrap_or("").to_owned();
                }
                if line.contains("curl -s") {
                    break;
                }
            }
            nodes.children.push(child);
            nodes.addrs.push(addr);
        }
        assert!(
            !nodes.password.is_empty(),
            "demo credentials printed (is the database fresh?)"
        );
        nodes
    }

    /// Process ids, node 0 first.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// User + system CPU seconds of all nodes.
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        self.pids().into_iter().map(cpu_seconds).sum()
    }

    /// The highest peak RSS (VmHWM) of the nodes.
    pub(crate) fn rss_peak_kib(&self) -> Option<u64> {
        self.pids().into_iter().filter_map(rss_peak_kib).max()
    }

    /// Resets every node's VmHWM; whether all could be.
    pub(crate) fn clear_refs(&self) -> bool {
        self.pids()
            .into_iter()
            .all(|pid| std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok())
    }

    /// Kills the nodes.
    pub(crate) fn stop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.stop();
    }
}

/// User + system CPU seconds of every process named `postgres` (the server, its helpers and backends), or
/// `None` when there is none. A backend that exits during the load takes its time with it, so this is a lower
/// bound; the nodes keep their pooled connections open, so it is close.
pub(crate) fn database_cpu_seconds() -> Option<f64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let is_pg = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim() == "postgres");
        if is_pg && let Some(s) = cpu_seconds(pid) {
            *total.get_or_insert(0.0) += s;
        }
    }
    total
}
