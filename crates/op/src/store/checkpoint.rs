//! SQLite only: the background task that copies the WAL into the database file, off the engine's connection,
//! and the database file descriptor it flushes through.
//!
//! Must not write rows: it only checkpoints, holding the write lock for the last, short pass.

use std::time::Duration;

use sqlx::{AnyConnection, AnyPool, Row};

/// How often [`checkpoints`] copies the WAL into the database file while the engine keeps writing. Short,
/// so each pass is short: a long copy on two cores delays the engine's thread, and every request with it.
const COPY_INTERVAL: Duration = Duration::from_millis(25);

/// How long [`checkpoints`] waits between passes while the WAL holds nothing new.
const IDLE_INTERVAL: Duration = Duration::from_millis(250);

/// How often [`checkpoints`] completes a checkpoint under the write lock, so the WAL starts over and does not
/// grow under sustained load.
const RESTART_INTERVAL: Duration = Duration::from_millis(250);

/// Before the locked pass, rounds of (flush the database file, unlocked pass) repeat, at most
/// [`PREPARE_ROUNDS`] times, until fewer than this many WAL frames were appended during one: the locked pass
/// then copies and flushes only about that many pages.
const LOCKED_PASS_FRAMES: i64 = 64;

/// See [`LOCKED_PASS_FRAMES`].
const PREPARE_ROUNDS: usize = 3;

/// SQLite only: moves the WAL into the database file, off the engine's connection (the engine never
/// checkpoints, so its requests never wait for the copy). Ends when the pool closes.
///
/// - Every [`COPY_INTERVAL`] (or [`IDLE_INTERVAL`] while nothing is new), one unlocked `PASSIVE` pass copies
///   what was appended since the last one while the engine keeps writing. SQLite syncs the WAL before it copies;
///   it syncs the database file only when a pass copied everything, which under load none does, so the copied
///   pages stay dirty in the page cache.
/// - Every [`RESTART_INTERVAL`] a checkpoint is completed, so the engine's next write starts the WAL over. That
///   last pass must hold the write lock (no batch may append during it) and SQLite ends it with an fsync of the
///   database file, which would flush every page the unlocked passes copied since the last one while every
///   write waits (3–7 ms measured here, up to 19). So first the database file is flushed through a descriptor
///   of our own, outside the lock, alternating with unlocked passes until few frames are left; the locked pass
///   then copies and flushes only those (~1 ms).
///
/// The extra flush is only an early start: SQLite still syncs whatever durability needs itself.
pub(super) async fn checkpoints(
    pool: AnyPool,
    lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    db_file: Option<std::sync::Arc<std::fs::File>>,
) {
    let mut busy = true;
    let mut previous = 0;
    let mut last_restart = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(if busy { COPY_INTERVAL } else { IDLE_INTERVAL }).await;
        if pool.is_closed() {
            return;
        }
        let Ok(mut conn) = pool.acquire().await else {
            return;
        };
        // `log` is the WAL's frame count when the pass began (it copied all of those); unchanged since the
        // pass before means nothing was written in between.
        let mut last = match checkpoint_passive(&mut conn).await {
            Ok((log, _)) => log,
            Err(e) => {
                tracing::warn!("WAL checkpoint: {e}");
                continue;
            }
        };
        busy = last != previous;
        previous = last;
        if !busy || last_restart.elapsed() < RESTART_INTERVAL {
            continue;
        }
        last_restart = tokio::time::Instant::now();
        for _ in 0..PREPARE_ROUNDS {
            flush(&db_file).await;
            match checkpoint_passive(&mut conn).await {
                Ok((log, _)) => {
                    // (A restart in between makes `log` smaller than `last`: little was appended since.)
                    let appended = log - last;
                    last = log;
                    if appended < LOCKED_PASS_FRAMES {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!("WAL checkpoint: {e}");
                    break;
                }
            }
        }
        // The pages the last pass copied.
        flush(&db_file).await;
        let _quiet = lock.lock().await;
        if let Err(e) = checkpoint_passive(&mut conn).await {
            tracing::warn!("WAL checkpoint: {e}");
        }
    }
}

/// Flushes the database file (see [`checkpoints`]) on a blocking thread.
async fn flush(file: &Option<std::sync::Arc<std::fs::File>>) {
    if let Some(f) = file {
        let f = f.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || f.sync_data()).await {
            tracing::warn!("database file flush: {e}");
        }
    }
}

