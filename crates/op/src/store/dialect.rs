//! What differs between SQLite and PostgreSQL: telling them apart by URL ([`DbKind`]) and setting up their
//! connections (pool sizes, SQLite's file options and pragmas, the engine's native SQLite connection).
//!
//! The queries themselves are portable and shared (`$n` placeholders, standard SQL) and must not be
//! branched on here; the SQLite-only statements are the engine's script (`engine/script.rs`) and the WAL
//! checkpoints (`checkpoint.rs`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnection;

use super::Result;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl DbKind {
    /// The database `url` names (`sqlite:`, `postgres:` or `postgresql:`), if supported.
    pub(super) fn of_url(url: &str) -> Option<DbKind> {
        if url.starts_with("sqlite:") {
            Some(DbKind::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(DbKind::Postgres)
        } else {
            None
        }
    }
}

/// The store's connection pool for a database of `kind` at `url`.
pub(super) async fn connect_pool(kind: DbKind, url: &str) -> Result<AnyPool> {
    let pool = match kind {
        DbKind::Sqlite => {
            // Create the file, switch it to WAL once (a property of the file), then pool connections that
            // each wait for locks rather than failing. A new file gets 1 KiB pages (a property of the
            // file too; existing files keep theirs): a commit writes each page it changed whole into the
            // WAL, and the hot path's commits change one page per table and index, each holding a row or
            // two of that commit. With 4 KiB pages the WAL, and the checkpoints copying it, moved 2.4 times
            // as many bytes (see docs/benchmarks.md).
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .page_size(1024)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            drop(sqlx::SqlitePool::connect_with(opts).await?);
            AnyPoolOptions::new()
                .max_connections(4)
                .after_connect(sqlite_pragmas)
                .connect(url)
                .await?
        }
        DbKind::Postgres => {
            // A database that is down is answered in seconds (503 with Retry-After), not after sqlx's default
            // 30 s wait for a connection; the pool reconnects by itself once it is back.
            AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(3))
                .connect(url)
                .await?
        }
    };
    Ok(pool)
}

/// SQLite only: the engine's own connection ([`super::engine`]), on the native driver (no `Any` row
/// conversion); it runs two statement texts (its write and read scripts), prepared once.
pub(super) async fn engine_connection(
    opts: sqlx::sqlite::SqliteConnectOptions,
) -> Result<SqliteConnection> {
    use sqlx::ConnectOptions as _;
    Ok(opts
        .busy_timeout(Duration::from_secs(10))
        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
        .foreign_keys(true)
        .statement_cache_capacity(16)
        // Checkpoints (copying the WAL into the database file, with an fsync) would stall every hot
        // request queued behind the engine: the engine never runs them; a background task does.
        .pragma("wal_autocheckpoint", "0")
        // After the WAL restarts, shrink its file back to 64 MiB.
        .pragma("journal_size_limit", "67108864")
        .connect()
        .await?)
}

fn sqlite_pragmas<'c>(
    conn: &'c mut sqlx::AnyConnection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> futures_core::future::BoxFuture<'c, std::result::Result<(), sqlx::Error>> {
    Box::pin(async move {
        use sqlx::Executor as _;
        conn.execute(
            "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, sqlite_url};

    async fn page_size(store: &Store) -> i64 {
        sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn new_sqlite_files_get_1k_pages_and_existing_files_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&sqlite_url(&dir)).await.unwrap();
        assert_eq!(page_size(&store).await, 1024);
        store.close().await;

        // A file an earlier version created with 4 KiB pages opens unchanged.
        let old = tempfile::tempdir().unwrap();
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&sqlite_url(&old))
            .unwrap()
            .create_if_missing(true)
            .page_size(4096)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let store = Store::open(&sqlite_url(&old))
            .await
            .unwrap()
            .with_kek(crate::store::Kek::generate().unwrap());
        assert_eq!(page_size(&store).await, 4096);
        store.setting_or_insert("k", "v").await.unwrap();
        assert_eq!(
            store.setting("k").await.unwrap().map(|v| v.to_string()),
            Some("v".to_owned())
        );
        store.close().await;
    }
}
