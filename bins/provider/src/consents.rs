//! `portcullis-provider user consents NAME [--revoke CLIENT]`: the applications a user has consented to or has a
//! live grant with (client id and the scopes consented to, one per line), or withdrawing that consent for the
//! user — as the account page's "Remove access" does: every grant revoked with its tokens, a code issued before
//! refused, the application must ask again. Recorded as the audit event `consent` `revoked` (by the admin
//! command).
//!
//! Must not: touch another user's consent, or record a withdrawal of nothing.

use portcullis_op::audit::Audit;
use portcullis_op::store::Store;

/// Lists `username`'s consents, or withdraws the one from `revoke`.
pub async fn run(store: &Store, username: &str, revoke: Option<&str>) -> Result<(), String> {
    let e = |e: portcullis_op::store::StoreError| e.to_string();
    let user = store
        .user_by_name(username)
        .await
        .map_err(e)?
        .ok_or_else(|| format!("no user {username}"))?;
    let Some(client) = revoke else {
        let listed = store.applications_of(&user.id).await.map_err(e)?;
        for (client, scope) in listed {
            println!("{client}\t{scope}");
        }
        return Ok(());
    };
    if !store.withdraw_consent(&user.id, client).await.map_err(e)? {
        return Err(format!("{username} has given {client} no access"));
    }
    Audit {
        kind: "consent",
        outcome: "revoked",
        user_id: Some(&user.id),
        client_id: Some(client),
        detail: "by the admin command",
        ..Default::default()
    }
    .record(store)
    .await;
    println!("{username}'s consent to {client} withdrawn; its grants and tokens revoked");
    Ok(())
}
