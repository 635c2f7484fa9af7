//! The server-side state of a multi-step login method between its two steps (begin → the browser does
//! something → finish): kept in the database (the pending-requests table, kind `ceremony`) so that any node
//! can finish what another began; bound to the pending authorization request and the method that began it;
//! single use; expiring after [`LIFETIME`] seconds.
//!
//! Must not: hand the state to the browser (only its random id travels), or give it out twice.

use portcullis_oidc::Params;

use crate::now;
use crate::random_token;
use crate::store::{PendingRow, Store, StoreError};

/// How long a ceremony may take.
pub const LIFETIME: i64 = 300;
/// The largest state a method may keep.
pub const MAX_STATE: usize = 8 * 1024;

/// Why a ceremony cannot be finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyError {
    /// No such ceremony, expired, or already finished.
    Unknown,
    /// It was begun for another request or another method.
    Mismatch,
    /// The method's state is larger than [`MAX_STATE`].
    TooLarge,
}

/// Stores the state of a ceremony begun by `method` for the pending request `pending`; returns its id.
pub async fn begin(
    store: &Store,
    pending: &PendingRow,
    method: &str,
    state: &str,
) -> Result<Result<String, CeremonyError>, StoreError> {
    if state.len() > MAX_STATE {
        return Ok(Err(CeremonyError::TooLarge));
    }
    let id = random_token();
    let params = Params::from_pairs([
        ("pending", pending.id.as_str().into()),
        ("method", method.into()),
        ("state", state.into()),
    ]);
    store
        .put_pending(&PendingRow {
            id: id.clone(),
            kind: "ceremony".into(),
            client_id: pending.client_id.clone(),
            params: params.to_form(),
            csrf: String::new(),
            expires_at: now() + LIFETIME,
            browser: String::new(),
        })
        .await?;
    Ok(Ok(id))
}

/// Takes the state of ceremony `id`, which must have been begun by `method` for the pending request
/// `pending`. The ceremony is gone afterwards, whatever the answer (a mismatch burns it too).
pub async fn finish(
    store: &Store,
    id: &str,
    pending: &PendingRow,
    method: &str,
) -> Result<Result<String, CeremonyError>, StoreError> {
    let Some(row) = store.pending(id, "ceremony", now()).await? else {
        return Ok(Err(CeremonyError::Unknown));
    };
    if !store.take_pending(id).await? {
        return Ok(Err(CeremonyError::Unknown));
    }
    let Ok(params) = Params::parse(&row.params) else {
        return Ok(Err(CeremonyError::Unknown));
    };
    if params.get("pending") != Some(pending.id.as_str())
        || params.get("method") != Some(method)
        || row.client_id != pending.client_id
    {
        return Ok(Err(CeremonyError::Mismatch));
    }
    Ok(Ok(params.get("state").unwrap_or_default().to_owned()))
}
