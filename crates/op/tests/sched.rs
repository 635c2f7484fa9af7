//! Scheduling hints for the store's SQLite threads (Linux). A test binary of its own: it looks threads up by
//! name in `/proc/self/task`, so no other test may open a store in the same process.

#![cfg(target_os = "linux")]

use std::time::Duration;

use portcullis_op::sched::{self, Policy, ThreadSched};
use portcullis_op::store::{CHECKPOINT_THREAD, ENGINE_THREAD, Store, StoreOptions};

/// The ids of this process's threads named `name`.
fn threads_named(name: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let entry = entry.unwrap();
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            out.push(entry.file_name().to_str().unwrap().parse().unwrap());
        }
    }
    out
}

/// What this kernel makes of a hint: the attributes of a probe thread set with `set`.
fn probe(set: fn() -> std::io::Result<()>) -> ThreadSched {
    std::thread::spawn(move || {
        set().unwrap();
        sched::current_thread().unwrap()
    })
    .join()
    .unwrap()
}

/// Opens a store at a fresh path from a new thread set to `SCHED_BATCH` (as the provider's runtime threads
/// are), on a runtime of that thread's own, which the caller then drops to close the store.
fn open_from_batch_thread(
    options: StoreOptions,
) -> (Store, tokio::runtime::Runtime, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let (store, rt) = std::thread::spawn(move || {
        sched::batch_current_thread().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = rt.block_on(Store::open_with(&url, &options)).unwrap();
        (store, rt)
    })
    .join()
    .unwrap();
    (store, rt, dir)
}

/// Waits until no thread named `name` is left (a closed store's threads end once their connections drop).
fn wait_gone(name: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !threads_named(name).is_empty() {
        assert!(std::time::Instant::now() < deadline, "{name} threads left");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_engine_gets_a_short_slice_and_the_checkpoints_the_default_slice() {
    let short = probe(|| sched::latency_current_thread(sched::ENGINE_SLICE));
    let default = probe(sched::default_current_thread);
    assert_eq!(short.policy, Policy::Other);
    assert_eq!(default.policy, Policy::Other);

    // With hints, they override what the two SQLite threads would inherit from their batch opener.
    let (store, rt, _dir) = open_from_batch_thread(StoreOptions {
        engine_slice: Some(sched::ENGINE_SLICE),
    });
    let engine = threads_named(ENGINE_THREAD);
    let checkpoint = threads_named(CHECKPOINT_THREAD);
    assert_eq!(engine.len(), 1, "one engine thread");
    assert_eq!(checkpoint.len(), 1, "one checkpoint thread");
    assert_eq!(sched::thread(engine[0]).unwrap(), short);
    assert_eq!(sched::thread(checkpoint[0]).unwrap(), default);
    // The pool's own connections get no hint: their threads inherit the opener's policy.
    let pool = threads_named("sqlx-sqlite-wor");
    assert!(!pool.is_empty());
    for t in pool {
        assert_eq!(sched::thread(t).unwrap().policy, Policy::Batch);
    }
    rt.block_on(store.close());
    drop(rt);
    wait_gone(ENGINE_THREAD);
    wait_gone(CHECKPOINT_THREAD);

    // Without hints, both inherit the opener's attributes.
    let (store, rt, _dir) = open_from_batch_thread(StoreOptions::default());
    for name in [ENGINE_THREAD, CHECKPOINT_THREAD] {
        let t = threads_named(name);
        assert_eq!(t.len(), 1, "{name}");
        assert_eq!(sched::thread(t[0]).unwrap().policy, Policy::Batch, "{name}");
    }
    rt.block_on(store.close());
}
