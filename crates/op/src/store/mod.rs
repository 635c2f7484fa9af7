//! Storage: everything the provider must remember, in SQLite (embedded default, WAL) or PostgreSQL (several
//! provider nodes sharing one database). One portable schema and one set of queries serve both through sqlx's
//! `Any` driver; the differences (connection set-up, pragmas) are in `dialect.rs`.
//!
//! Authenticating secrets (codes, access and refresh tokens, session ids) are stored only as SHA-256 hashes.
//!
//! This module holds the [`Store`] itself (opening it, the write lock) and [`StoreError`]; the rest is in
//! submodules, all private (their public items are re-exported here):
//!
//! - `rows.rs`: the row types taken and returned ([`UserRow`], [`GrantRow`], [`Consumed`], ...).
//! - `token_key.rs`: where a code or token is stored ([`TokenKey`], [`grant_access_token`]).
//! - `columns.rs`: reading rows back (column access, shared column lists, row decoders).
//! - One module per table, each an `impl Store` block with that table's queries:
//!   `clients.rs`, `users.rs`, `signing_keys.rs`, `settings.rs`, `pending_requests.rs`, `sessions.rs`,
//!   `consents.rs`, `grants.rs`, `codes.rs`, `tokens.rs` (`access_tokens` and `refresh_tokens`),
//!   `seen_jtis.rs`, `passkeys.rs` (and `rp_accounts`), `factors.rs` (`user_factors` and `factor_codes`).
//! - `purge.rs`: deleting expired rows ([`Store::purge_expired`], [`PurgeAges`]).
//! - `migrations.rs`: applying the schema (`crates/op/migrations/*.sql`).
//! - `dialect.rs`: what differs between SQLite and PostgreSQL ([`DbKind`], connection set-up).
//! - `engine/`: SQLite only, the group-commit writer the hot path goes through (`mod.rs`: operations and the
//!   task; `script.rs`: the SQL of a batch; `batch.rs`: running a batch).
//! - `checkpoint.rs`: SQLite only, the background WAL checkpoints.
//!
//! Must not hold queries of any table here: each table's are in its own module.

use std::str::FromStr;

use sqlx::AnyPool;

mod at_rest;
mod audit;
mod bridge;
mod checkpoint;
mod clients;
mod codes;
mod columns;
mod consents;
pub use consents::WITHDRAWAL_MARGIN;
mod dialect;
mod engine;
mod factors;
mod grants;
mod migrations;
mod passkeys;
mod pending_requests;
mod purge;
mod rows;
mod seen_jtis;
mod sessions;
mod settings;
pub use at_rest::{Kek, KekError};
pub use audit::AuditRow;
pub use bridge::{BridgeRequestRow, BridgeSiteRow, Posted};
pub use factors::{CodeCheck, FactorRow, SentCode};
pub use passkeys::{PasskeyRow, Removal};
pub use upstream::UpstreamRequestRow;
mod signing_keys;
mod token_key;
mod tokens;
mod upstream;
mod users;

pub use dialect::DbKind;
pub use purge::{CODE_REPLAY_WINDOW, PURGE_CHUNK, PurgeAges, PurgeCounts};
pub use rows::{
    AccessInsert, AccessTokenRow, ClientRow, CodeGrant, CodeRow, CodeTokens, ConsentRow, Consumed,
    GrantRow, GrantWithUser, KeyRow, PendingRow, SessionContext, SessionRow, UserRow,
};
pub use token_key::{TokenKey, grant_access_token};

use checkpoint::{checkpoints, flush_handle};
use engine::Writer;

/// A storage failure. Surfaces as a 503 over HTTP (never as a detail to the client).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Stored data did not decode (corruption or a newer schema).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The URL names an unsupported database.
    #[error("unsupported database URL (use sqlite:// or postgres://)")]
    UnsupportedUrl,
}

type Result<T> = std::result::Result<T, StoreError>;

/// The provider's storage.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    kind: DbKind,
    /// SQLite allows one writer at a time and makes waiting writers poll with growing sleeps; serializing
    /// writes in-process instead keeps write latency flat. (PostgreSQL needs no such lock.)
    write_lock: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    /// SQLite only: the group-commit writer for hot-path writes.
    writer: Option<Writer>,
    /// The key-encryption key of the secrets at rest (see [`at_rest`]).
    kek: Option<std::sync::Arc<Kek>>,
}

impl Store {
    /// Opens (creating when needed) and migrates the database at `url`: `sqlite://path` or
    /// `postgres://...`.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let kind = DbKind::of_url(url).ok_or(StoreError::UnsupportedUrl)?;
        let pool = dialect::connect_pool(kind, url).await?;
        let write_lock =
            (kind == DbKind::Sqlite).then(|| std::sync::Arc::new(tokio::sync::Mutex::new(())));
        let mut store = Store {
            pool,
            kind,
            write_lock,
            writer: None,
            kek: None,
        };
        store.migrate().await?;
        if let Some(lock) = &store.write_lock {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
            let db_file = flush_handle(opts.get_filename());
            let conn = dialect::engine_connection(opts).await?;
            store.writer = Some(Writer::start(conn, lock.clone()));
            tokio::spawn(checkpoints(store.pool.clone(), lock.clone(), db_file));
        }
        Ok(store)
    }

    async fn write(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.write_lock {
            Some(l) => Some(l.lock().await),
            None => None,
        }
    }

    /// Which database this is.
    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// One round trip to the database (for readiness checks).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// A `sqlite://` URL for a database file in `dir` (tests).
#[cfg(test)]
fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("t.db").display())
}
