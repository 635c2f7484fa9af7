//! Running the real binary in tests: start it on a data directory and read its banner.
//!
//! Must not: leave a process running (a `Proc` kills its child when dropped).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running provider process and the banner it printed.
pub struct Proc {
    pub child: Child,
    pub stdout: Vec<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn(dir: &std::path::Path, port: u16) -> Proc {
    spawn_logging(dir, port, None)
}

/// [`spawn`], with its log (JSON lines, level debug) written to `log` when given.
pub fn spawn_logging(dir: &std::path::Path, port: u16, log: Option<&std::path::Path>) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis-provider"));
    cmd.env("PORTCULLIS_DATA_DIR", dir)
        .env("PORTCULLIS_LISTEN", format!("127.0.0.1:{port}"))
        .env("PORTCULLIS_ISSUER", format!("http://127.0.0.1:{port}"))
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_CONFIG")
        .stdout(Stdio::piped());
    match log {
        Some(path) => {
            cmd.env("PORTCULLIS_LOG", "debug")
                .env("PORTCULLIS_LOG_FORMAT", "json")
                .stderr(std::fs::File::create(path).unwrap());
        }
        None => {
            cmd.stderr(Stdio::inherit());
        }
    }
    let mut child = cmd.spawn().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut stdout = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    // The banner ends with the curl line.
    loop {
        assert!(
            Instant::now() < deadline,
            "provider did not start: {stdout:?}"
        );
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("provider exited: {stdout:?}");
        }
        let done = line.contains("curl -s");
        stdout.push(line.trim_end().to_owned());
        if done {
            break;
        }
    }
    Proc { child, stdout }
}
