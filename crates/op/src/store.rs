//! Storage: everything the provider must remember, in SQLite (embedded default, WAL) or PostgreSQL (several
//! provider nodes sharing one database). One portable schema and one set of queries serve both through sqlx's
//! `Any` driver; the differences (connection set-up, pragmas) are in [`Store::open`].
//!
//! Authenticating secrets (codes, access and refresh tokens, session ids) are stored only as SHA-256 hashes.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::SqliteConnection;
use sqlx::{AnyConnection, AnyPool, Row};

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

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

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
}

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_token_binding.sql")),
    (
        3,
        include_str!("../migrations/0003_sealed_client_secrets.sql"),
    ),
    (4, include_str!("../migrations/0004_expiry_indexes.sql")),
    (5, include_str!("../migrations/0005_purge_by_key.sql")),
    (6, include_str!("../migrations/0006_access_on_grant.sql")),
];

/// An access token to store: hash, scope, expiry, and the `x5t#S256` it is bound to.
pub type AccessInsert<'a> = (&'a str, &'a str, i64, Option<&'a str>);

/// Where a code, access token or refresh token is stored: `key` is the issue time the token carries (12 hex
/// digits of Unix milliseconds, see [`crate::new_token`]), a dot and the token's SHA-256; `legacy` is the bare
/// SHA-256 under which tokens were stored before time-ordered keys. Lookups try both, so tokens issued by
/// earlier versions keep working; new rows are stored under `key`.
///
/// An access token of the form `<grant id>.<secret>` ([`grant_access_token`]) is kept on its grant's row
/// instead: `grant` holds the grant id and the SHA-256 of the whole token, and lookups read that grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKey {
    /// The time-ordered key.
    pub key: String,
    /// The bare hash.
    pub legacy: String,
    /// For a token that names its grant: the grant id and the hash stored on the grant.
    pub grant: Option<(String, String)>,
}

/// A new access token kept on grant `grant_id` (see [`TokenKey`]): the grant id, a dot, and 32 random bytes
/// ([`crate::new_token`]).
pub fn grant_access_token(grant_id: &str) -> String {
    format!("{grant_id}.{}", crate::new_token())
}

impl TokenKey {
    /// The keys for a presented (or just issued) token.
    pub fn of(token: &str) -> TokenKey {
        let legacy = crate::hash(token);
        let key = match portcullis_jose::base64url::decode(token) {
            Ok(b) if b.len() == 32 => {
                let mut ms = [0u8; 8];
                ms[2..].copy_from_slice(&b[..6]);
                format!("{:012x}.{legacy}", u64::from_be_bytes(ms))
            }
            // Not one of ours: no time to read; the lookup under the bare hash finds nothing either.
            _ => legacy.clone(),
        };
        // `<grant id>.<secret>`: a time-ordered grant id (12 hex digits, 22 base64url characters) and 43
        // base64url characters of 32 bytes.
        let grant = token.split_once('.').and_then(|(id, secret)| {
            let time_ordered = id.len() == 34
                && id[..12].bytes().all(|b| b.is_ascii_hexdigit())
                && portcullis_jose::base64url::decode(&id[12..]).is_ok_and(|b| b.len() == 16);
            let secret_ok = portcullis_jose::base64url::decode(secret).is_ok_and(|b| b.len() == 32);
            (time_ordered && secret_ok).then(|| (id.to_owned(), legacy.clone()))
        });
        TokenKey { key, legacy, grant }
    }

    /// The keys to try, in order: the time-ordered one, then the bare hash when it differs. Lookups ask for
    /// the second only when the first finds nothing, so current tokens cost one index probe.
    pub fn candidates(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.key.as_str())
            .chain((self.legacy != self.key).then_some(self.legacy.as_str()))
    }
}

/// Rows deleted per statement by [`Store::purge_expired`].
pub const PURGE_CHUNK: usize = 1000;
/// How long a code is kept after it expired, so that a late replay still revokes its grant.
pub const CODE_REPLAY_WINDOW: i64 = 600;

/// How old (seconds) a code, token or grant must be before [`Store::purge_expired`] looks at it: the lifetimes
/// the provider issues them with. The purge walks each table in key order (keys start with the issue time)
/// up to `now` minus that age, deleting the rows that have expired; it needs no expiry index, which the hot
/// path would otherwise write with every row. A row issued with a longer lifetime than the current one is
/// skipped until it expires; one issued with a shorter lifetime waits until it is that old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeAges {
    /// Code lifetime ([`CODE_REPLAY_WINDOW`] is added: expired codes are kept that long).
    pub code: i64,
    /// Access token lifetime.
    pub access_token: i64,
    /// Refresh token lifetime.
    pub refresh_token: i64,
    /// A grant without tokens left is deleted once this old (at least `code` + [`CODE_REPLAY_WINDOW`]: by
    /// then its code is gone).
    pub grant: i64,
}

/// The smallest time-ordered key (or grant id) of something issued at `secs` (Unix seconds): 12 hex digits
/// of Unix milliseconds. Every key of something issued earlier sorts below it.
fn key_bound(secs: i64) -> String {
    format!(
        "{:012x}",
        (secs.max(0) as u64)
            .saturating_mul(1000)
            .min(0xffff_ffff_ffff)
    )
}

/// What [`Store::purge_expired`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    /// Codes.
    pub codes: u64,
    /// Access tokens.
    pub access_tokens: u64,
    /// Refresh tokens.
    pub refresh_tokens: u64,
    /// Sessions.
    pub sessions: u64,
    /// Pending (login/consent) and pushed requests.
    pub pending_requests: u64,
    /// Grants.
    pub grants: u64,
}

/// A client row.
#[derive(Debug, Clone)]
pub struct ClientRow {
    /// `client_id`
    pub id: String,
    /// SHA-256 (base64url) of the secret (`client_secret_basic` / `client_secret_post`).
    pub secret_hash: Option<String>,
    /// The secret sealed with the provider's sealing key (`client_secret_jwt` only; see
    /// [`crate::sealing`]).
    pub secret_sealed: Option<String>,
    /// Registration metadata (RFC 7591 JSON plus Portcullis members).
    pub metadata: String,
}

/// A user row.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Local account id (the public `sub`).
    pub id: String,
    /// Login name.
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Claims as a JSON object.
    pub claims: String,
}

/// A signing key row.
#[derive(Debug, Clone)]
pub struct KeyRow {
    /// `kid`
    pub kid: String,
    /// `EC`, `RSA` or `OKP`.
    pub family: String,
    /// Private JWK JSON.
    pub jwk: String,
    /// `next`, `current` or `retired`.
    pub state: String,
    /// Creation time.
    pub created_at: i64,
    /// When it stopped signing.
    pub retired_at: Option<i64>,
}

/// A pending authorization request (waiting for login or consent) or a pushed one (PAR).
#[derive(Debug, Clone)]
pub struct PendingRow {
    /// Unguessable id.
    pub id: String,
    /// `authorize` or `par`.
    pub kind: String,
    /// The client.
    pub client_id: String,
    /// The request as a form string.
    pub params: String,
    /// CSRF token for the login and consent forms.
    pub csrf: String,
    /// Expiry.
    pub expires_at: i64,
}

/// A login session.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// Public session id (the `sid` claim).
    pub sid: String,
    /// The user.
    pub user_id: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Expiry.
    pub expires_at: i64,
}

/// A grant: what one authorization (or client credentials request) allowed; every token hangs off one.
#[derive(Debug, Clone)]
pub struct GrantRow {
    /// Id.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The user (none for client credentials).
    pub user_id: Option<String>,
    /// Granted scope.
    pub scope: String,
    /// The `claims` request JSON.
    pub claims: Option<String>,
    /// Authentication time.
    pub auth_time: Option<i64>,
    /// `nonce` of the authorization request.
    pub nonce: Option<String>,
    /// Session id.
    pub sid: Option<String>,
    /// Confirmation (`x5t#S256`) for certificate-bound tokens.
    pub cnf: Option<String>,
    /// Whether revoked.
    pub revoked: bool,
}

/// An authorization code row.
#[derive(Debug, Clone)]
pub struct CodeRow {
    /// The grant.
    pub grant_id: String,
    /// The client.
    pub client_id: String,
    /// The authorization request's `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// PKCE method.
    pub code_challenge_method: Option<String>,
    /// Expiry.
    pub expires_at: i64,
}

/// What happened when a single-use secret (code, refresh token) was presented.
#[derive(Debug)]
pub enum Consumed<T> {
    /// First use: here it is, now marked used.
    Fresh(T),
    /// Already used: a replay. Carries the grant id, so the caller can revoke it.
    Replayed(String),
    /// Unknown.
    Unknown,
}

/// An access token's view at the resource (userinfo, introspection).
#[derive(Debug, Clone)]
pub struct AccessTokenRow {
    /// The grant (not revoked).
    pub grant: GrantRow,
    /// Scope of this token.
    pub scope: String,
    /// Expiry.
    pub expires_at: i64,
    /// `x5t#S256` of the certificate the token is bound to.
    pub cnf: Option<String>,
    /// The grant's user, read in the same query (none for client credentials, or when the user was removed).
    pub user: Option<UserRow>,
}

/// A live session with what the authorization endpoint needs next to it, read in one query.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// The session.
    pub session: SessionRow,
    /// Its user (none when the user was removed since).
    pub user: Option<UserRow>,
    /// The scope this user consented to for the client asked about.
    pub consent: Option<String>,
}

/// A consumed code with its grant and the grant's user (read in the same round trip).
#[derive(Debug, Clone)]
pub struct CodeGrant {
    /// The code.
    pub code: CodeRow,
    /// Its grant (none if it vanished).
    pub grant: Option<GrantRow>,
    /// The grant's user.
    pub user: Option<UserRow>,
    /// Whether the [`CodeTokens`] passed to [`Store::consume_code_and_store`] were stored on the grant (in the
    /// transaction that consumed the code): true exactly when the code was fresh and its grant exists and is
    /// not revoked. Always false from [`Store::consume_code`].
    pub tokens_stored: bool,
}

