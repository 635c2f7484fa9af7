//! End to end: the real `portcullis-provider` (fresh data dir) and the real `portcullis-client login`, the
//! provider's login and consent forms filled by a scripted user agent. Code + PKCE (public and
//! client_secret_basic), implicit, hybrid, form_post, JARM, PAR with private_key_jwt and a request object — and
//! the refusals: a response from another issuer, a wrong client secret; stray callbacks (another `state`)
//! ignored until the real one; a random loopback port for native clients.

mod support;

use portcullis_jose::{Algorithm, Jwk};
use serde_json::{Value, json};
use support::*;

const ALL_RESPONSE_TYPES: [&str; 6] = [
    "code",
    "id_token",
    "id_token token",
    "code id_token",
    "code token",
    "code id_token token",
];

fn metadata(port: u16, auth: &str) -> Value {
    json!({
        "redirect_uris": [format!("http://127.0.0.1:{port}/callback")],
        "response_types": ALL_RESPONSE_TYPES,
        "grant_types": ["authorization_code", "refresh_token", "implicit"],
        "token_endpoint_auth_method": auth,
        "scope": "openid profile email offline_access",
    })
}

/// Runs one `portcullis-client login` against the provider; `tamper` may rewrite the provider's final redirect.
async fn login(
    p: &Provider,
    port: u16,
    args: &[&str],
    tamper: impl FnOnce(Outcome) -> Outcome,
) -> (i32, String, String) {
    let port_s = port.to_string();
    let mut all = vec![
        "login",
        "--issuer",
        &p.issuer,
        "--port",
        &port_s,
        "--no-browser",
        "--timeout",
        "60",
    ];
    all.extend_from_slice(args);
    let mut client = ClientProc::spawn(&all);
    let url = client.authorization_url();
    let mut browser = Browser::new();
    let outcome = browser.sign_in(&p.issuer, &url, "demo", &p.password).await;
    let (status, page) = browser.deliver(tamper(outcome)).await;
    assert!(status == 200 || status == 400, "{status} {page}");
    client.finish()
}

