//! The command line of `provider-load` (`Args`), and what its values must be.
//!
//! Must not: accept a value the load cannot honour (a negative or infinite warm-up, a warm-up with `--split`).

use std::time::Duration;

use clap::Parser;

#[derive(Parser)]
pub(crate) struct Args {
    /// The provider binary.
    #[arg(long, default_value = "target/release/portcullis-provider")]
    pub(crate) provider: String,
    /// Concurrent workers (each with its own keep-alive connection).
    #[arg(long, default_value_t = 64)]
    pub(crate) connections: usize,
    /// Stop after this many complete flows.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) flows: usize,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 30)]
    pub(crate) seconds: u64,
    /// Open loop: start this many flows per second (spread over the connections) instead of as many as the
    /// provider answers. Latency of a whole flow is then counted from when it was due.
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// Instead of complete flows, measure each endpoint alone: first `--flows` authorizations (codes), then
    /// their token exchanges, then UserInfo with the tokens — each phase with all connections, timed apart.
    /// Codes live 60 s: keep `--flows` to what the provider authorizes in well under that.
    #[arg(long)]
    pub(crate) split: bool,
    /// Seconds at the start of the load that are not counted: flows due in them run, but are left out of the
    /// flow count, the latencies and the CPU times (part of `--seconds`). Not with `--split`.
    #[arg(long, default_value = "0", value_parser = parse_warmup, conflicts_with = "split")]
    pub(crate) warmup: Duration,
    /// Threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// Port (loopback) of the first node; node *i* listens on port + i.
    #[arg(long, default_value_t = 18080)]
    pub(crate) port: u16,
    /// Provider nodes sharing one PostgreSQL database (needs `--database-url`). Each flow goes to three nodes
    /// in turn — authorize on one, token on the next, UserInfo on the one after — as through a load balancer
    /// without sticky sessions.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub(crate) nodes: u16,
    /// A fresh, empty PostgreSQL database for the nodes (`postgres://...`); without it each run gets a fresh
    /// SQLite data directory. `benches/load/postgres.py` makes a throwaway cluster and passes this.
    #[arg(long)]
    pub(crate) database_url: Option<String>,
    /// A shell command run (and waited for) after the login and before the first flow; the load stops if it
    /// fails. `benches/load/instructions.py` zeroes callgrind's counters with it, so that exactly the flows
    /// are counted.
    #[arg(long)]
    pub(crate) after_login: Option<String>,
}

/// `--warmup`: a finite, non-negative number of seconds.
pub(crate) fn parse_warmup(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{e}"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| "a finite, non-negative number of seconds".into())
}

#[cfg(test)]
mod tests {
    use super::*;

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
