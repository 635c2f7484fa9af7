//! Issue 22, item 3: secrets at rest, driven through the real binary. The data directory is 0700 and every
//! database file 0600; the database files alone reveal no private key and no secret (all are sealed under the
//! key-encryption key file, itself 0600); `kek rotate` re-seals them under a new key; a provider given the
//! wrong key, or a key file others can read, refuses to start.
//!
//! Must not: touch anything outside its temporary data directories.

#[path = "../../../crates/op/tests/common/mod.rs"]
mod common;
mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::free_port;
use support::spawn;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every byte of the SQLite files (database, WAL, shared memory).
fn database_bytes(data: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for f in ["portcullis.db", "portcullis.db-wal", "portcullis.db-shm"] {
        if let Ok(b) = std::fs::read(data.join(f)) {
            all.extend(b);
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Runs a subcommand to completion.
fn run(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis-provider"))
        .env("PORTCULLIS_DATA_DIR", data)
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_CONFIG")
        .env_remove("PORTCULLIS_KEK")
        .args(args)
        .output()
        .unwrap()
}

/// Starts the server and expects it to exit with an error within 30 s; returns its stderr.
fn refused_start(data: &Path, port: u16) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis-provider"))
        .env("PORTCULLIS_DATA_DIR", data)
        .env("PORTCULLIS_LISTEN", format!("127.0.0.1:{port}"))
        .env("PORTCULLIS_ISSUER", format!("http://127.0.0.1:{port}"))
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env_remove("PORTCULLIS_CONFIG")
        .env_remove("PORTCULLIS_KEK")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success());
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the provider started when it should have refused");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn jwks(port: u16) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::get(format!("http://127.0.0.1:{port}/jwks"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    })
}

#[test]
fn secrets_are_sealed_at_rest_and_the_key_rotates() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let port = free_port();
    let first = spawn(&data, port);
    let password = first
        .stdout
        .iter()
        .find_map(|l| l.trim().strip_prefix("demo user:"))
        .and_then(|r| r.trim().rsplit(" / ").next())
        .unwrap()
        .to_owned();
    let published = jwks(port);
    // Files: the directory 0700, the database files and the key file 0600.
    assert_eq!(mode(&data), 0o700);
    for f in [
        "portcullis.db",
        "portcullis.db-wal",
        "portcullis.db-shm",
        "portcullis.kek",
    ] {
        let p = data.join(f);
        assert!(p.exists(), "{f}");
        assert_eq!(mode(&p), 0o600, "{f}");
    }
    drop(first);
    // The database files alone: no private JWK member, no JWK at all, no demo password; sealed values.
    let bytes = database_bytes(&data);
    assert!(contains(&bytes, "kek1."), "sealed values present");
    for leak in ["\"d\":\"", "\"kty\"", "\"p\":\"", password.as_str()] {
        assert!(
            !contains(&bytes, leak),
            "{leak} found in the database files"
        );
    }

    // Rotation: a new key file (still 0600), and the provider serves the same keys.
    let before = std::fs::read_to_string(data.join("portcullis.kek")).unwrap();
    let out = run(&data, &["kek", "rotate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = std::fs::read_to_string(data.join("portcullis.kek")).unwrap();
    assert_ne!(before, after);
    assert_eq!(mode(&data.join("portcullis.kek")), 0o600);
    assert!(!data.join("portcullis.kek.new").exists());
    let second = spawn(&data, port);
    assert_eq!(
        jwks(port),
        published,
        "same signing keys after the rotation"
    );
    drop(second);

    // The old key no longer opens anything: the provider refuses to start with it.
    std::fs::write(data.join("portcullis.kek"), &before).unwrap();
    let err = refused_start(&data, port);
    assert!(err.contains("sealed under key-encryption key"), "{err}");
    // A key file others can read is refused.
    std::fs::write(data.join("portcullis.kek"), &after).unwrap();
    std::fs::set_permissions(
        data.join("portcullis.kek"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let err = refused_start(&data, port);
    assert!(err.contains("readable by other users"), "{err}");
    std::fs::set_permissions(
        data.join("portcullis.kek"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let third = spawn(&data, port);
    assert_eq!(jwks(port), published);
    drop(third);
}

/// A data directory an earlier version created world-readable is narrowed at start.
#[test]
fn existing_data_directory_is_narrowed() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let p = spawn(&data, port);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("portcullis.db")), 0o600);
    drop(p);
}
