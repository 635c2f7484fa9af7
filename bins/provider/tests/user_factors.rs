//! `portcullis-provider user factors NAME [--reset [--kind KIND]]`, driven through the real binary: the list shows
//! each step-up factor (kind, enrolled, the address or number); a reset removes one kind or all, lifts the lock of
//! wrong answers, and refuses an unknown kind.
//!
//! Must not: touch anything outside its temporary data directory.

use std::path::Path;
use std::process::Command;

use portcullis_op::store::{Kek, Store};

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

fn text(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn user_factors_lists_and_resets_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(
        &data,
        &["user", "add", "frank", "--password", "correct horse"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kek =
        Kek::from_text(&std::fs::read_to_string(data.join("portcullis.kek")).unwrap()).unwrap();
    let url = format!("sqlite://{}", data.join("portcullis.db").display());
    let store = Store::open(&url).await.unwrap().with_kek(kek);
    let frank = store.user_by_name("frank").await.unwrap().unwrap();
    store
        .put_factor(&frank.id, "email", "frank@example.com", 1)
        .await
        .unwrap();
    store
        .put_factor(&frank.id, "mobile_app", "JBSWY3DPEHPK3PXP", 2)
        .await
        .unwrap();
    for _ in 0..10 {
        store
            .factor_failed(&frank.id, "email", 3, 86_400)
            .await
            .unwrap();
    }
    assert!(
        store
            .factor_locked(&frank.id, "email", 4, (10, 900))
            .await
            .unwrap()
    );
    let out = run(&data, &["user", "factors", "frank"]);
    assert!(out.status.success());
    let list = text(&out);
    assert!(
        list.contains("email\tenrolled 1\tfrank@example.com"),
        "{list}"
    );
    assert!(list.contains("mobile_app\tenrolled 2"), "{list}");
    assert!(
        !list.contains("JBSWY3DP"),
        "the seed is never printed: {list}"
    );
    let out = run(
        &data,
        &["user", "factors", "frank", "--reset", "--kind", "email"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text(&out).contains("1 factor(s) of frank removed"),
        "{}",
        text(&out)
    );
    assert!(
        !store
            .factor_locked(&frank.id, "email", 4, (10, 900))
            .await
            .unwrap(),
        "unlocked"
    );
    let list = text(&run(&data, &["user", "factors", "frank"]));
    assert!(
        !list.contains("email") && list.contains("mobile_app"),
        "{list}"
    );
    let bad = run(
        &data,
        &["user", "factors", "frank", "--reset", "--kind", "retina"],
    );
    assert_eq!(bad.status.code(), Some(1));
    let out = run(&data, &["user", "factors", "frank", "--reset"]);
    assert!(out.status.success());
    assert!(
        text(&run(&data, &["user", "factors", "frank"]))
            .trim()
            .is_empty()
    );
    let nobody = run(&data, &["user", "factors", "nobody"]);
    assert_eq!(nobody.status.code(), Some(1));
}

/// `portcullis-provider audit`: the admin commands' own changes are audited and listed (oldest first, by user and
/// age), and a bad `--since` or an unknown user is refused.
#[test]
fn audit_lists_the_admin_changes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let add = run(
        &data,
        &[
            "client",
            "add",
            "shop",
            r#"{"redirect_uris":["https://shop.example/cb"],"token_endpoint_auth_method":"none"}"#,
        ],
    );
    assert!(add.status.success(), "{add:?}");
    let site = run(
        &data,
        &[
            "site",
            "add",
            "mall",
            "--name",
            "Mall",
            "--verify-url",
            "https://mall.example/verify",
        ],
    );
    assert!(site.status.success(), "{site:?}");
    let key = text(&site)
        .split("(shown once): ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_owned();
    let listed = text(&run(&data, &["audit", "--since", "1h"]));
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].contains("\tclient_changed\tsuccess\t") && lines[0].ends_with("added shop"),
        "{listed}"
    );
    assert!(
        lines[1].contains("\tbridge_site_changed\tsuccess\t"),
        "{listed}"
    );
    assert!(!listed.contains(&key), "no secret in the audit");
    for bad in [
        vec!["audit", "--since", "5w"],
        vec!["audit", "--user", "nobody"],
    ] {
        let out = run(&data, &bad);
        assert!(!out.status.success(), "{bad:?}");
    }
}