fn claims(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn assert_demo_user(out: &Value, issuer: &str, client_id: &str) {
    let c = &out["id_token_claims"];
    assert_eq!(c["iss"], issuer);
    assert_eq!(c["aud"], client_id);
    assert!(c["sub"].as_str().is_some_and(|s| !s.is_empty()), "{out}");
    let u = &out["userinfo"];
    assert_eq!(u["sub"], c["sub"], "{out}");
    assert_eq!(u["name"], "Dee Mo", "{out}");
    assert_eq!(u["email"], "demo@portcullis.example", "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_flow_with_pkce_public_and_secret_clients() {
    let port = free_port();
    let (p, secrets) = Provider::start(&[
        ("e2e-public", metadata(port, "none")),
        ("e2e-basic", metadata(port, "client_secret_basic")),
        ("e2e-post", metadata(port, "client_secret_post")),
        ("e2e-jwt", metadata(port, "client_secret_jwt")),
    ]);

    let (code, out, err) = login(&p, port, &["--client-id", "e2e-public"], |o| o).await;
    assert_eq!(code, 0, "{err}");
    let out = claims(&out);
    assert_demo_user(&out, &p.issuer, "e2e-public");

    let secret = secrets[1].clone().expect("secret printed");
    let (code, out, err) = login(
        &p,
        port,
        &[
            "--client-id",
            "e2e-basic",
            "--client-secret",
            &secret,
            "--scope",
            "profile email offline_access",
            "--show-tokens",
        ],
        |o| o,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let out = claims(&out);
    assert_demo_user(&out, &p.issuer, "e2e-basic");
    assert!(out["refresh_token"].as_str().is_some(), "{out}");

    let secret = secrets[2].clone().expect("secret printed");
    let (code, out, err) = login(
        &p,
        port,
        &[
            "--client-id",
            "e2e-post",
            "--client-secret",
            &secret,
            "--auth",
            "post",
        ],
        |o| o,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_demo_user(&claims(&out), &p.issuer, "e2e-post");

    // client_secret_jwt: the provider prints a 64-byte secret once and keeps it sealed; the client signs an
    // HS256 assertion with it.
    let secret = secrets[3].clone().expect("secret printed");
    let (code, out, err) = login(
        &p,
        port,
        &[
            "--client-id",
            "e2e-jwt",
            "--client-secret",
            &secret,
            "--auth",
            "jwt",
        ],
        |o| o,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_demo_user(&claims(&out), &p.issuer, "e2e-jwt");
    // The same secret sent as client_secret_basic is refused: only the registered method authenticates.
    let (code, _, err) = login(
        &p,
        port,
        &["--client-id", "e2e-jwt", "--client-secret", &secret],
        |o| o,
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("invalid_client"), "{err}");

    // A wrong secret: the token endpoint refuses, the client exits 1 with the reason.
    let (code, out, err) = login(
        &p,
        port,
        &[
            "--client-id",
            "e2e-basic",
            "--client-secret",
            "not-the-secret",
        ],
        |o| o,
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("invalid_client"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_and_hybrid_flows() {
    let port = free_port();
    let (p, _) = Provider::start(&[("e2e-public", metadata(port, "none"))]);
    for rt in [
        "id_token token",
        "code id_token",
        "code token",
        "code id_token token",
    ] {
        let (code, out, err) = login(
            &p,
            port,
            &["--client-id", "e2e-public", "--response-type", rt],
            |o| {
                assert!(
                    matches!(&o, Outcome::Redirect(l) if l.contains('#')),
                    "{o:?}"
                );
                o
            },
        )
        .await;
        assert_eq!(code, 0, "{rt}: {err}");
        assert_demo_user(&claims(&out), &p.issuer, "e2e-public");
    }
    // id_token alone: no access token, so no UserInfo; the verified claims are still printed.
    let (code, out, err) = login(
        &p,
        port,
        &["--client-id", "e2e-public", "--response-type", "id_token"],
        |o| o,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let out = claims(&out);
    assert_eq!(out["id_token_claims"]["aud"], "e2e-public");
    assert!(out["userinfo"].is_null());
    // Hybrid through form_post.
    let (code, out, err) = login(
        &p,
        port,
        &[
            "--client-id",
            "e2e-public",
            "--response-type",
            "code id_token",
            "--response-mode",
            "form_post",
        ],
        |o| {
            assert!(matches!(o, Outcome::FormPost(..)), "{o:?}");
            o
        },
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_demo_user(&claims(&out), &p.issuer, "e2e-public");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jarm_par_private_key_jwt_and_request_object() {
    let port = free_port();
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let mut m = metadata(port, "private_key_jwt");
    m["jwks"] = json!({"keys": [Value::Object(key.to_public().unwrap().to_map())]});
    let (p, _) = Provider::start(&[("e2e-public", metadata(port, "none")), ("e2e-pkjwt", m)]);
    let key_file = p.dir.path().join("client-key.json");
    std::fs::write(&key_file, key.to_json()).unwrap();
    let key_path = key_file.to_str().unwrap();

    for mode in ["jwt", "query.jwt", "form_post.jwt"] {
        let (code, out, err) = login(
            &p,
            port,
            &["--client-id", "e2e-public", "--response-mode", mode],
            |o| o,
        )
        .await;
        assert_eq!(code, 0, "{mode}: {err}");
        assert_demo_user(&claims(&out), &p.issuer, "e2e-public");
    }
    let (code, out, err) = login(
        &p,
        port,
        &["--client-id", "e2e-pkjwt", "--key", key_path, "--par"],
        |o| o,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_demo_user(&claims(&out), &p.issuer, "e2e-pkjwt");
    let (code, out, err) = login(
        &p,
        port,
        &[
            "--client-id",
            "e2e-pkjwt",
            "--key",
            key_path,
            "--request-object",
            "--par",
        ],
        |o| o,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_demo_user(&claims(&out), &p.issuer, "e2e-pkjwt");
    let (code, out, err) = login(
        &p,
        port,
        &[
            "--client-id",
            "e2e-pkjwt",
            "--key",
            key_path,
            "--request-object",
        ],
        |o| o,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_demo_user(&claims(&out), &p.issuer, "e2e-pkjwt");
}

fn rewrite(o: Outcome, name: &str, value: &str) -> Outcome {
    let Outcome::Redirect(l) = o else {
        panic!("expected a redirect")
    };
    let (base, q) = l.split_once('?').unwrap();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .map(|(k, v)| {
            if k == name {
                (k, value.to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        s.append_pair(k, v);
    }
    Outcome::Redirect(format!("{base}?{}", s.finish()))
}

/// Runs one `portcullis-client login` whose callback first receives `stray` (a request that is not the login's
/// answer): the listener answers it 400 and keeps waiting, and the real answer then completes the login.
async fn login_after_stray(
    p: &Provider,
    port: u16,
    stray: impl FnOnce(&Outcome) -> Outcome,
) -> (i32, String, String) {
    let port_s = port.to_string();
    let mut client = ClientProc::spawn(&[
        "login",
        "--issuer",
        &p.issuer,
        "--port",
        &port_s,
        "--no-browser",
        "--timeout",
        "60",
        "--client-id",
        "e2e-public",
    ]);
    let url = client.authorization_url();
    let mut browser = Browser::new();
    let outcome = browser.sign_in(&p.issuer, &url, "demo", &p.password).await;
    let (status, page) = browser.deliver(stray(&outcome)).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not for the login in progress"), "{page}");
    let (status, page) = browser.deliver(outcome).await;
    assert_eq!(status, 200, "{page}");
    client.finish()
}

fn same(o: &Outcome) -> Outcome {
    match o {
        Outcome::Redirect(l) => Outcome::Redirect(l.clone()),
        Outcome::FormPost(a, f) => Outcome::FormPost(a.clone(), f.clone()),
    }
}

/// Issue 22, item 14: requests to the loopback callback that are not this login's answer — another `state`,
/// none, a malformed query — are ignored, and the login completes when the real answer comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stray_callbacks_are_ignored_until_the_real_one() {
    let port = free_port();
    let (p, _) = Provider::start(&[("e2e-public", metadata(port, "none"))]);
    type Stray = fn(&Outcome) -> Outcome;
    let strays: [(&str, Stray); 3] = [
        ("another state", |o| {
            rewrite(same(o), "state", "forged-state")
        }),
        ("no state", |o| {
            let Outcome::Redirect(l) = o else {
                panic!("expected a redirect")
            };
            Outcome::Redirect(format!("{}?code=x", l.split('?').next().unwrap()))
        }),
        ("a duplicated parameter", |o| {
            let Outcome::Redirect(l) = o else {
                panic!("expected a redirect")
            };
            Outcome::Redirect(format!("{l}&state=second"))
        }),
    ];
    for (what, stray) in strays {
        let (code, out, err) = login_after_stray(&p, port, stray).await;
        assert_eq!(code, 0, "{what}: {err}");
        assert_demo_user(&claims(&out), &p.issuer, "e2e-public");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_callbacks_fail_with_one_line_reasons() {
    let port = free_port();
    let (p, _) = Provider::start(&[("e2e-public", metadata(port, "none"))]);
    // Mix-up: the response claims another issuer (RFC 9207).
    let (code, _, err) = login(&p, port, &["--client-id", "e2e-public"], |o| {
        rewrite(o, "iss", "https://attacker.example")
    })
    .await;
    assert_eq!(code, 1);
    assert!(err.lines().last().unwrap().contains("iss"), "{err}");

    // A code that is not the one issued.
    let (code, _, err) = login(&p, port, &["--client-id", "e2e-public"], |o| {
        rewrite(o, "code", "made-up-code")
    })
    .await;
    assert_eq!(code, 1);
    assert!(
        err.lines().last().unwrap().contains("invalid_grant"),
        "{err}"
    );
}

/// RFC 8252 §7.3: by default `login` listens on a random free port, and a native client registered with a
/// port-less loopback redirect URI accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_uses_a_random_port_for_native_clients() {
    let (p, _) = Provider::start(&[(
        "e2e-native",
        json!({"redirect_uris": ["http://127.0.0.1/callback"], "token_endpoint_auth_method": "none",
               "application_type": "native", "scope": "openid profile email"}),
    )]);
    let mut client = ClientProc::spawn(&[
        "login",
        "--issuer",
        &p.issuer,
        "--no-browser",
        "--timeout",
        "60",
        "--client-id",
        "e2e-native",
    ]);
    let url = client.authorization_url();
    let query = url.split_once('?').unwrap().1;
    let redirect = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let port: u16 = redirect
        .strip_prefix("http://127.0.0.1:")
        .and_then(|r| r.strip_suffix("/callback"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{redirect}"));
    assert_ne!(port, 8081, "{redirect}");
    let mut browser = Browser::new();
    let outcome = browser.sign_in(&p.issuer, &url, "demo", &p.password).await;
    let (status, page) = browser.deliver(outcome).await;
    assert_eq!(status, 200, "{page}");
    let (code, out, err) = client.finish();
    assert_eq!(code, 0, "{err}");
    assert_demo_user(&claims(&out), &p.issuer, "e2e-native");
}

#[test]
fn discover_prints_validated_metadata_and_refuses_a_mismatched_issuer() {
    let (p, _) = Provider::start(&[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis-client"))
        .args(["discover", &p.issuer])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["issuer"], p.issuer);
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);

    // The same server under another name: its document names a different issuer.
    let other = p.issuer.replace("127.0.0.1", "localhost");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis-client"))
        .args(["discover", &other])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("issuer"), "{err}");
}

/// Issue 22, item 15: the demo RP (`portcullis-client serve`) never keeps a session id the browser brought:
/// a planted cookie is replaced when the login starts, and the id changes again when the user is signed in;
/// the planted id never becomes a signed-in session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_rp_issues_fresh_session_ids_at_login() {
    let rp_port = free_port();
    let (p, _) = Provider::start(&[(
        "demo-rp",
        json!({"redirect_uris": [format!("http://127.0.0.1:{rp_port}/callback")],
               "token_endpoint_auth_method": "none", "scope": "openid profile email"}),
    )]);
    let port_s = rp_port.to_string();
    let _serve = ClientProc::spawn(&[
        "serve",
        "--issuer",
        &p.issuer,
        "--client-id",
        "demo-rp",
        "--port",
        &port_s,
    ]);
    let rp = format!("http://127.0.0.1:{rp_port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", rp_port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "demo RP did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let planted = "A".repeat(43);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let set_cookie = |r: &reqwest::Response| {
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .strip_prefix("portcullis_rp=")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    let r = http
        .post(format!("{rp}/login"))
        .header("cookie", format!("portcullis_rp={planted}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "issuer={}",
            p.issuer.replace(':', "%3A").replace('/', "%2F")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let started = set_cookie(&r);
    assert_ne!(started, planted, "the planted id is not reused");
    let url = r.headers()["location"].to_str().unwrap().to_owned();
    let mut browser = Browser::new();
    let Outcome::Redirect(back) = browser.sign_in(&p.issuer, &url, "demo", &p.password).await
    else {
        panic!("expected a redirect")
    };
    let r = http
        .get(&back)
        .header("cookie", format!("portcullis_rp={started}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let signed_in = set_cookie(&r);
    assert_ne!(signed_in, started);
    assert_ne!(signed_in, planted);
    let page = |sid: String| {
        let http = http.clone();
        let rp = rp.clone();
        async move {
            http.get(format!("{rp}/"))
                .header("cookie", format!("portcullis_rp={sid}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(page(signed_in).await.contains("Dee Mo"));
    for old in [planted, started] {
        assert!(!page(old).await.contains("Dee Mo"));
    }
}
