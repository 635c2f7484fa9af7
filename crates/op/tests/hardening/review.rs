//! Attacks found by a review of the hardening, each kept as the test of the rule it broke (the back-off under
//! concurrent guesses, IPv6 networks, proxies writing ports; storage caps of every page; the logout page's CSP;
//! pushed requests under concurrency and revisits; slow readers; values in clear sealed at upgrade).
//!
//! Must not: change the provider or weaken what another test proves.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;

use super::earlier::{form, post_raw};
use super::par::{push, visit};
use crate::common::*;

const IP_HEADER: &str = "x-client-ip";

async fn login_page(op: &Op) -> (Browser, String) {
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    match b.authorize(op, &req.query()).await {
        Step::Login(page) => (b, page),
        other => panic!("expected the login page, got {other:?}"),
    }
}

async fn attempt(
    op: &Op,
    b: &Browser,
    page: &str,
    header: (&str, &str),
    user: &str,
    password: &str,
) -> (StatusCode, String) {
    let r = post_raw(
        op,
        "/login",
        b.cookie_header().as_deref(),
        &[header],
        form(page, &[("username", user), ("password", password)]),
    )
    .await;
    let s = r.status();
    (s, r.text().await.unwrap_or_default())
}

/// [`attempt`], tried again while the (process-wide) verification queue is full: other tests of this binary
/// run at the same time.
async fn attempt_retrying(
    op: &Op,
    b: &Browser,
    page: &str,
    header: (&str, &str),
    user: &str,
    password: &str,
) -> (StatusCode, String) {
    for _ in 0..100 {
        let r = attempt(op, b, page, header, user, password).await;
        if r.0 != StatusCode::SERVICE_UNAVAILABLE {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the verification queue stayed full")
}

// ---------------------------------------------------------------------------------------------------------
// 5. Sign-in throttling
// ---------------------------------------------------------------------------------------------------------

/// The attack: guesses for one account sent all at once from one address. Each is counted before it is
/// verified, so no more than PAIR_FREE (3) are verified before the pair must wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_cannot_outrun_the_back_off() {
    let op = Op::start_with(|c| portcullis_op::config::Config {
        client_ip_header: Some(IP_HEADER.into()),
        ..c
    })
    .await;
    let mut pages = Vec::new();
    for _ in 0..8 {
        pages.push(login_page(&op).await);
    }
    let answers = join_all(pages.iter().map(|(b, page)| {
        attempt(
            &op,
            b,
            page,
            (IP_HEADER, "198.51.100.77"),
            "alice",
            "wrong guess",
        )
    }))
    .await;
    let verified = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| s.as_u16()).collect();
    assert!(
        verified as u32 <= portcullis_op::authn::throttle::PAIR_FREE + 1,
        "{verified} concurrent guesses were verified for one account and address: {statuses:?}"
    );
}

/// The attack: one host owning an IPv6 /64 rotates its address to spray one password over many accounts. The
/// address back-off counts the /64: after ADDRESS_FREE failures from it, any address in it waits. (The address
/// comes through client_ip_header, as from a proxy.)
#[tokio::test]
async fn address_back_off_covers_an_ipv6_prefix() {
    let op = Op::start_with(|c| portcullis_op::config::Config {
        client_ip_header: Some(IP_HEADER.into()),
        ..c
    })
    .await;
    let free = portcullis_op::authn::throttle::ADDRESS_FREE;
    // The pages first, so that the attempts follow each other at once.
    let mut pages = Vec::new();
    for _ in 0..free + BACK_OFF_STEPS {
        pages.push(login_page(&op).await);
    }
    let mut pages = pages.into_iter();
    for i in 0..free {
        let (b, page) = pages.next().unwrap();
        let ip = format!("2001:db8:1:1::{:x}", i + 1);
        let (s, _) =
            attempt_retrying(&op, &b, &page, (IP_HEADER, &ip), &format!("user{i}"), "x").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i} from {ip}");
    }
    // The same /64, yet other addresses: after ADDRESS_FREE failures from this network they must wait. The first
    // wait is one second and each further failure doubles it, so a machine slow enough to spend a whole wait
    // between two attempts lets one more through, and the next must wait twice as long.
    let mut waited = false;
    for (k, (b, page)) in pages.enumerate() {
        let ip = format!("2001:db8:1:1::ff{k:02x}");
        let (s, _) = attempt_retrying(
            &op,
            &b,
            &page,
            (IP_HEADER, &ip),
            &format!("someone{k}"),
            "x",
        )
        .await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            waited = true;
            break;
        }
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{ip}");
    }
    assert!(
        waited,
        "a /64 sprayed {} failures without back-off",
        free + BACK_OFF_STEPS
    );
}

