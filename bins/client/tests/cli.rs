//! The `portcullis-client` JOSE verbs, run as a user would: exit status, stdout and stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portcullis-client"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("portcullis-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn file(&self, name: &str, content: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p.to_str().unwrap().to_owned()
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Generates a key and its public set in `dir`; returns (key path, jwks path).
fn keypair(dir: &Dir, alg: &str) -> (String, String) {
    let g = run(&["jwk", "generate", "--alg", alg, "--kid", "k-1"]);
    assert!(g.status.success(), "{}", stderr(&g));
    let key = dir.file("key.json", &stdout(&g));
    let p = run(&["jwk", "public", &key]);
    assert!(p.status.success());
    let jwks = dir.file("jwks.json", &stdout(&p));
    (key, jwks)
}

fn sign(dir: &Dir, key: &str, claims: Value) -> String {
    let claims = dir.file("claims.json", &claims.to_string());
    let s = run(&["jwt", "sign", "--key", key, &claims]);
    assert!(s.status.success(), "{}", stderr(&s));
    stdout(&s).trim().to_owned()
}

#[test]
fn generate_public_thumbprint() {
    let dir = Dir::new("gen");
    for alg in ["ES256", "RS256", "PS256", "EdDSA"] {
        let (key, jwks) = keypair(&dir, alg);
        let private: Value = serde_json::from_str(&std::fs::read_to_string(&key).unwrap()).unwrap();
        assert_eq!(private["kid"], "k-1");
        assert!(private.get("d").is_some());
        let public: Value = serde_json::from_str(&std::fs::read_to_string(&jwks).unwrap()).unwrap();
        assert!(
            public["keys"][0].get("d").is_none(),
            "{alg}: public set leaks d"
        );
        let t1 = run(&["jwk", "thumbprint", &key]);
        let t2 = run(&["jwk", "thumbprint", &jwks]);
        assert!(t1.status.success());
        assert_eq!(stdout(&t1), stdout(&t2));
        assert_eq!(stdout(&t1).trim().len(), 43);
    }
}

#[test]
fn sign_then_verify_prints_header_and_claims() {
    let dir = Dir::new("verify");
    let (key, jwks) = keypair(&dir, "ES256");
    let token = sign(
        &dir,
        &key,
        serde_json::json!({"iss": "https://op", "aud": "rp", "sub": "alice", "exp": now() + 300}),
    );
    let v = run(&[
        "jwt",
        "verify",
        "--jwks",
        &jwks,
        "--alg",
        "ES256",
        "--iss",
        "https://op",
        "--aud",
        "rp",
        &token,
    ]);
    assert!(v.status.success(), "{}", stderr(&v));
    let out: Value = serde_json::from_str(&stdout(&v)).unwrap();
    assert_eq!(out["header"]["alg"], "ES256");
    assert_eq!(out["header"]["kid"], "k-1");
    assert_eq!(out["claims"]["sub"], "alice");
    // From stdin.
    let v = run_stdin(
        &["jwt", "verify", "--jwks", &jwks, "-"],
        &format!("{token}\n"),
    );
    assert!(v.status.success(), "{}", stderr(&v));
}