/// The database file at `path`, opened read-only for [`checkpoints`] to flush outside the write lock.
///
/// Opened once per file per process and **never closed**: closing any descriptor of a file drops every POSIX
/// lock the process holds on it, SQLite's included (a flush through a descriptor opened and closed per
/// checkpoint broke concurrent connections at once with "disk I/O error"). Files are told apart by device and
/// inode, so a database replaced at the same path gets a descriptor of its own. `None` where that cannot be
/// done safely (not Unix, or the file cannot be opened): the checkpoints then work as before, with a longer
/// locked pass.
pub(super) fn flush_handle(path: &std::path::Path) -> Option<std::sync::Arc<std::fs::File>> {
    #[cfg(unix)]
    {
        use std::collections::HashMap;
        use std::os::unix::fs::MetadataExt as _;
        use std::sync::{Arc, Mutex, OnceLock};
        type Open = HashMap<(u64, u64), Arc<std::fs::File>>;
        static OPEN: OnceLock<Mutex<(Open, Vec<std::fs::File>)>> = OnceLock::new();
        let mut open = OPEN
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Ok(m) = std::fs::metadata(path)
            && let Some(f) = open.0.get(&(m.dev(), m.ino()))
        {
            return Some(f.clone());
        }
        let file = std::fs::File::open(path).ok()?;
        let Ok(m) = file.metadata() else {
            open.1.push(file);
            return None;
        };
        let key = (m.dev(), m.ino());
        if let Some(f) = open.0.get(&key) {
            // Replaced between the two looks: keep this descriptor open too, and use the first.
            let f = f.clone();
            open.1.push(file);
            return Some(f);
        }
        let file = Arc::new(file);
        open.0.insert(key, file.clone());
        Some(file)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// One `PASSIVE` checkpoint: the WAL's frame count and how many of them are now in the database file.
fn checkpoint_passive(
    conn: &mut AnyConnection,
) -> futures_core::future::BoxFuture<'_, std::result::Result<(i64, i64), sqlx::Error>> {
    Box::pin(async move {
        let r = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut *conn)
            .await?;
        Ok((r.try_get::<i64, _>(1)?, r.try_get::<i64, _>(2)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, sqlite_url};

    #[test]
    fn flush_handles_are_one_per_file_and_stay_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.db");
        assert!(flush_handle(&path).is_none(), "no file, no handle");
        std::fs::write(&path, b"one").unwrap();
        let a = flush_handle(&path).unwrap();
        let b = flush_handle(&path).unwrap();
        assert!(std::sync::Arc::ptr_eq(&a, &b), "one descriptor per file");
        drop((a, b));
        // Dropping every handle given out does not close the descriptor: the registry keeps it.
        let again = flush_handle(&path).unwrap();
        assert!(std::sync::Arc::strong_count(&again) >= 2);
        again.sync_data().unwrap();
        // A different file at the same path gets a descriptor of its own.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"two").unwrap();
        let other = flush_handle(&path).unwrap();
        assert!(!std::sync::Arc::ptr_eq(&again, &other));
    }

    /// Under sustained writes the checkpoints complete, so the WAL keeps starting over instead of growing. A
    /// property, not a proof of the locked pass: even with writers committing back to back under the store's
    /// write lock, this test also passes with the locked pass removed (tried), because the gaps between
    /// commits here let unlocked passes complete too. Under the load script's hot path they do not (the WAL
    /// then grew to 250 000 frames in 6 s).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sustained_writes_restart_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(Store::open(&sqlite_url(&dir)).await.unwrap());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut writers = Vec::new();
        for w in 0..2 {
            let (store, stop) = (store.clone(), stop.clone());
            writers.push(tokio::spawn(async move {
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 500_000 {
                    let _w = store.write().await;
                    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2)")
                        .bind(format!("w{w}-{n}"))
                        .bind("x".repeat(200))
                        .execute(&store.pool)
                        .await
                        .unwrap();
                    n += 1;
                }
            }));
        }
        // Once the writers are under way (the first write after start-up restarts the WAL by itself), sample
        // the WAL's frame count (a PASSIVE pass of our own, harmless) for up to 10 s, until it started over
        // three times.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut conn = store.pool.acquire().await.unwrap();
        let (mut last, mut peak, mut restarts) = (0i64, 0i64, 0);
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(10) && restarts < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let (log, _) = checkpoint_passive(&mut conn).await.unwrap();
            if log < last {
                restarts += 1;
            }
            (last, peak) = (log, peak.max(log));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in writers {
            w.await.unwrap();
        }
        assert_eq!(
            restarts, 3,
            "the WAL did not keep starting over (peak {peak} frames)"
        );
        drop(conn);
        store.close().await;
    }
}