/// Attempts made after a back-off starts before one of them must be refused: the back-off (1, 2, then 4
/// seconds) lets an attempt through only when a whole wait passed since the one before it.
const BACK_OFF_STEPS: u32 = 3;

/// A proxy writing `ip:port` (as some cloud load balancers do in X-Forwarded-For) is understood: one
/// attacker's failures do not put every client, all behind the proxy's own address, into one bucket.
#[tokio::test]
async fn unparseable_forwarded_address_does_not_merge_all_clients() {
    let op = Op::start_with(|c| portcullis_op::config::Config {
        client_ip_header: Some("x-forwarded-for".into()),
        ..c
    })
    .await;
    let free = portcullis_op::authn::throttle::ADDRESS_FREE;
    for i in 0..free {
        let (b, page) = login_page(&op).await;
        let (s, _) = attempt_retrying(
            &op,
            &b,
            &page,
            ("x-forwarded-for", "198.51.100.1:40000"),
            &format!("spray{i}"),
            "x",
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // The real user, from another client address, with the right password.
    let (b, page) = login_page(&op).await;
    let (s, body) = attempt_retrying(
        &op,
        &b,
        &page,
        ("x-forwarded-for", "203.0.113.9:51515"),
        "alice",
        PASSWORD,
    )
    .await;
    assert!(
        matches!(s, StatusCode::OK | StatusCode::SEE_OTHER),
        "another client was throttled by the attacker's failures: {s} {}",
        &body[..body.len().min(200)]
    );
}

// ---------------------------------------------------------------------------------------------------------
// 5. 16 KiB cap of stored requests
// ---------------------------------------------------------------------------------------------------------

/// The 16 KiB cap holds for every page that stores a request: a signed-in user's consent page
/// (prompt=consent with a 40 KB `state`) is refused back to the client, not stored.
#[tokio::test]
async fn consent_page_request_is_capped() {
    let op = Op::sqlite().await;
    let mut b = Browser::default();
    let _ = code_flow(&op, &mut b, "bob", "openid").await;
    let big = "s".repeat(40_000);
    let req = AuthReq::new("public", "code", "openid")
        .set("prompt", "consent")
        .set("state", &big);
    match b.authorize(&op, &req.query()).await {
        Step::Consent(page) => {
            let id = hidden(&page, "pending").unwrap();
            let row = op
                .provider
                .store
                .pending(&id, "consent", portcullis_op::now())
                .await
                .unwrap()
                .unwrap();
            assert!(
                row.params.len() <= 16 * 1024,
                "a consent page stored {} bytes",
                row.params.len()
            );
        }
        other => {
            // Refused: fine.
            let _ = other;
        }
    }
}

/// ... and for the logout confirmation: POST /end_session with a 50 KB `state` is refused, not stored.
#[tokio::test]
async fn logout_confirmation_request_is_capped() {
    let op = Op::sqlite().await;
    let mut b = Browser::default();
    let _ = code_flow(&op, &mut b, "bob", "openid").await;
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "public")
        .append_pair("state", &"s".repeat(50_000))
        .finish();
    let r = post_raw(&op, "/end_session", b.cookie_header().as_deref(), &[], body).await;
    if r.status() != StatusCode::OK {
        return; // refused: fine
    }
    let page = r.text().await.unwrap();
    let id = hidden(&page, "pending").expect("confirmation page");
    let row = op
        .provider
        .store
        .pending(&id, "logout", portcullis_op::now())
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.params.len() <= 16 * 1024,
        "a logout confirmation stored {} bytes",
        row.params.len()
    );
}

