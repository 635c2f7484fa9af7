//! Audit events: what a security team must be able to reconstruct. Each is written to the database
//! (`audit_events`, listed by `portcullis-provider audit`) and logged (target `portcullis::audit`, level info).
//!
//! Recorded: sign-ins, succeeded and failed, by method (`sign_in`; a step-up factor's pass or failure is
//! `factor`), passkeys added and removed, factors enrolled, changed and removed (`account_change`), refresh token
//! reuse, consent given and refused, clients and keys changed by the admin command, and login-bridge postbacks.
//!
//! Must not: hold a secret (a password, a code, a token, a key) in an event, or fail the request it records: a
//! storage failure is logged as an error and the request goes on.

use std::net::IpAddr;

use crate::store::{AuditRow, Store};
use crate::{now, random_token};

/// An event about to be recorded.
#[derive(Debug, Clone, Default)]
pub struct Audit<'a> {
    /// What happened.
    pub kind: &'a str,
    /// `success`, `failure`, or what the kind says.
    pub outcome: &'a str,
    /// The user concerned.
    pub user_id: Option<&'a str>,
    /// The client concerned.
    pub client_id: Option<&'a str>,
    /// The client address.
    pub address: Option<IpAddr>,
    /// More (a method, a factor, a reason); never a secret.
    pub detail: &'a str,
}

impl Audit<'_> {
    /// Logs and stores the event.
    pub async fn record(&self, store: &Store) {
        // Ids sort in the order events were recorded (microseconds, then random): events of one second list
        // in order.
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let row = AuditRow {
            id: format!("{micros:020}-{}", &random_token()[..12]),
            at: now(),
            kind: self.kind.to_owned(),
            outcome: self.outcome.to_owned(),
            user_id: self.user_id.map(str::to_owned),
            client_id: self.client_id.map(str::to_owned),
            address: self.address.map(|a| a.to_string()),
            detail: self.detail.to_owned(),
        };
        tracing::info!(
            target: "portcullis::audit",
            kind = %row.kind,
            outcome = %row.outcome,
            user = row.user_id.as_deref().unwrap_or(""),
            client = row.client_id.as_deref().unwrap_or(""),
            address = row.address.as_deref().unwrap_or(""),
            detail = %row.detail,
            "audit"
        );
        if let Err(e) = store.record_audit(&row).await {
            tracing::error!("audit event not stored: {e}");
        }
    }
}
