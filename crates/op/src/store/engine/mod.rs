//! SQLite only: the group-commit engine. One task owns a native connection and applies every hot-path
//! operation queued at a moment as one script: the operations ([`WriteOp`]), their answers ([`WriteOut`]),
//! the [`Writer`] handle and the task. What a batch's script holds is in `script.rs`; gathering a batch's
//! parameters and reading its rows back is in `batch.rs`.
//!
//! Must not run a checkpoint (`checkpoint.rs` does) nor be used on PostgreSQL.

use sqlx::sqlite::SqliteConnection;

use super::{
    AccessInsert, AccessTokenRow, CodeGrant, CodeRow, CodeTokens, Consumed, GrantRow, Result,
    SessionContext, StoreError, TokenKey, UserRow,
};
use batch::apply_batch;

mod batch;
mod script;

pub(super) type OwnedAccess = (String, String, i64, Option<String>);
pub(super) type OwnedRefresh = (String, String, i64);

pub(super) fn owned_access(a: AccessInsert<'_>) -> OwnedAccess {
    (a.0.to_owned(), a.1.to_owned(), a.2, a.3.map(str::to_owned))
}

pub(super) fn owned_refresh(r: (&str, &str, i64)) -> OwnedRefresh {
    (r.0.to_owned(), r.1.to_owned(), r.2)
}

/// A hot-path operation, applied by the SQLite engine task (writes, and the two hot reads).
pub(super) enum WriteOp {
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

pub(super) enum WriteOut {
    Unit,
    Code(Consumed<CodeGrant>),
    Redeemed(Consumed<Option<UserRow>>),
    Session(Option<SessionContext>),
    Access(Option<AccessTokenRow>),
}

type Job = (WriteOp, tokio::sync::oneshot::Sender<Result<WriteOut>>);

/// Group commit for SQLite: one task owns a connection and applies every queued hot-path write of a moment in
/// one transaction (one WAL commit for many flows) with a few multi-row statements. All or nothing per batch:
/// if any write fails, the batch rolls back and every caller in it gets an error (none sees a partial write).
#[derive(Clone)]
pub(super) struct Writer {
    tx: tokio::sync::mpsc::Sender<Job>,
}

const MAX_BATCH: usize = 256;

impl Writer {
    pub(super) fn start(
        conn: SqliteConnection,
        lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    ) -> Writer {
        let (tx, rx) = tokio::sync::mpsc::channel::<Job>(4 * MAX_BATCH);
        tokio::spawn(run_writer(conn, lock, rx));
        Writer { tx }
    }

    pub(super) async fn submit(&self, op: WriteOp) -> Result<WriteOut> {
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