// ---------------------------------------------------------------------------------------------------------
// 3. /end_session
// ---------------------------------------------------------------------------------------------------------

/// The logout confirmation page allows its form to redirect to the registered post-logout URI's origin
/// (browsers apply `form-action` to the redirect that answers the form), as the consent page does.
#[tokio::test]
async fn logout_confirmation_csp_allows_the_post_logout_redirect() {
    let op = Op::sqlite().await;
    let mut b = Browser::default();
    let _ = code_flow(&op, &mut b, "alice", "openid").await;
    let r = op
        .http
        .get(op.url(
            "/end_session?client_id=public&post_logout_redirect_uri=https%3A%2F%2Frp.example%2Fbye&state=s",
        ))
        .header("cookie", b.cookie_header().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let form_action = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("form-action"))
        .unwrap_or("");
    assert!(
        form_action.contains("https://rp.example"),
        "the confirmation's redirect to https://rp.example/bye is blocked by: {form_action}"
    );
}

/// six concurrent answers of one confirmation form: one signs out, the others are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logout_confirmations_answer_once() {
    let op = Op::sqlite().await;
    let mut b = Browser::default();
    let _ = code_flow(&op, &mut b, "alice", "openid").await;
    let cookie = b.cookie_header().unwrap();
    let page = op
        .http
        .get(op.url("/end_session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let body = form(&page, &[]);
    let rs = join_all((0..6).map(|_| {
        post_raw(
            &op,
            "/end_session/confirm",
            Some(&cookie),
            &[],
            body.clone(),
        )
    }))
    .await;
    let ok = rs.iter().filter(|r| r.status() == StatusCode::OK).count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        rs.iter().map(|r| r.status()).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------------------------
// 4. PAR
// ---------------------------------------------------------------------------------------------------------

/// A pushed request is kept longer at its first visit only: revisiting a request_uri (expires_in 60) cannot
/// keep it alive for ever.
#[tokio::test]
async fn pushed_request_lifetime_does_not_roll_with_visits() {
    let op = Op::sqlite().await;
    let req = AuthReq::new("confidential", "code", "openid");
    let uri = push(&op, &req).await;
    let id = uri
        .strip_prefix(portcullis_oidc::PAR_REQUEST_URI_PREFIX)
        .unwrap()
        .to_owned();
    async fn expiry(op: &Op, id: &str) -> i64 {
        op.provider
            .store
            .pending(id, "par", portcullis_op::now())
            .await
            .unwrap()
            .unwrap()
            .expires_at
    }
    let mut anon = Browser::default();
    assert!(matches!(
        anon.authorize(&op, &visit("confidential", &uri)).await,
        Step::Login(_)
    ));
    let first = expiry(&op, &id).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut other = Browser::default();
    assert!(matches!(
        other.authorize(&op, &visit("confidential", &uri)).await,
        Step::Login(_)
    ));
    let second = expiry(&op, &id).await;
    assert!(
        second <= first,
        "a second visit pushed the request_uri's expiry from {first} to {second}"
    );
}

/// five concurrent completions of one pushed request (a signed-in, consented browser): exactly one
/// code is issued.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_completions_of_a_pushed_request_issue_once() {
    let op = Op::sqlite().await;
    let mut b = Browser::default();
    let first = AuthReq::new("confidential", "code", "openid");
    let uri = push(&op, &first).await;
    let step = b.authorize(&op, &visit("confidential", &uri)).await;
    let cb = b.complete(&op, step, "alice").await.redirect();
    assert!(cb.contains_key("code"));
    let req = AuthReq::new("confidential", "code", "openid");
    let uri = push(&op, &req).await;
    let steps = join_all((0..5).map(|_| {
        let mut b = b.clone();
        let q = visit("confidential", &uri);
        let op = &op;
        async move { b.authorize(op, &q).await }
    }))
    .await;
    let codes = steps
        .into_iter()
        .filter(|s| matches!(s, Step::Redirect(l) if params_of(l).contains_key("code")))
        .count();
    assert_eq!(codes, 1);
}

// ---------------------------------------------------------------------------------------------------------
// 6. Slow clients
// ---------------------------------------------------------------------------------------------------------

/// The attack: clients that pipeline requests and never read the answers, as many as max_connections. Each
/// is dropped once its writes stall for WRITE_TIMEOUT, so fresh clients are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_do_not_hold_connections_forever() {
    let op = Op::start_with(|c| portcullis_op::config::Config {
        max_connections: 16,
        ..c
    })
    .await;
    let addr: std::net::SocketAddr = op.base.trim_start_matches("http://").parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..16 {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        let s = sock.connect(addr).await.unwrap();
        let (r, mut w) = s.into_split();
        let reqs =
            "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: op\r\n\r\n".repeat(20_000);
        let writer = tokio::spawn(async move {
            let _ = w.write_all(reqs.as_bytes()).await;
            w
        });
        held.push((r, writer));
    }
    tokio::time::sleep(portcullis_op::http::READ_TIMEOUT + Duration::from_secs(6)).await;
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    let r = fresh.get(op.url("/health")).send().await;
    let ok = r.as_ref().is_ok_and(|r| r.status() == StatusCode::OK);
    assert!(
        ok,
        "16 non-reading clients still hold every slot {:?} after READ_TIMEOUT: {:?} (waited {:?})",
        portcullis_op::http::READ_TIMEOUT,
        r.err(),
        started.elapsed()
    );
    drop(held);
}