#[test]
fn rejections_exit_1_with_one_line() {
    let dir = Dir::new("reject");
    let (key, jwks) = keypair(&dir, "ES256");
    let token = sign(
        &dir,
        &key,
        serde_json::json!({"iss": "https://op", "aud": "rp", "exp": now() + 300}),
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--aud", "other"], "error: audience mismatch"),
        (vec!["--iss", "https://evil"], "error: issuer mismatch"),
        (
            vec!["--alg", "RS256"],
            "error: algorithm ES256 is not allowed here",
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec!["jwt", "verify", "--jwks", &jwks];
        args.extend(extra);
        args.push(&token);
        let v = run(&args);
        assert_eq!(v.status.code(), Some(1));
        assert_eq!(stderr(&v).trim(), message);
        assert!(stdout(&v).is_empty());
    }
    let expired = sign(&dir, &key, serde_json::json!({"exp": now() - 3600}));
    let v = run(&["jwt", "verify", "--jwks", &jwks, &expired]);
    assert_eq!(
        (v.status.code(), stderr(&v).trim()),
        (Some(1), "error: the token has expired")
    );
    let v = run(&[
        "jwt",
        "verify",
        "--jwks",
        &jwks,
        "--no-time-check",
        &expired,
    ]);
    assert!(v.status.success());
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    let v = run(&["jwt", "verify", "--jwks", &jwks, &tampered]);
    assert_eq!(v.status.code(), Some(1));
    assert_eq!(stderr(&v).lines().count(), 1);
}

#[test]
fn unusable_arguments_or_files_exit_2() {
    let dir = Dir::new("usage");
    let missing = dir.path("missing.json");
    assert_eq!(
        run(&["jwt", "verify", "--jwks", &missing, "x.y.z"])
            .status
            .code(),
        Some(2)
    );
    let garbage = dir.file("garbage.json", "not json");
    assert_eq!(
        run(&["jwt", "verify", "--jwks", &garbage, "x.y.z"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&[
            "jwt", "verify", "--jwks", &garbage, "--alg", "none", "x.y.z"
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        run(&["jwk", "generate", "--alg", "ES512"]).status.code(),
        Some(2)
    );
    assert_eq!(run(&["jwt", "sign"]).status.code(), Some(2));
    let (_, jwks) = keypair(&dir, "ES256");
    let claims = dir.file("c.json", "{}");
    assert_eq!(
        run(&["jwt", "sign", "--key", &jwks, &claims]).status.code(),
        Some(2)
    );
}

#[test]
fn decode_warns_and_does_not_verify() {
    let dir = Dir::new("decode");
    let (key, _) = keypair(&dir, "EdDSA");
    let token = sign(&dir, &key, serde_json::json!({"sub": "bob"}));
    let d = run(&["jwt", "decode", &token]);
    assert!(d.status.success());
    assert!(stderr(&d).contains("NOT verified"));
    let out: Value = serde_json::from_str(&stdout(&d)).unwrap();
    assert_eq!(out["claims"]["sub"], "bob");
    assert_eq!(run(&["jwt", "decode", "a.b"]).status.code(), Some(1));
}

#[test]
fn signs_with_pkcs8_pem_and_hmac_keys() {
    let dir = Dir::new("pem");
    // A PEM written by the library.
    let jwk = portcullis_jose::Jwk::generate(portcullis_jose::Algorithm::Es384).unwrap();
    let pem = dir.file("key.pem", &jwk.to_pkcs8_pem().unwrap());
    let jwks = dir.file(
        "jwks.json",
        &portcullis_jose::JwkSet::new(vec![jwk.to_public().unwrap()]).to_json(),
    );
    let token = sign(&dir, &pem, serde_json::json!({"exp": now() + 60}));
    assert!(
        run(&["jwt", "verify", "--jwks", &jwks, &token])
            .status
            .success()
    );
    // An oct key is an HMAC secret, used only when HS256 is named.
    let g = run(&["jwk", "generate", "--alg", "HS256"]);
    let oct = dir.file("oct.json", &stdout(&g));
    let token = sign(&dir, &oct, serde_json::json!({"exp": now() + 60}));
    assert_eq!(
        run(&["jwt", "verify", "--jwks", &oct, &token])
            .status
            .code(),
        Some(1)
    );
    assert!(
        run(&["jwt", "verify", "--jwks", &oct, "--alg", "HS256", &token])
            .status
            .success()
    );
}

#[test]
fn demo_runs() {
    let d = run(&["demo"]);
    assert!(d.status.success(), "{}", stderr(&d));
    assert!(stdout(&d).contains("verified claims"));
    assert!(Path::new(env!("CARGO_BIN_EXE_portcullis-client")).exists());
}
