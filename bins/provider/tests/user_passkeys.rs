//! `portcullis-provider user passkeys NAME [--remove ID]`, driven through the real binary: the list shows each
//! passkey (id, name, synced or device-bound, created, last used); removing one works while another way to
//! sign in remains, and is refused for the last one.
//!
//! Must not: touch anything outside its temporary data directory.

use std::path::Path;
use std::process::Command;

use portcullis_op::store::{PasskeyRow, Store};

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

fn passkey(id: &str, user_id: &str, synced: bool) -> PasskeyRow {
    PasskeyRow {
        credential_id: id.into(),
        user_id: user_id.into(),
        user_handle: "00000000-0000-4000-8000-000000000000".into(),
        credential: "{}".into(),
        name: format!("key {id}"),
        backup_eligible: synced,
        backup_state: synced,
        created_at: 1_800_000_000,
        last_used_at: None,
        suspect_clone: false,
        aaguid: None,
        attested: false,
    }
}

#[tokio::test]
async fn user_passkeys_lists_and_removes_but_keeps_the_last_way_to_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(
        &data,
        &["user", "add", "erin", "--password", "correct horse"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = format!("sqlite://{}", data.join("portcullis.db").display());
    let store = Store::open(&url).await.unwrap();
    let erin = store.user_by_name("erin").await.unwrap().unwrap();
    assert!(
        store
            .add_passkey(&passkey("AAAA", &erin.id, false))
            .await
            .unwrap()
    );
    assert!(
        store
            .add_passkey(&passkey("BBBB", &erin.id, true))
            .await
            .unwrap()
    );
    drop(store);

    let out = run(&data, &["user", "passkeys", "erin"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(
        list.contains("AAAA\tkey AAAA\tdevice-bound\tcreated 1800000000\tlast used never"),
        "{list}"
    );
    assert!(list.contains("BBBB\tkey BBBB\tsynced\t"), "{list}");

    // Unknown user, unknown passkey: refused with a reason.
    let out = run(&data, &["user", "passkeys", "nobody"]);
    assert!(!out.status.success());
    let out = run(&data, &["user", "passkeys", "erin", "--remove", "CCCC"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no passkey CCCC"));

    // Erin has a password: both passkeys can go.
    for id in ["AAAA", "BBBB"] {
        let out = run(&data, &["user", "passkeys", "erin", "--remove", id]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = run(&data, &["user", "passkeys", "erin"]);
    assert!(String::from_utf8(out.stdout).unwrap().is_empty());

    // A passkey-only user keeps the last one.
    let store = Store::open(&url).await.unwrap();
    portcullis_op::admin::add_user(&store, "frank", "temporary-pass", &serde_json::json!({}))
        .await
        .unwrap();
    let frank = store.user_by_name("frank").await.unwrap().unwrap();
    make_passkey_only(&store, &frank.username).await;
    assert!(
        store
            .add_passkey(&passkey("DDDD", &frank.id, false))
            .await
            .unwrap()
    );
    drop(store);
    let out = run(&data, &["user", "passkeys", "frank", "--remove", "DDDD"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("last way"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `username` passkey-only (no password), as a relying party's registration creates users.
async fn make_passkey_only(store: &Store, username: &str) {
    assert!(store.set_password(username, "").await.unwrap());
}