// ---------------------------------------------------------------------------------------------------------
// 8. Secrets at rest
// ---------------------------------------------------------------------------------------------------------

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Values an earlier version stored in clear are sealed in place at start (and demo_password is deleted);
/// once the WAL is checkpointed, the database file no longer holds the old bytes.
#[tokio::test]
async fn sealing_at_upgrade_leaves_no_clear_secret_in_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), free_port(), None);
    portcullis_op::data_dir::prepare_data_dir(&cfg.data_dir).unwrap();
    let url = cfg.database_url();
    // An earlier version's database: the schema, and its secrets in clear.
    let store = portcullis_op::store::Store::open(&url).await.unwrap();
    store.close().await;
    const PAIRWISE: &str = "CLEARPAIRWISESECRETMARKER-0123456789abcdef";
    const DEMO: &str = "CLEARDEMOPASSWORDMARKER";
    const PRIVATE: &str = "CLEARPRIVATEKEYMARKER-d-0123456789abcdef";
    {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        sqlx::query("INSERT INTO settings (name, value) VALUES ('pairwise_secret', ?1), ('demo_password', ?2)")
            .bind(PAIRWISE)
            .bind(DEMO)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO signing_keys (kid, family, jwk, state, created_at, retired_at) VALUES ('k1', 'EC', ?1, 'current', 0, NULL)",
        )
        .bind(format!(r#"{{"kty":"EC","crv":"P-256","d":"{PRIVATE}"}}"#))
        .execute(&pool)
        .await
        .unwrap();
        // As after a long run of the earlier version: everything checkpointed into the database file.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let before = std::fs::read(dir.path().join("portcullis.db")).unwrap();
    assert!(
        contains(&before, PAIRWISE.as_bytes()),
        "setup: the clear value is in the file"
    );
    // The upgrade: this version unlocks the store and seals what it finds in clear.
    let store = portcullis_op::open_store(&cfg).await.unwrap();
    let sealed: String = {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let v = sqlx::query_scalar("SELECT value FROM settings WHERE name = 'pairwise_secret'")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        v
    };
    store.close().await;
    {
        // Even once the WAL is checkpointed into the database file and truncated.
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    assert!(sealed.starts_with("kek1."), "sealed in the table: {sealed}");
    // What a thief copying the data directory's database files (not the key) gets.
    let mut leaked = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let p = dir.path().join(format!("portcullis.db{suffix}"));
        if let Ok(bytes) = std::fs::read(&p) {
            for (name, marker) in [
                ("pairwise secret", PAIRWISE),
                ("demo password", DEMO),
                ("private key", PRIVATE),
            ] {
                if contains(&bytes, marker.as_bytes()) {
                    leaked.push(format!("{name} in portcullis.db{suffix}"));
                }
            }
        }
    }
    assert!(
        leaked.is_empty(),
        "still in clear after sealing: {leaked:?}"
    );
}