/// The tokens a code exchange will hand out, stored in the same transaction that consumes the code (one
/// round trip instead of two) — but only if the code is fresh and its grant exists and is not revoked. They
/// take the grant's scope. The caller still checks the code (client, redirect URI, PKCE, expiry) afterwards
/// and revokes the grant if it refuses, so tokens stored for a code that fails its checks are never usable;
/// their secrets never leave the caller either.
#[derive(Debug, Clone)]
pub struct CodeTokens {
    /// The access token's stored key ([`TokenKey::key`]).
    pub access_key: String,
    /// The access token's expiry (Unix seconds).
    pub access_expires_at: i64,
    /// The `x5t#S256` the access token is bound to (RFC 8705).
    pub cnf: Option<String>,
    /// The refresh token's stored key and expiry, if one is issued.
    pub refresh: Option<(String, i64)>,
    /// [`Store::redeem_sealed_code`] only: the access token names the grant ([`grant_access_token`]) and is
    /// kept on the grant's row, `access_key` being its [`TokenKey::grant`] hash. Elsewhere false.
    pub access_in_grant: bool,
}

/// Typed column access shared by the pool's `AnyRow`s and the SQLite engine's native rows.
trait Cols {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
}

macro_rules! impl_cols {
    ($row:ty) => {
        impl Cols for $row {
            fn text(&self, col: &str) -> Result<String> {
                Ok(self.try_get(col)?)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>> {
                Ok(self.try_get(col)?)
            }
            fn int(&self, col: &str) -> Result<i64> {
                Ok(self.try_get(col)?)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>> {
                Ok(self.try_get(col)?)
            }
        }
    };
}
impl_cols!(AnyRow);
impl_cols!(sqlx::sqlite::SqliteRow);

fn grant_from(row: &impl Cols) -> Result<GrantRow> {
    Ok(GrantRow {
        id: row.text("id")?,
        client_id: row.text("client_id")?,
        user_id: row.opt_text("user_id")?,
        scope: row.text("scope")?,
        claims: row.opt_text("claims")?,
        auth_time: row.opt_int("auth_time")?,
        nonce: row.opt_text("nonce")?,
        sid: row.opt_text("sid")?,
        cnf: row.opt_text("cnf")?,
        revoked: row.int("revoked")? != 0,
    })
}

const GRANT_COLUMNS: &str = "g.id, g.client_id, g.user_id, g.scope, g.claims, g.auth_time, g.nonce, g.sid, g.cnf, g.revoked";

/// The user columns of a `LEFT JOIN users u`, prefixed so they cannot clash with the grant's.
const JOINED_USER_COLUMNS: &str = "u.id AS u_id, u.username AS u_username, u.password_hash AS u_password_hash, u.claims AS u_claims";

fn joined_user(r: &impl Cols) -> Result<Option<UserRow>> {
    let Some(id) = r.opt_text("u_id")? else {
        return Ok(None);
    };
    Ok(Some(UserRow {
        id,
        username: r.text("u_username")?,
        password_hash: r.text("u_password_hash")?,
        claims: r.text("u_claims")?,
    }))
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

impl Store {
    /// Opens (creating when needed) and migrates the database at `url`: `sqlite://path` or
    /// `postgres://...`.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            DbKind::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
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
                AnyPoolOptions::new()
                    .max_connections(16)
                    .connect(url)
                    .await?
            }
        };
        let write_lock =
            (kind == DbKind::Sqlite).then(|| std::sync::Arc::new(tokio::sync::Mutex::new(())));
        let mut store = Store {
            pool,
            kind,
            write_lock,
            writer: None,
        };
        store.migrate().await?;
        if let Some(lock) = &store.write_lock {
            // The engine's own connection, on the native driver (no `Any` row conversion); it runs two
            // statement texts (its write and read scripts), prepared once.
            use sqlx::ConnectOptions as _;
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
            let db_file = flush_handle(opts.get_filename());
            let conn = opts
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
                .await?;
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

    async fn migrate(&self) -> Result<()> {
        let _w = self.write().await;
        sqlx::raw_sql("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")
            .execute(&self.pool)
            .await?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await?;
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_none() {
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
                    .bind(*version)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- settings ----

    /// A stored setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Stores a setting unless it exists; returns the stored value (the first writer wins on a shared DB).
    pub async fn setting_or_insert(&self, name: &str, value: &str) -> Result<String> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        self.setting(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt("setting vanished".into()))
    }

    // ---- clients ----

    /// Inserts or replaces a client.
    pub async fn put_client(&self, c: &ClientRow, now: i64) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO clients (id, secret_hash, secret_sealed, metadata, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET secret_hash = excluded.secret_hash, \
             secret_sealed = excluded.secret_sealed, metadata = excluded.metadata",
        )
        .bind(&c.id)
        .bind(&c.secret_hash)
        .bind(&c.secret_sealed)
        .bind(&c.metadata)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A client by id.
    pub async fn client(&self, id: &str) -> Result<Option<ClientRow>> {
        let row = sqlx::query(
            "SELECT id, secret_hash, secret_sealed, metadata FROM clients WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ClientRow {
                id: r.try_get("id")?,
                secret_hash: r.try_get("secret_hash")?,
                secret_sealed: r.try_get("secret_sealed")?,
                metadata: r.try_get("metadata")?,
            })
        })
        .transpose()
    }

    /// Every client id.
    pub async fn client_ids(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT id FROM clients ORDER BY id")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Removes a client and revokes its grants. Returns whether it existed.
    pub async fn remove_client(&self, id: &str) -> Result<bool> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE grants SET revoked = 1 WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    // ---- users ----

    /// Inserts a user; false when the username is taken.
    pub async fn add_user(&self, u: &UserRow, now: i64) -> Result<bool> {
        let _w = self.write().await;
        let n = sqlx::query(
            "INSERT INTO users (id, username, password_hash, claims, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(&u.claims)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    fn user_from(r: &AnyRow) -> Result<UserRow> {
        Ok(UserRow {
            id: r.try_get("id")?,
            username: r.try_get("username")?,
            password_hash: r.try_get("password_hash")?,
            claims: r.try_get("claims")?,
        })
    }

    /// A user by login name.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>> {
        sqlx::query("SELECT id, username, password_hash, claims FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(Self::user_from)
            .transpose()
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<Option<UserRow>> {
        sqlx::query("SELECT id, username, password_hash, claims FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(Self::user_from)
            .transpose()
    }

    /// Every user.
    pub async fn users(&self) -> Result<Vec<UserRow>> {
        sqlx::query("SELECT id, username, password_hash, claims FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(Self::user_from)
            .collect()
    }

    /// Sets a user's password hash; false when there is no such user.
    pub async fn set_password(&self, username: &str, hash: &str) -> Result<bool> {
        let _w = self.write().await;
        Ok(
            sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
                .bind(hash)
                .bind(username)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1,
        )
    }

    // ---- keys ----

    /// Every signing key.
    pub async fn keys(&self) -> Result<Vec<KeyRow>> {
        sqlx::query(
            "SELECT kid, family, jwk, state, created_at, retired_at FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(KeyRow {
                kid: r.try_get("kid")?,
                family: r.try_get("family")?,
                jwk: r.try_get("jwk")?,
                state: r.try_get("state")?,
                created_at: r.try_get("created_at")?,
                retired_at: r.try_get("retired_at")?,
            })
        })
        .collect()
    }

    /// Adds keys for a family when it has none (first run); a concurrent first run on another node loses
    /// cleanly (the check and inserts are one transaction).
    pub async fn add_keys_if_family_empty(&self, family: &str, keys: &[KeyRow]) -> Result<bool> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys WHERE family = $1")
            .bind(family)
            .fetch_one(&mut *tx)
            .await?;
        if n > 0 {
            return Ok(false);
        }
        for k in keys {
            Self::insert_key(&mut tx, k).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_key(tx: &mut sqlx::Transaction<'_, sqlx::Any>, k: &KeyRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, family, jwk, state, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&k.kid)
        .bind(&k.family)
        .bind(&k.jwk)
        .bind(&k.state)
        .bind(k.created_at)
        .bind(k.retired_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Rotates a family: current → retired (at `now`), next → current, `new_next` becomes next; retired keys
    /// retired before `prune_before` are deleted.
    pub async fn rotate_keys(
        &self,
        family: &str,
        new_next: &KeyRow,
        now: i64,
        prune_before: i64,
    ) -> Result<()> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retired_at = $1 WHERE family = $2 AND state = 'current'",
        )
        .bind(now)
        .bind(family)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE signing_keys SET state = 'current' WHERE family = $1 AND state = 'next'",
        )
        .bind(family)
        .execute(&mut *tx)
        .await?;
        Self::insert_key(&mut tx, new_next).await?;
        sqlx::query(
            "DELETE FROM signing_keys WHERE family = $1 AND state = 'retired' AND retired_at < $2",
        )
        .bind(family)
        .bind(prune_before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- pending requests ----

    /// Stores a pending or pushed request.
    pub async fn put_pending(&self, p: &PendingRow) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO pending_requests (id, kind, client_id, params, csrf, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&p.id)
        .bind(&p.kind)
        .bind(&p.client_id)
        .bind(&p.params)
        .bind(&p.csrf)
        .bind(p.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A pending request that has not expired.
    pub async fn pending(&self, id: &str, kind: &str, now: i64) -> Result<Option<PendingRow>> {
        let r = sqlx::query(
            "SELECT id, kind, client_id, params, csrf, expires_at FROM pending_requests \
             WHERE id = $1 AND kind = $2 AND expires_at > $3",
        )
        .bind(id)
        .bind(kind)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| {
            Ok(PendingRow {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                client_id: r.try_get("client_id")?,
                params: r.try_get("params")?,
                csrf: r.try_get("csrf")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Deletes a pending request; true when this call removed it (single use).
    pub async fn take_pending(&self, id: &str) -> Result<bool> {
        let _w = self.write().await;
        Ok(sqlx::query("DELETE FROM pending_requests WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            == 1)
    }

    // ---- sessions ----

    /// Stores a session.
    pub async fn put_session(&self, id_hash: &str, s: &SessionRow) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO sessions (id_hash, sid, user_id, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(&s.sid)
        .bind(&s.user_id)
        .bind(s.auth_time)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live session.
    pub async fn session(&self, id_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        let r = sqlx::query(
            "SELECT sid, user_id, auth_time, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| {
            Ok(SessionRow {
                sid: r.try_get("sid")?,
                user_id: r.try_get("user_id")?,
                auth_time: r.try_get("auth_time")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// A live session, its user and the user's consent for `client_id`, in one query (the authorization
    /// endpoint's hot path).
    pub async fn session_context(
        &self,
        id_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<SessionContext>> {
        if let Some(w) = &self.writer {
            return match w
                .submit(WriteOp::ReadSession {
                    id_hash: id_hash.to_owned(),
                    client_id: client_id.to_owned(),
                    now,
                })
                .await?
            {
                WriteOut::Session(s) => Ok(s),
                _ => Err(StoreError::Corrupt("engine answered the wrong kind".into())),
            };
        }
        let r = sqlx::query(&format!(
            "SELECT s.sid, s.user_id, s.auth_time, s.expires_at, {JOINED_USER_COLUMNS}, c.scope AS consent \
             FROM sessions s LEFT JOIN users u ON u.id = s.user_id \
             LEFT JOIN consents c ON c.user_id = s.user_id AND c.client_id = $2 \
             WHERE s.id_hash = $1 AND s.expires_at > $3"
        ))
        .bind(id_hash)
        .bind(client_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| {
            Ok(SessionContext {
                session: SessionRow {
                    sid: r.try_get("sid")?,
                    user_id: r.try_get("user_id")?,
                    auth_time: r.try_get("auth_time")?,
                    expires_at: r.try_get("expires_at")?,
                },
                user: joined_user(&r)?,
                consent: r.try_get("consent")?,
            })
        })
        .transpose()
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        let _w = self.write().await;
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- consents ----

    /// The scope a user consented to for a client.
    pub async fn consent(&self, user_id: &str, client_id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Remembers consent.
    pub async fn put_consent(&self, user_id: &str, client_id: &str, scope: &str) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scope) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- grants and tokens ----

    /// Stores a grant and, in the same transaction, the code, access token and refresh token issued with it.
    pub async fn issue(
        &self,
        g: &GrantRow,
        code: Option<(&str, &CodeRow)>,
        access: Option<AccessInsert<'_>>,
        refresh: Option<(&str, &str, i64)>,
        now: i64,
    ) -> Result<()> {
        if let Some(w) = &self.writer {
            let op = WriteOp::Issue {
                grant: Box::new(g.clone()),
                code: code.map(|(h, c)| (h.to_owned(), c.clone())),
                access: access.map(owned_access),
                refresh: refresh.map(owned_refresh),
                now,
            };
            return w.submit(op).await.map(|_| ());
        }
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        issue_on(&mut tx, g, code, access, refresh, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds tokens to an existing grant (code exchange, refresh).
    pub async fn add_tokens(
        &self,
        grant_id: &str,
        access: Option<AccessInsert<'_>>,
        refresh: Option<(&str, &str, i64)>,
    ) -> Result<()> {
        if let Some(w) = &self.writer {
            let op = WriteOp::AddTokens {
                grant_id: grant_id.to_owned(),
                access: access.map(owned_access),
                refresh: refresh.map(owned_refresh),
            };
            return w.submit(op).await.map(|_| ());
        }
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        insert_tokens(&mut tx, grant_id, access, refresh).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A grant by id.
    pub async fn grant(&self, id: &str) -> Result<Option<GrantRow>> {
        sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM grants g WHERE g.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(grant_from)
        .transpose()
    }

    /// A grant by id with its user.
    pub async fn grant_with_user(&self, id: &str) -> Result<Option<GrantWithUser>> {
        let mut conn = self.pool.acquire().await?;
        grant_with_user_on(&mut conn, id).await
    }

    /// Revokes a grant and deletes every token issued from it.
    pub async fn revoke_grant(&self, id: &str) -> Result<()> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE grants SET revoked = 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM access_tokens WHERE grant_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE grant_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Consumes a code: marks it used if it was not, atomically, and reads its grant and user.
    pub async fn consume_code(&self, key: &TokenKey) -> Result<Consumed<CodeGrant>> {
        self.consume(key, None).await
    }

    /// [`Store::consume_code`], and in the same transaction stores `tokens` on the code's grant if the code
    /// is fresh and the grant exists and is not revoked ([`CodeGrant::tokens_stored`] says whether they were).
    pub async fn consume_code_and_store(
        &self,
        key: &TokenKey,
        tokens: &CodeTokens,
    ) -> Result<Consumed<CodeGrant>> {
        self.consume(key, Some(tokens)).await
    }

    /// Redeems a sealed code ([`crate::sealing::CodeSealer`]): stores `grant` (the grant the code carries,
    /// under the id sealed in it) and `tokens` on it, in one transaction, unless a grant with that id exists
    /// already — then the code was redeemed before and this is a replay ([`Consumed::Replayed`] with the grant
    /// id; nothing is stored). [`Consumed::Fresh`] carries the grant's user, read in the same round trip; the
    /// tokens were stored. Never [`Consumed::Unknown`]: the sealed code itself proves it was issued.
    ///
    /// As with [`Store::consume_code_and_store`], the caller checks the code afterwards (client, redirect
    /// URI, PKCE, expiry) and revokes the grant if it refuses.
    pub async fn redeem_sealed_code(
        &self,
        grant: &GrantRow,
        tokens: &CodeTokens,
        now: i64,
    ) -> Result<Consumed<Option<UserRow>>> {
        if let Some(w) = &self.writer {
            let op = WriteOp::RedeemCode {
                grant: Box::new(grant.clone()),
                tokens: tokens.clone(),
                now,
            };
            return match w.submit(op).await? {
                WriteOut::Redeemed(c) => Ok(c),
                _ => Err(StoreError::Corrupt("engine answered the wrong kind".into())),
            };
        }
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        let on_grant = tokens.access_in_grant.then_some((
            tokens.access_key.as_str(),
            tokens.access_expires_at,
            tokens.cnf.as_deref(),
        ));
        let inserted = insert_grant(&mut tx, grant, now, on_grant, true).await?;
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(Consumed::Replayed(grant.id.clone()));
        }
        insert_tokens(
            &mut tx,
            &grant.id,
            (!tokens.access_in_grant).then_some((
                tokens.access_key.as_str(),
                grant.scope.as_str(),
                tokens.access_expires_at,
                tokens.cnf.as_deref(),
            )),
            tokens
                .refresh
                .as_ref()
                .map(|(k, e)| (k.as_str(), grant.scope.as_str(), *e)),
        )
        .await?;
        let user = match &grant.user_id {
            Some(id) => user_on(&mut tx, id).await?,
            None => None,
        };
        tx.commit().await?;
        Ok(Consumed::Fresh(user))
    }

    async fn consume(
        &self,
        key: &TokenKey,
        tokens: Option<&CodeTokens>,
    ) -> Result<Consumed<CodeGrant>> {
        if let Some(w) = &self.writer {
            let op = WriteOp::ConsumeCode {
                key: key.clone(),
                tokens: tokens.cloned(),
            };
            return match w.submit(op).await? {
                WriteOut::Code(c) => Ok(c),
                _ => Err(StoreError::Corrupt("engine answered the wrong kind".into())),
            };
        }
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        let c = consume_code_on(&mut tx, key).await?;
        let out = match c {
            Consumed::Fresh(code) => {
                let (grant, user) = match grant_with_user_on(&mut tx, &code.grant_id).await? {
                    Some((g, u)) => (Some(g), u),
                    None => (None, None),
                };
                let mut tokens_stored = false;
                if let (Some(t), Some(g)) = (tokens, grant.as_ref().filter(|g| !g.revoked)) {
                    insert_tokens(
                        &mut tx,
                        &g.id,
                        Some((
                            &t.access_key,
                            &g.scope,
                            t.access_expires_at,
                            t.cnf.as_deref(),
                        )),
                        t.refresh
                            .as_ref()
                            .map(|(k, e)| (k.as_str(), g.scope.as_str(), *e)),
                    )
                    .await?;
                    tokens_stored = true;
                }
                Consumed::Fresh(CodeGrant {
                    code,
                    grant,
                    user,
                    tokens_stored,
                })
            }
            Consumed::Replayed(g) => Consumed::Replayed(g),
            Consumed::Unknown => Consumed::Unknown,
        };
        tx.commit().await?;
        Ok(out)
    }

    /// Consumes a refresh token (rotation): marks it used if it was not, atomically. Returns the grant and
    /// the token's scope.
    pub async fn consume_refresh(
        &self,
        key: &TokenKey,
        now: i64,
    ) -> Result<Consumed<(GrantRow, String)>> {
        let _w = self.write().await;
        for k in key.candidates() {
            let n = sqlx::query(
                "UPDATE refresh_tokens SET used = 1 WHERE hash = $1 AND used = 0 AND expires_at > $2",
            )
            .bind(k)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
            let row = sqlx::query(&format!(
                "SELECT {GRANT_COLUMNS}, r.scope AS token_scope, r.expires_at AS token_exp \
                 FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.hash = $1"
            ))
            .bind(k)
            .fetch_optional(&self.pool)
            .await?;
            let Some(r) = row else {
                continue;
            };
            let g = grant_from(&r)?;
            let exp: i64 = r.try_get("token_exp")?;
            return if n == 1 {
                Ok(Consumed::Fresh((g, r.try_get("token_scope")?)))
            } else if exp <= now {
                Ok(Consumed::Unknown)
            } else {
                Ok(Consumed::Replayed(g.id))
            };
        }
        Ok(Consumed::Unknown)
    }

    /// A live access token with its (unrevoked) grant.
    pub async fn access_token(&self, key: &TokenKey, now: i64) -> Result<Option<AccessTokenRow>> {
        if let Some(w) = &self.writer {
            return match w
                .submit(WriteOp::ReadAccess {
                    key: key.clone(),
                    now,
                })
                .await?
            {
                WriteOut::Access(a) => Ok(a),
                _ => Err(StoreError::Corrupt("engine answered the wrong kind".into())),
            };
        }
        if let Some((grant_id, hash)) = &key.grant {
            return self.grant_access_token(grant_id, hash, now).await;
        }
        for k in key.candidates() {
            let r = sqlx::query(&format!(
                "SELECT {GRANT_COLUMNS}, a.scope AS token_scope, a.expires_at AS token_exp, a.cnf AS token_cnf, \
                 {JOINED_USER_COLUMNS} \
                 FROM access_tokens a JOIN grants g ON g.id = a.grant_id LEFT JOIN users u ON u.id = g.user_id \
                 WHERE a.hash = $1 AND a.expires_at > $2 AND g.revoked = 0"
            ))
            .bind(k)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(r) = r {
                return Ok(Some(AccessTokenRow {
                    grant: grant_from(&r)?,
                    scope: r.try_get("token_scope")?,
                    expires_at: r.try_get("token_exp")?,
                    cnf: r.try_get("token_cnf")?,
                    user: joined_user(&r)?,
                }));
            }
        }
        Ok(None)
    }

    /// An access token kept on its grant ([`TokenKey::grant`]), through the pool.
    async fn grant_access_token(
        &self,
        grant_id: &str,
        hash: &str,
        now: i64,
    ) -> Result<Option<AccessTokenRow>> {
        let r = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS}, g.access_hash AS token_hash, g.access_expires_at AS token_exp, \
             g.access_cnf AS token_cnf, {JOINED_USER_COLUMNS} \
             FROM grants g LEFT JOIN users u ON u.id = g.user_id \
             WHERE g.id = $1 AND g.revoked = 0 AND g.access_hash IS NOT NULL"
        ))
        .bind(grant_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = r else {
            return Ok(None);
        };
        let stored: String = r.try_get("token_hash")?;
        let expires_at: i64 = r.try_get("token_exp")?;
        if !grant_token_matches(&stored, hash) || expires_at <= now {
            return Ok(None);
        }
        let grant = grant_from(&r)?;
        Ok(Some(AccessTokenRow {
            scope: grant.scope.clone(),
            grant,
            expires_at,
            cnf: r.try_get("token_cnf")?,
            user: joined_user(&r)?,
        }))
    }

    /// A live refresh token's grant id and client (for revocation and introspection).
    pub async fn refresh_token_grant(
        &self,
        key: &TokenKey,
        now: i64,
    ) -> Result<Option<(GrantRow, String, i64)>> {
        for k in key.candidates() {
            let r = sqlx::query(&format!(
                "SELECT {GRANT_COLUMNS}, r.scope AS token_scope, r.expires_at AS token_exp \
                 FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id \
                 WHERE r.hash = $1 AND r.expires_at > $2 AND r.used = 0 AND g.revoked = 0"
            ))
            .bind(k)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(r) = r {
                return Ok(Some((
                    grant_from(&r)?,
                    r.try_get("token_scope")?,
                    r.try_get("token_exp")?,
                )));
            }
        }
        Ok(None)
    }

    /// Deletes one access token.
    pub async fn delete_access_token(&self, key: &TokenKey) -> Result<()> {
        let _w = self.write().await;
        if let Some((grant_id, hash)) = &key.grant {
            sqlx::query(
                "UPDATE grants SET access_hash = NULL, access_expires_at = NULL, access_cnf = NULL \
                 WHERE id = $1 AND access_hash = $2",
            )
            .bind(grant_id)
            .bind(hash)
            .execute(&self.pool)
            .await?;
            return Ok(());
        }
        sqlx::query("DELETE FROM access_tokens WHERE hash IN ($1, $2)")
            .bind(&key.key)
            .bind(&key.legacy)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes what can no longer be used, in chunks of [`PURGE_CHUNK`] rows (each chunk a short write):
    /// expired access tokens, refresh tokens, sessions and pending requests; codes
    /// [`CODE_REPLAY_WINDOW`] seconds after they expired (until then a replay is still recognised and revokes
    /// the grant); grants older than `ages.grant` seconds (at least the code lifetime plus that window)
    /// that no token refers to any more. Codes, tokens and grants are looked for in key order among those
    /// issued at least their [`PurgeAges`] ago (see there). (Expired assertion `jti`s go whenever a new one
    /// is recorded.)
    pub async fn purge_expired(&self, now: i64, ages: &PurgeAges) -> Result<PurgeCounts> {
        let mut counts = PurgeCounts::default();
        let code_kept_until = now - CODE_REPLAY_WINDOW;
        // Codes and tokens: in key order up to the issue time after which nothing has expired yet, and
        // (rows of earlier versions) by expiry through the partial legacy indexes.
        let keyed: [(&str, i64, i64, &mut u64); 3] = [
            ("codes", code_kept_until, ages.code, &mut counts.codes),
            (
                "access_tokens",
                now,
                ages.access_token,
                &mut counts.access_tokens,
            ),
            (
                "refresh_tokens",
                now,
                ages.refresh_token,
                &mut counts.refresh_tokens,
            ),
        ];
        for (table, before, age, n) in keyed {
            let bound = key_bound(before.saturating_sub(age.max(0)));
            *n += self
                .purge_chunks(
                    &format!(
                        "DELETE FROM {table} WHERE hash IN (SELECT hash FROM {table} \
                         WHERE hash < $2 AND expires_at < $1 LIMIT {PURGE_CHUNK})"
                    ),
                    before,
                    Some(&bound),
                )
                .await?;
            *n += self
                .purge_chunks(
                    &format!(
                        "DELETE FROM {table} WHERE hash IN (SELECT hash FROM {table} \
                         WHERE length(hash) = 43 AND expires_at < $1 LIMIT {PURGE_CHUNK})"
                    ),
                    before,
                    None,
                )
                .await?;
        }
        for (table, key, n) in [
            ("sessions", "id_hash", &mut counts.sessions),
            ("pending_requests", "id", &mut counts.pending_requests),
        ] {
            *n += self
                .purge_chunks(
                    &format!(
                        "DELETE FROM {table} WHERE {key} IN \
                         (SELECT {key} FROM {table} WHERE expires_at < $1 LIMIT {PURGE_CHUNK})"
                    ),
                    now,
                    None,
                )
                .await?;
        }
        // A grant's code expires at most `code` seconds after the grant was made and was deleted above once
        // CODE_REPLAY_WINDOW more had passed: grants at least that old have no code left.
        let grant_min_age = ages
            .grant
            .max(CODE_REPLAY_WINDOW.saturating_add(ages.code.max(0)));
        let created_before = now.saturating_sub(grant_min_age);
        // (The access token kept on a grant keeps it too, until it expires; `now` is a plain integer.)
        let orphan = format!(
            "NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = g.id) \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id) \
             AND (g.access_expires_at IS NULL OR g.access_expires_at < {now})"
        );
        counts.grants += self
            .purge_chunks(
                &format!(
                    "DELETE FROM grants WHERE id IN (SELECT g.id FROM grants g WHERE g.id < $2 \
                     AND g.created_at < $1 AND {orphan} LIMIT {PURGE_CHUNK})"
                ),
                created_before,
                Some(&key_bound(created_before)),
            )
            .await?;
        counts.grants += self
            .purge_chunks(
                &format!(
                    "DELETE FROM grants WHERE id IN (SELECT g.id FROM grants g WHERE length(g.id) <> 34 \
                     AND g.created_at < $1 AND {orphan} LIMIT {PURGE_CHUNK})"
                ),
                created_before,
                None,
            )
            .await?;
        Ok(counts)
    }

    /// Runs a chunked `DELETE` (parameters: a time, and a key bound when given) until it deletes less than a
    /// chunk; each chunk is its own short write.
    async fn purge_chunks(&self, sql: &str, before: i64, bound: Option<&str>) -> Result<u64> {
        let mut total = 0;
        loop {
            let _w = self.write().await;
            let q = sqlx::query(sql).bind(before);
            let q = match bound {
                Some(b) => q.bind(b),
                None => q,
            };
            let d = q.execute(&self.pool).await?.rows_affected();
            total += d;
            if d < PURGE_CHUNK as u64 {
                return Ok(total);
            }
        }
    }

    /// Records a client assertion `jti`; false when it was seen before (replay).
    pub async fn record_jti(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool> {
        let _w = self.write().await;
        sqlx::query("DELETE FROM seen_jtis WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query(
            "INSERT INTO seen_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(client_id)
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }
}

/// Inserts grant `g` (created at `now`), with the access token kept on it if `on_grant` (hash, expiry,
/// `cnf`). With `if_new`, an existing row with the same id is left alone (0 rows inserted); without, it is an
/// error. Returns the number of rows inserted.
async fn insert_grant(
    conn: &mut AnyConnection,
    g: &GrantRow,
    now: i64,
    on_grant: Option<(&str, i64, Option<&str>)>,
    if_new: bool,
) -> Result<u64> {
    macro_rules! insert {
        () => {
            "INSERT INTO grants (id, client_id, user_id, scope, claims, auth_time, nonce, sid, cnf, revoked, \
             created_at, access_hash, access_expires_at, access_cnf) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, $13)"
        };
    }
    let sql = if if_new {
        concat!(insert!(), " ON CONFLICT (id) DO NOTHING")
    } else {
        insert!()
    };
    let (hash, expires_at, cnf) = match on_grant {
        Some((h, e, c)) => (Some(h), Some(e), c),
        None => (None, None, None),
    };
    Ok(sqlx::query(sql)
        .bind(&g.id)
        .bind(&g.client_id)
        .bind(&g.user_id)
        .bind(&g.scope)
        .bind(&g.claims)
        .bind(g.auth_time)
        .bind(&g.nonce)
        .bind(&g.sid)
        .bind(&g.cnf)
        .bind(now)
        .bind(hash)
        .bind(expires_at)
        .bind(cnf)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

async fn issue_on(
    conn: &mut AnyConnection,
    g: &GrantRow,
    code: Option<(&str, &CodeRow)>,
    access: Option<AccessInsert<'_>>,
    refresh: Option<(&str, &str, i64)>,
    now: i64,
) -> Result<()> {
    insert_grant(conn, g, now, None, false).await?;
    if let Some((hash, c)) = code {
        sqlx::query(
                "INSERT INTO codes (hash, grant_id, client_id, redirect_uri, code_challenge, code_challenge_method, expires_at, used) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
            )
            .bind(hash)
            .bind(&c.grant_id)
            .bind(&c.client_id)
            .bind(&c.redirect_uri)
            .bind(&c.code_challenge)
            .bind(&c.code_challenge_method)
            .bind(c.expires_at)
            .execute(&mut *conn)
            .await?;
    }
    insert_tokens(conn, &g.id, access, refresh).await
}
async fn insert_tokens(
    conn: &mut AnyConnection,
    grant_id: &str,
    access: Option<AccessInsert<'_>>,
    refresh: Option<(&str, &str, i64)>,
) -> Result<()> {
    if let Some((hash, scope, exp, cnf)) = access {
        sqlx::query(
            "INSERT INTO access_tokens (hash, grant_id, scope, expires_at, cnf) VALUES ($1, $2, $3, $4, $5)",
        )
            .bind(hash)
            .bind(grant_id)
            .bind(scope)
            .bind(exp)
            .bind(cnf)
            .execute(&mut *conn)
            .await?;
    }
    if let Some((hash, scope, exp)) = refresh {
        sqlx::query(
            "INSERT INTO refresh_tokens (hash, grant_id, scope, expires_at, used) VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(hash)
        .bind(grant_id)
        .bind(scope)
        .bind(exp)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn consume_code_on(conn: &mut AnyConnection, key: &TokenKey) -> Result<Consumed<CodeRow>> {
    for k in key.candidates() {
        // One statement on the fast path: mark used and read the row.
        let row = sqlx::query(
            "UPDATE codes SET used = 1 WHERE hash = $1 AND used = 0 \
             RETURNING grant_id, client_id, redirect_uri, code_challenge, code_challenge_method, expires_at",
        )
        .bind(k)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = row {
            return Ok(Consumed::Fresh(code_from(&r)?));
        }
        let used: Option<String> = sqlx::query_scalar("SELECT grant_id FROM codes WHERE hash = $1")
            .bind(k)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(grant_id) = used {
            return Ok(Consumed::Replayed(grant_id));
        }
    }
    Ok(Consumed::Unknown)
}

type OwnedAccess = (String, String, i64, Option<String>);
type OwnedRefresh = (String, String, i64);

fn owned_access(a: AccessInsert<'_>) -> OwnedAccess {
    (a.0.to_owned(), a.1.to_owned(), a.2, a.3.map(str::to_owned))
}

fn owned_refresh(r: (&str, &str, i64)) -> OwnedRefresh {
    (r.0.to_owned(), r.1.to_owned(), r.2)
}

fn code_from(r: &impl Cols) -> Result<CodeRow> {
    Ok(CodeRow {
        grant_id: r.text("grant_id")?,
        client_id: r.text("client_id")?,
        redirect_uri: r.opt_text("redirect_uri")?,
        code_challenge: r.opt_text("code_challenge")?,
        code_challenge_method: r.opt_text("code_challenge_method")?,
        expires_at: r.int("expires_at")?,
    })
}

/// A grant and its user (none for client credentials, or a removed user).
pub type GrantWithUser = (GrantRow, Option<UserRow>);

fn user_on<'a>(
    conn: &'a mut AnyConnection,
    id: &'a str,
) -> futures_core::future::BoxFuture<'a, Result<Option<UserRow>>> {
    Box::pin(async move {
        sqlx::query("SELECT id, username, password_hash, claims FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .as_ref()
            .map(Store::user_from)
            .transpose()
    })
}

fn grant_with_user_on<'a>(
    conn: &'a mut AnyConnection,
    id: &'a str,
) -> futures_core::future::BoxFuture<'a, Result<Option<GrantWithUser>>> {
    Box::pin(async move {
        let r = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS}, {JOINED_USER_COLUMNS} FROM grants g \
             LEFT JOIN users u ON u.id = g.user_id WHERE g.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        r.map(|r| Ok((grant_from(&r)?, joined_user(&r)?)))
            .transpose()
    })
}

/// A hot-path operation, applied by the SQLite engine task (writes, and the two hot reads).
enum WriteOp {
    Issue {
        grant: Box<GrantRow>,
        code: Option<(String, CodeRow)>,
        access: Option<OwnedAccess>,
        refresh: Option<OwnedRefresh>,
        now: i64,
    },
    AddTokens {
        grant_id: String,
        access: Option<OwnedAccess>,
        refresh: Option<OwnedRefresh>,
    },
    ConsumeCode {
        key: TokenKey,
        tokens: Option<CodeTokens>,
    },
    RedeemCode {
        grant: Box<GrantRow>,
        tokens: CodeTokens,
        now: i64,
    },
    ReadSession {
        id_hash: String,
        client_id: String,
        now: i64,
    },
    ReadAccess {
        key: TokenKey,
        now: i64,
    },
}

impl WriteOp {
    fn writes(&self) -> bool {
        !matches!(
            self,
            WriteOp::ReadSession { .. } | WriteOp::ReadAccess { .. }
        )
    }
}

enum WriteOut {
    Unit,
    Code(Consumed<CodeGrant>),
    Redeemed(Consumed<Option<UserRow>>),
    Session(Option<SessionContext>),
    Access(Option<AccessTokenRow>),
}

/// What the engine does with a row of its script: every row names its statement in a `part` column.
const PART_FRESH: &str = "fresh";
const PART_PRESENTED: &str = "presented";
const PART_SESSION: &str = "session";
const PART_CONSENT: &str = "consent";
const PART_ACCESS: &str = "access";
const PART_REDEEMED: &str = "redeemed";
const PART_USER: &str = "user";
const PART_GRANT_ACCESS: &str = "grant_access";

/// The parts an engine script is made of, as bits of a mask: a batch's script holds only the parts its
/// operations need (an empty statement still opens its cursors, and a batch runs a few hundred microseconds
/// apart from the next). In script order, each with its JSON array parameters:
/// - [`P_REDEEM`]: redeemed sealed codes. Their tokens (twice; rows of grant id, access key, scope, access
///   expiry, cnf, refresh key, refresh expiry), their grants (rows in the grants' column order), their
///   users' ids.
/// - [`P_GRANTS`], [`P_CODES`], [`P_ACCESS`], [`P_REFRESH`]: rows to insert, each an array in column order.
/// - [`P_CODE_TOKENS`]: the tokens to store with consumed codes (twice; rows of code key, access key, access
///   expiry, cnf, refresh key, refresh expiry). Always with [`P_CONSUME`].
/// - [`P_CONSUME`]: the presented codes' keys (twice: the `UPDATE` that consumes them and the read of their
///   grants and users).
/// - [`P_SESSIONS`]: sessions (with their users) and their users' consents, by id hash (twice).
/// - [`P_ACCESS_READ`]: access tokens of unrevoked grants (with the grants' users), by stored key.
/// - [`P_GRANT_ACCESS`]: unrevoked grants holding an access token ([`TokenKey::grant`]), with their users.
///
/// The tokens of a consumed code are inserted just before the `UPDATE` that consumes it, on the same
/// condition (`used = 0`, in the same write transaction): exactly the codes this batch marks used get them,
/// and only if their grant exists and is not revoked. Likewise the tokens of a redeemed sealed code go in just
/// before its grant, on the condition that makes the grant's insert succeed (no grant with its id yet): a
/// replay stores nothing. Each grant id is in a batch at most once (see [`apply_batch`]).
const P_REDEEM: u16 = 1;
/// See [`P_REDEEM`].
const P_GRANTS: u16 = 1 << 1;
/// See [`P_REDEEM`].
const P_CODES: u16 = 1 << 2;
/// See [`P_REDEEM`].
const P_ACCESS: u16 = 1 << 3;
/// See [`P_REDEEM`].
const P_REFRESH: u16 = 1 << 4;
/// See [`P_REDEEM`].
const P_CODE_TOKENS: u16 = 1 << 5;
/// See [`P_REDEEM`].
const P_CONSUME: u16 = 1 << 6;
/// See [`P_REDEEM`].
const P_SESSIONS: u16 = 1 << 7;
/// See [`P_REDEEM`].
const P_ACCESS_READ: u16 = 1 << 8;
/// See [`P_REDEEM`].
const P_GRANT_ACCESS: u16 = 1 << 9;
/// The parts that write: a script with any of them runs in a write transaction.
const P_WRITES: u16 =
    P_REDEEM | P_GRANTS | P_CODES | P_ACCESS | P_REFRESH | P_CODE_TOKENS | P_CONSUME;
const P_ALL: usize = 1 << 10;

/// Every part's statements, in script order.
fn script_parts() -> &'static [(u16, String)] {
    static PARTS: std::sync::OnceLock<Vec<(u16, String)>> = std::sync::OnceLock::new();
    PARTS.get_or_init(|| {
        vec![
            (
                P_REDEEM,
                // Each row is read from a materialized copy of the array (`t.r`): `json_each`'s `value` of an
                // array element is rendered anew as text for every `->>` that names it.
                format!(
                    "WITH t(r) AS MATERIALIZED (SELECT value FROM json_each(?)) \
                     INSERT INTO access_tokens (hash, grant_id, scope, expires_at, cnf) \
                     SELECT r->>1, r->>0, r->>2, r->>3, r->>4 FROM t \
                     WHERE r->>7 = 0 AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = r->>0);
                     WITH t(r) AS MATERIALIZED (SELECT value FROM json_each(?)) \
                     INSERT INTO refresh_tokens (hash, grant_id, scope, expires_at, used) \
                     SELECT r->>5, r->>0, r->>2, r->>6, 0 FROM t \
                     WHERE r->>5 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = r->>0);
                     WITH t(r) AS MATERIALIZED (SELECT value FROM json_each(?)) \
                     INSERT INTO grants (id, client_id, user_id, scope, claims, auth_time, nonce, sid, cnf, revoked, \
                     created_at, access_hash, access_expires_at, access_cnf) SELECT r->>0, r->>1, r->>2, \
                     r->>3, r->>4, r->>5, r->>6, r->>7, r->>8, 0, r->>9, r->>10, \
                     r->>11, r->>12 FROM t WHERE true ON CONFLICT (id) DO NOTHING \
                     RETURNING '{PART_REDEEMED}' AS part, id;
                     SELECT '{PART_USER}' AS part, {JOINED_USER_COLUMNS} FROM users u \
                     WHERE u.id IN (SELECT value FROM json_each(?));"
                ),
            ),
            (
                P_GRANTS,
                "INSERT INTO grants (id, client_id, user_id, scope, claims, auth_time, nonce, sid, cnf, revoked, \
                 created_at) SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, \
                 value->>7, value->>8, 0, value->>9 FROM json_each(?);"
                    .into(),
            ),
            (
                P_CODES,
                "INSERT INTO codes (hash, grant_id, client_id, redirect_uri, code_challenge, code_challenge_method, \
                 expires_at, used) SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, \
                 value->>6, 0 FROM json_each(?);"
                    .into(),
            ),
            (
                P_ACCESS,
                "INSERT INTO access_tokens (hash, grant_id, scope, expires_at, cnf) \
                 SELECT value->>0, value->>1, value->>2, value->>3, value->>4 FROM json_each(?);"
                    .into(),
            ),
            (
                P_REFRESH,
                "INSERT INTO refresh_tokens (hash, grant_id, scope, expires_at, used) \
                 SELECT value->>0, value->>1, value->>2, value->>3, 0 FROM json_each(?);"
                    .into(),
            ),
            (
                P_CODE_TOKENS,
                "INSERT INTO access_tokens (hash, grant_id, scope, expires_at, cnf) \
                 SELECT t.value->>1, c.grant_id, g.scope, t.value->>2, t.value->>3 FROM json_each(?) t \
                 CROSS JOIN codes c ON c.hash = t.value->>0 CROSS JOIN grants g ON g.id = c.grant_id \
                 WHERE c.used = 0 AND g.revoked = 0;
                 INSERT INTO refresh_tokens (hash, grant_id, scope, expires_at, used) \
                 SELECT t.value->>4, c.grant_id, g.scope, t.value->>5, 0 FROM json_each(?) t \
                 CROSS JOIN codes c ON c.hash = t.value->>0 CROSS JOIN grants g ON g.id = c.grant_id \
                 WHERE t.value->>4 IS NOT NULL AND c.used = 0 AND g.revoked = 0;"
                    .into(),
            ),
            (
                P_CONSUME,
                format!(
                    "UPDATE codes SET used = 1 WHERE used = 0 AND hash IN (SELECT value FROM json_each(?)) \
                     RETURNING '{PART_FRESH}' AS part, hash, grant_id, client_id, redirect_uri, code_challenge, \
                     code_challenge_method, expires_at;
                     SELECT '{PART_PRESENTED}' AS part, c.hash AS code_hash, c.grant_id AS code_grant, \
                     {GRANT_COLUMNS}, {JOINED_USER_COLUMNS} FROM codes c LEFT JOIN grants g ON g.id = c.grant_id \
                     LEFT JOIN users u ON u.id = g.user_id WHERE c.hash IN (SELECT value FROM json_each(?));"
                ),
            ),
            (
                P_SESSIONS,
                format!(
                    "SELECT '{PART_SESSION}' AS part, s.id_hash, s.sid, s.user_id, s.auth_time, s.expires_at, \
                     {JOINED_USER_COLUMNS} FROM sessions s LEFT JOIN users u ON u.id = s.user_id \
                     WHERE s.id_hash IN (SELECT value FROM json_each(?));
                     SELECT '{PART_CONSENT}' AS part, user_id, client_id, scope FROM consents WHERE user_id IN \
                     (SELECT user_id FROM sessions WHERE id_hash IN (SELECT value FROM json_each(?)));"
                ),
            ),
            (
                P_ACCESS_READ,
                format!(
                    "SELECT '{PART_ACCESS}' AS part, {GRANT_COLUMNS}, a.hash AS token_hash, a.scope AS token_scope, \
                     a.expires_at AS token_exp, a.cnf AS token_cnf, {JOINED_USER_COLUMNS} \
                     FROM access_tokens a JOIN grants g ON g.id = a.grant_id LEFT JOIN users u ON u.id = g.user_id \
                     WHERE a.hash IN (SELECT value FROM json_each(?)) AND g.revoked = 0;"
                ),
            ),
            (
                P_GRANT_ACCESS,
                format!(
                    "SELECT '{PART_GRANT_ACCESS}' AS part, {GRANT_COLUMNS}, g.access_hash AS token_hash, \
                     g.scope AS token_scope, g.access_expires_at AS token_exp, g.access_cnf AS token_cnf, \
                     {JOINED_USER_COLUMNS} FROM grants g LEFT JOIN users u ON u.id = g.user_id \
                     WHERE g.id IN (SELECT value FROM json_each(?)) AND g.revoked = 0 \
                     AND g.access_hash IS NOT NULL;"
                ),
            ),
        ]
    })
}

/// The engine's script for the parts in `mask` (see [`P_REDEEM`]): one transaction, a write transaction
/// (`BEGIN IMMEDIATE`) if any part writes, else a read transaction (no write lock). Built once per mask, so
/// each text is prepared once per connection, and a whole batch is one round trip to the SQLite worker thread.
fn script(mask: u16) -> &'static str {
    static SCRIPTS: [std::sync::OnceLock<String>; P_ALL] =
        [const { std::sync::OnceLock::new() }; P_ALL];
    SCRIPTS[usize::from(mask) % P_ALL].get_or_init(|| {
        let mut s = String::from(if mask & P_WRITES != 0 {
            "BEGIN IMMEDIATE;\n"
        } else {
            "BEGIN;\n"
        });
        for (bit, sql) in script_parts() {
            if mask & bit != 0 {
                s.push_str(sql);
                s.push('\n');
            }
        }
        s.push_str("COMMIT;");
        s
    })
}

/// Whether the hash stored on a grant is the presented token's (constant time: no timing tells how much of a
/// guessed token's hash matched).
fn grant_token_matches(stored: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    stored.len() == presented.len() && bool::from(stored.as_bytes().ct_eq(presented.as_bytes()))
}

/// A JSON array of the distinct `keys` (the `IN` lists of the engine's scripts).
fn key_list(mut keys: Vec<&str>) -> Result<String> {
    keys.sort_unstable();
    keys.dedup();
    json_rows(&keys)
}

fn json_rows<T: serde::Serialize>(rows: &[T]) -> Result<String> {
    serde_json::to_string(rows)
        .map_err(|e| StoreError::Corrupt(format!("engine batch encoding: {e}")))
}

/// Applies a whole batch as one script of the parts it needs ([`script`]): the sealed codes it redeems, the
/// grants, codes, access tokens and refresh tokens it inserts, one `UPDATE … RETURNING` for the codes it
/// consumes and one read of all presented codes' grants and users, then the hot reads. Nobody can present a
/// code before the batch that stores it commits, so consuming after inserting within one batch is not an
/// ordering concern. A code is looked up under both its time-ordered key and the bare hash earlier versions
/// stored.
async fn apply_batch(conn: &mut SqliteConnection, ops: &[WriteOp]) -> Result<Vec<WriteOut>> {
    let mut grants = Vec::new();
    let mut codes = Vec::new();
    let mut access = Vec::new();
    let mut refresh = Vec::new();
    let mut consume: Vec<&str> = Vec::new();
    let mut consumers = std::collections::HashSet::new();
    let mut code_tokens = Vec::new();
    let mut session_reads: Vec<&str> = Vec::new();
    let mut access_reads: Vec<&str> = Vec::new();
    let mut grant_access_reads: Vec<&str> = Vec::new();
    // Sealed codes: the first redemption of each grant id in the batch goes to the database; any later one
    // is a replay without asking.
    let mut redeemers = std::collections::HashSet::new();
    let mut redeem_tokens = Vec::new();
    let mut redeem_grants = Vec::new();
    let mut redeem_users: Vec<&str> = Vec::new();
    for op in ops {
        match op {
            WriteOp::RedeemCode {
                grant: g,
                tokens: t,
                now,
            } => {
                if !redeemers.insert(g.id.as_str()) {
                    continue;
                }
                redeem_tokens.push((
                    &g.id,
                    &t.access_key,
                    &g.scope,
                    t.access_expires_at,
                    &t.cnf,
                    t.refresh.as_ref().map(|r| r.0.as_str()),
                    t.refresh.as_ref().map(|r| r.1),
                    i64::from(t.access_in_grant),
                ));
                let on_grant = t.access_in_grant.then_some(());
                redeem_grants.push((
                    &g.id,
                    &g.client_id,
                    &g.user_id,
                    &g.scope,
                    &g.claims,
                    g.auth_time,
                    &g.nonce,
                    &g.sid,
                    &g.cnf,
                    *now,
                    on_grant.map(|_| t.access_key.as_str()),
                    on_grant.map(|_| t.access_expires_at),
                    on_grant.and(t.cnf.as_deref()),
                ));
                redeem_users.extend(g.user_id.as_deref());
            }
            WriteOp::Issue {
                grant: g,
                code,
                access: a,
                refresh: r,
                now,
            } => {
                grants.push((
                    &g.id,
                    &g.client_id,
                    &g.user_id,
                    &g.scope,
                    &g.claims,
                    g.auth_time,
                    &g.nonce,
                    &g.sid,
                    &g.cnf,
                    *now,
                ));
                if let Some((h, c)) = code {
                    codes.push((
                        h,
                        &c.grant_id,
                        &c.client_id,
                        &c.redirect_uri,
                        &c.code_challenge,
                        &c.code_challenge_method,
                        c.expires_at,
                    ));
                }
                if let Some(a) = a {
                    access.push((&a.0, &g.id, &a.1, a.2, &a.3));
                }
                if let Some(r) = r {
                    refresh.push((&r.0, &g.id, &r.1, r.2));
                }
            }
            WriteOp::AddTokens {
                grant_id,
                access: a,
                refresh: r,
            } => {
                if let Some(a) = a {
                    access.push((&a.0, grant_id, &a.1, a.2, &a.3));
                }
                if let Some(r) = r {
                    refresh.push((&r.0, grant_id, &r.1, r.2));
                }
            }
            WriteOp::ConsumeCode { key, tokens } => {
                consume.extend(key.candidates());
                // Only the first presentation of a code in the batch can be fresh: only its tokens go in.
                if consumers.insert(key.key.as_str())
                    && let Some(t) = tokens
                {
                    for k in key.candidates() {
                        code_tokens.push((
                            k,
                            &t.access_key,
                            t.access_expires_at,
                            &t.cnf,
                            t.refresh.as_ref().map(|r| r.0.as_str()),
                            t.refresh.as_ref().map(|r| r.1),
                        ));
                    }
                }
            }
            WriteOp::ReadSession { id_hash, .. } => session_reads.push(id_hash.as_str()),
            WriteOp::ReadAccess { key, .. } => match &key.grant {
                Some((grant_id, _)) => grant_access_reads.push(grant_id.as_str()),
                None => access_reads.extend(key.candidates()),
            },
        }
    }
    let mut mask = 0;
    for (bit, present) in [
        (P_REDEEM, !redeem_grants.is_empty()),
        (P_GRANTS, !grants.is_empty()),
        (P_CODES, !codes.is_empty()),
        (P_ACCESS, !access.is_empty()),
        (P_REFRESH, !refresh.is_empty()),
        (P_CODE_TOKENS, !code_tokens.is_empty()),
        (P_CONSUME, !consume.is_empty()),
        (P_SESSIONS, !session_reads.is_empty()),
        (P_ACCESS_READ, !access_reads.is_empty()),
        (P_GRANT_ACCESS, !grant_access_reads.is_empty()),
    ] {
        if present {
            mask |= bit;
        }
    }
    let mut q = sqlx::query(script(mask));
    if mask & P_REDEEM != 0 {
        let redeem_tokens_json = json_rows(&redeem_tokens)?;
        q = q
            .bind(redeem_tokens_json.clone())
            .bind(redeem_tokens_json)
            .bind(json_rows(&redeem_grants)?)
            .bind(key_list(redeem_users)?);
    }
    if mask & P_GRANTS != 0 {
        q = q.bind(json_rows(&grants)?);
    }
    if mask & P_CODES != 0 {
        q = q.bind(json_rows(&codes)?);
    }
    if mask & P_ACCESS != 0 {
        q = q.bind(json_rows(&access)?);
    }
    if mask & P_REFRESH != 0 {
        q = q.bind(json_rows(&refresh)?);
    }
    if mask & P_CODE_TOKENS != 0 {
        let code_tokens_json = json_rows(&code_tokens)?;
        q = q.bind(code_tokens_json.clone()).bind(code_tokens_json);
    }
    if mask & P_CONSUME != 0 {
        let consume_json = key_list(consume)?;
        q = q.bind(consume_json.clone()).bind(consume_json);
    }
    if mask & P_SESSIONS != 0 {
        let sessions_json = key_list(session_reads)?;
        q = q.bind(sessions_json.clone()).bind(sessions_json);
    }
    if mask & P_ACCESS_READ != 0 {
        q = q.bind(key_list(access_reads)?);
    }
    if mask & P_GRANT_ACCESS != 0 {
        q = q.bind(key_list(grant_access_reads)?);
    }

    // Codes: those this batch marked used (fresh), and every presented code that exists with its grant and
    // user (the rest of them are replays).
    let mut fresh: std::collections::HashMap<String, CodeRow> = std::collections::HashMap::new();
    let mut presented: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut found: std::collections::HashMap<String, (GrantRow, Option<UserRow>)> =
        std::collections::HashMap::new();
    let mut sessions = std::collections::HashMap::new();
    let mut consents = std::collections::HashMap::new();
    let mut tokens_read = std::collections::HashMap::new();
    let mut grant_tokens_read = std::collections::HashMap::new();
    let mut redeemed = std::collections::HashSet::new();
    let mut users = std::collections::HashMap::new();
    {
        use futures_util::TryStreamExt as _;
        let mut rows = sqlx::Executor::fetch_many(&mut *conn, q);
        while let Some(step) = rows.try_next().await? {
            let sqlx::Either::Right(r) = step else {
                continue;
            };
            let part: String = r.try_get("part")?;
            match part.as_str() {
                PART_FRESH => {
                    fresh.insert(r.try_get("hash")?, code_from(&r)?);
                }
                PART_PRESENTED => {
                    presented.insert(r.try_get("code_hash")?, r.try_get("code_grant")?);
                    if r.opt_text("id")?.is_some() {
                        let g = grant_from(&r)?;
                        found.insert(g.id.clone(), (g, joined_user(&r)?));
                    }
                }
                PART_SESSION => {
                    let s = SessionRow {
                        sid: r.try_get("sid")?,
                        user_id: r.try_get("user_id")?,
                        auth_time: r.try_get("auth_time")?,
                        expires_at: r.try_get("expires_at")?,
                    };
                    let id_hash: String = r.try_get("id_hash")?;
                    sessions.insert(id_hash, (s, joined_user(&r)?));
                }
                PART_REDEEMED => {
                    redeemed.insert(r.try_get::<String, _>("id")?);
                }
                PART_USER => {
                    if let Some(u) = joined_user(&r)? {
                        users.insert(u.id.clone(), u);
                    }
                }
                PART_CONSENT => {
                    consents.insert(
                        (r.try_get("user_id")?, r.try_get("client_id")?),
                        r.try_get::<String, _>("scope")?,
                    );
                }
                PART_GRANT_ACCESS => {
                    grant_tokens_read.insert(
                        r.try_get::<String, _>("id")?,
                        (
                            r.try_get::<String, _>("token_hash")?,
                            AccessTokenRow {
                                grant: grant_from(&r)?,
                                scope: r.try_get("token_scope")?,
                                expires_at: r.try_get("token_exp")?,
                                cnf: r.try_get("token_cnf")?,
                                user: joined_user(&r)?,
                            },
                        ),
                    );
                }
                PART_ACCESS => {
                    tokens_read.insert(
                        r.try_get::<String, _>("token_hash")?,
                        AccessTokenRow {
                            grant: grant_from(&r)?,
                            scope: r.try_get("token_scope")?,
                            expires_at: r.try_get("token_exp")?,
                            cnf: r.try_get("token_cnf")?,
                            user: joined_user(&r)?,
                        },
                    );
                }
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "engine script returned a row of {other:?}"
                    )));
                }
            }
        }
    }
    // Presented codes that this batch did not mark used were used before: replays.
    let mut replayed: std::collections::HashMap<String, String> = presented
        .into_iter()
        .filter(|(h, _)| !fresh.contains_key(h))
        .collect();

    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        out.push(match op {
            WriteOp::Issue { .. } | WriteOp::AddTokens { .. } => WriteOut::Unit,
            // `remove`: a second redemption of the same grant id in this batch is a replay.
            WriteOp::RedeemCode { grant, .. } => {
                WriteOut::Redeemed(if redeemed.remove(&grant.id) {
                    Consumed::Fresh(grant.user_id.as_deref().and_then(|u| users.get(u)).cloned())
                } else {
                    Consumed::Replayed(grant.id.clone())
                })
            }
            WriteOp::ReadSession {
                id_hash,
                client_id,
                now,
            } => WriteOut::Session(
                sessions
                    .get(id_hash.as_str())
                    .filter(|(s, _)| s.expires_at > *now)
                    .map(|(s, u)| SessionContext {
                        session: s.clone(),
                        user: u.clone(),
                        consent: consents
                            .get(&(s.user_id.clone(), client_id.clone()))
                            .cloned(),
                    }),
            ),
            WriteOp::ReadAccess { key, now } => WriteOut::Access(
                match &key.grant {
                    Some((grant_id, hash)) => grant_tokens_read
                        .get(grant_id)
                        .filter(|(stored, _)| grant_token_matches(stored, hash))
                        .map(|(_, a)| a),
                    None => key.candidates().find_map(|k| tokens_read.get(k)),
                }
                .filter(|a| a.expires_at > *now)
                .cloned(),
            ),
            WriteOp::ConsumeCode { key, tokens } => WriteOut::Code(
                match fresh
                    .remove(&key.key)
                    .map(|c| (&key.key, c))
                    .or_else(|| fresh.remove(&key.legacy).map(|c| (&key.legacy, c)))
                {
                    // The first presentation in the batch wins; a second one of the same code is a replay.
                    Some((hash, code)) => {
                        replayed.insert(hash.clone(), code.grant_id.clone());
                        let (grant, user) = match found.get(&code.grant_id) {
                            Some((g, u)) => (Some(g.clone()), u.clone()),
                            None => (None, None),
                        };
                        // The script stored this op's tokens on the same conditions.
                        let tokens_stored =
                            tokens.is_some() && grant.as_ref().is_some_and(|g| !g.revoked);
                        Consumed::Fresh(CodeGrant {
                            code,
                            grant,
                            user,
                            tokens_stored,
                        })
                    }
                    None => match replayed.get(&key.key).or_else(|| replayed.get(&key.legacy)) {
                        Some(g) => Consumed::Replayed(g.clone()),
                        None => Consumed::Unknown,
                    },
                },
            ),
        });
    }
    Ok(out)
}

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
async fn checkpoints(
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
fn flush_handle(path: &std::path::Path) -> Option<std::sync::Arc<std::fs::File>> {
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

type Job = (WriteOp, tokio::sync::oneshot::Sender<Result<WriteOut>>);

/// Group commit for SQLite: one task owns a connection and applies every queued hot-path write of a moment in
/// one transaction (one WAL commit for many flows) with a few multi-row statements. All or nothing per batch:
/// if any write fails, the batch rolls back and every caller in it gets an error (none sees a partial write).
#[derive(Clone)]
struct Writer {
    tx: tokio::sync::mpsc::Sender<Job>,
}

const MAX_BATCH: usize = 256;

impl Writer {
    fn start(conn: SqliteConnection, lock: std::sync::Arc<tokio::sync::Mutex<()>>) -> Writer {
        let (tx, rx) = tokio::sync::mpsc::channel::<Job>(4 * MAX_BATCH);
        tokio::spawn(run_writer(conn, lock, rx));
        Writer { tx }
    }

    async fn submit(&self, op: WriteOp) -> Result<WriteOut> {
        let (otx, orx) = tokio::sync::oneshot::channel();
        self.tx
            .send((op, otx))
            .await
            .map_err(|_| StoreError::Corrupt("the writer stopped".into()))?;
        orx.await
            .map_err(|_| StoreError::Corrupt("the writer stopped".into()))?
    }
}

fn exec<'a>(
    conn: &'a mut SqliteConnection,
    sql: &'static str,
) -> futures_core::future::BoxFuture<'a, bool> {
    Box::pin(async move {
        use sqlx::Executor as _;
        conn.execute(sql).await.is_ok()
    })
}

fn apply_boxed<'a>(
    conn: &'a mut SqliteConnection,
    ops: &'a [WriteOp],
) -> futures_core::future::BoxFuture<'a, Result<Vec<WriteOut>>> {
    Box::pin(apply_batch(conn, ops))
}

async fn run_writer(
    mut conn: SqliteConnection,
    lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    mut rx: tokio::sync::mpsc::Receiver<Job>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (ops, senders): (Vec<WriteOp>, Vec<_>) = jobs.drain(..).unzip();
        let writes = ops.iter().any(WriteOp::writes);
        // Other writers (admin, sessions, pending requests) take the same lock, so nobody waits on SQLite's
        // busy handler. A batch of reads only needs neither the lock nor a write transaction (WAL readers see
        // the last commit).
        let _g = if writes {
            Some(lock.lock().await)
        } else {
            None
        };
        // The script begins and commits its own transaction; if any statement of it fails, the rest do not
        // run and the transaction is rolled back below.
        let result = apply_boxed(&mut conn, &ops).await;
        match result {
            Ok(outs) => {
                for (s, o) in senders.into_iter().zip(outs) {
                    let _ = s.send(Ok(o));
                }
            }
            Err(e) => {
                tracing::error!("write batch failed: {e}");
                let _ = exec(&mut conn, "ROLLBACK").await;
                for s in senders {
                    let _ = s.send(Err(StoreError::Corrupt("write batch rolled back".into())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_tokens_are_32_bytes_and_their_keys_sort_by_issue_time() {
        let before = crate::unix_millis();
        let a = crate::new_token();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let b = crate::new_token();
        assert_eq!(a.len(), 43);
        assert_eq!(portcullis_jose::base64url::decode(&a).unwrap().len(), 32);
        assert_ne!(a[8..], b[8..], "the random part differs");
        let (ka, kb) = (TokenKey::of(&a), TokenKey::of(&b));
        assert!(ka.key < kb.key, "{} < {}", ka.key, kb.key);
        let ms = u64::from_str_radix(&ka.key[..12], 16).unwrap();
        assert!(ms >= before && ms <= before + 1000, "{ms} vs {before}");
        assert_eq!(&ka.key[12..13], ".");
        assert_eq!(ka.key[13..], ka.legacy);
        assert_eq!(ka.legacy, crate::hash(&a));
        // Deterministic: the same token always finds the same row.
        assert_eq!(TokenKey::of(&a), ka);
    }

    #[test]
    fn foreign_tokens_have_only_the_bare_hash() {
        for t in ["", "not base64!", "c2hvcnQ", &"A".repeat(44)] {
            let k = TokenKey::of(t);
            assert_eq!(k.key, k.legacy, "{t:?}");
            assert_eq!(k.legacy, crate::hash(t));
        }
    }

    #[test]
    fn engine_key_lists_are_sorted_distinct_json_arrays() {
        assert_eq!(key_list(vec!["b", "a", "b"]).unwrap(), r#"["a","b"]"#);
        assert_eq!(key_list(vec![]).unwrap(), "[]");
        // Quotes and control characters are escaped by JSON, not spliced into SQL.
        assert_eq!(key_list(vec!["x\"'); --"]).unwrap(), r#"["x\"'); --"]"#);
    }

    #[test]
    fn engine_scripts_name_every_row() {
        // Parameters per part, in the order apply_batch binds them.
        let params = [
            (P_REDEEM, 4),
            (P_GRANTS, 1),
            (P_CODES, 1),
            (P_ACCESS, 1),
            (P_REFRESH, 1),
            (P_CODE_TOKENS, 2),
            (P_CONSUME, 2),
            (P_SESSIONS, 2),
            (P_ACCESS_READ, 1),
            (P_GRANT_ACCESS, 1),
        ];
        assert_eq!(params.len(), script_parts().len());
        for (i, ((bit, n), (part, sql))) in params.iter().zip(script_parts()).enumerate() {
            assert_eq!((bit, *n), (part, sql.matches('?').count()), "part {i}");
        }
        for mask in 0..P_ALL as u16 {
            let script = script(mask);
            // Every statement that returns rows labels them with its part.
            for stmt in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                if stmt.starts_with("SELECT") || stmt.contains("RETURNING") {
                    assert!(stmt.contains("AS part"), "{stmt}");
                }
            }
            let expected: usize = params
                .iter()
                .filter(|(b, _)| mask & b != 0)
                .map(|(_, n)| n)
                .sum();
            assert_eq!(script.matches('?').count(), expected, "mask {mask:#x}");
            assert!(script.ends_with("COMMIT;"));
            if mask & P_WRITES != 0 {
                assert!(script.starts_with("BEGIN IMMEDIATE;"), "mask {mask:#x}");
            } else {
                assert!(script.starts_with("BEGIN;"), "mask {mask:#x}");
                assert!(!script.contains("INSERT") && !script.contains("UPDATE"));
            }
        }
        // A code's tokens go in before the UPDATE that consumes it; a sealed code's before its grant.
        let all = script(P_ALL as u16 - 1);
        assert!(all.find("c.used = 0").unwrap() < all.find("UPDATE codes").unwrap());
        assert!(all.find("NOT EXISTS").unwrap() < all.find("ON CONFLICT").unwrap());
    }

    fn sqlite_url(dir: &tempfile::TempDir) -> String {
        format!("sqlite://{}", dir.path().join("t.db").display())
    }

    async fn page_size(store: &Store) -> i64 {
        sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    /// Two presentations of one code in one engine batch, each with tokens to store: the first is fresh and
    /// only its tokens go in; the second is a replay and stores nothing. Driven through [`apply_batch`] itself,
    /// so both are in one batch whatever the timing.
    #[tokio::test]
    async fn one_batch_stores_only_the_first_presentations_tokens() {
        use sqlx::ConnectOptions as _;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&sqlite_url(&dir)).await.unwrap();
        let now = 1_000;
        let grant = GrantRow {
            id: crate::time_ordered_id(),
            client_id: "c".into(),
            user_id: None,
            scope: "openid".into(),
            claims: None,
            auth_time: None,
            nonce: None,
            sid: None,
            cnf: None,
            revoked: false,
        };
        let code = CodeRow {
            grant_id: grant.id.clone(),
            client_id: "c".into(),
            redirect_uri: None,
            code_challenge: None,
            code_challenge_method: None,
            expires_at: now + 60,
        };
        let kc = TokenKey::of(&crate::new_token());
        store
            .issue(&grant, Some((&kc.key, &code)), None, None, now)
            .await
            .unwrap();
        let tokens = || {
            let (ka, kr) = (
                TokenKey::of(&crate::new_token()),
                TokenKey::of(&crate::new_token()),
            );
            let t = CodeTokens {
                access_key: ka.key.clone(),
                access_expires_at: now + 600,
                cnf: None,
                refresh: Some((kr.key.clone(), now + 600)),
                access_in_grant: false,
            };
            (t, ka, kr)
        };
        let ((t1, ka1, kr1), (t2, ka2, kr2)) = (tokens(), tokens());
        let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(&sqlite_url(&dir))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let ops = [
            WriteOp::ConsumeCode {
                key: kc.clone(),
                tokens: Some(t1),
            },
            WriteOp::ConsumeCode {
                key: kc.clone(),
                tokens: Some(t2),
            },
        ];
        let out = apply_batch(&mut conn, &ops).await.unwrap();
        assert!(matches!(
            &out[0],
            WriteOut::Code(Consumed::Fresh(CodeGrant {
                tokens_stored: true,
                ..
            }))
        ));
        assert!(matches!(&out[1], WriteOut::Code(Consumed::Replayed(g)) if *g == grant.id));
        assert!(store.access_token(&ka1, now).await.unwrap().is_some());
        assert!(
            store
                .refresh_token_grant(&kr1, now)
                .await
                .unwrap()
                .is_some()
        );
        assert!(store.access_token(&ka2, now).await.unwrap().is_none());
        assert!(
            store
                .refresh_token_grant(&kr2, now)
                .await
                .unwrap()
                .is_none()
        );
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_tokens")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(stored, 1, "one access token for the one fresh presentation");
        drop(conn);
        store.close().await;
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
        let store = Store::open(&sqlite_url(&old)).await.unwrap();
        assert_eq!(page_size(&store).await, 4096);
        store.setting_or_insert("k", "v").await.unwrap();
        assert_eq!(store.setting("k").await.unwrap().as_deref(), Some("v"));
        store.close().await;
    }

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

    #[test]
    fn time_ordered_ids_sort_by_creation() {
        let a = crate::time_ordered_id();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let b = crate::time_ordered_id();
        assert!(a < b);
        assert_eq!(a.len(), 12 + 22);
    }
}
