//! The account page's applications: those the signed-in user has consented to (`GET /account` lists them), and
//! withdrawing that consent (`POST /account/apps/remove`). A withdrawal forgets what was consented to, revokes
//! every grant the user gave the application with its access and refresh tokens, and makes a code issued before
//! it unredeemable ([`crate::store::Store::withdraw_consent`]); the application must ask again. It is recorded as
//! the audit event `consent` with the outcome `revoked`, with the client address.
//!
//! A withdrawal needs the session's cookie, a form posted from this site and the session's CSRF token
//! ([`super::account::change`]). It does not need a recent sign-in: taking access away only lowers what is
//! exposed.
//!
//! Must not: withdraw another user's consent, name an application the user has not consented to, or show a page
//! to a browser without a session.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::account::{SignedIn, change, show};
use crate::http::client_addr::ClientIp;
use crate::http::{self, HttpResult, db};
use crate::now;
use crate::provider::Provider;

/// The longest client id a withdrawal names, bytes (longer cannot be registered).
const MAX_CLIENT_ID: usize = 255;

/// One application on the account page.
pub struct AppItem {
    /// Its client id.
    pub id: String,
    /// Its registered name (`client_name`), or its id.
    pub name: String,
    /// The scopes the user consented to, space-separated.
    pub scope: String,
}

/// The applications `user_id` has consented to, by client id (a client removed since is left out).
pub(crate) async fn apps_of(p: &Provider, user_id: &str) -> HttpResult<Vec<AppItem>> {
    let mut apps = Vec::new();
    for (id, consent) in p.store.consents_of(user_id).await.map_err(db)? {
        if let Some(client) = p.client(&id).await? {
            apps.push(AppItem {
                name: client.name.clone(),
                id,
                scope: consent.scope,
            });
        }
    }
    Ok(apps)
}

/// `POST /account/apps/remove` (`client`): withdraws the session's user's consent from that application.
pub async fn remove(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    async {
        let (SignedIn { session, user, .. }, form) = change(&p, &headers, body).await?;
        let client = form.get("client").unwrap_or_default();
        let known = !client.is_empty()
            && client.len() <= MAX_CLIENT_ID
            && p.client(client).await?.is_some()
            && p.store
                .withdraw_consent(&user.id, client, now())
                .await
                .map_err(db)?;
        if !known {
            let m = "No such application.";
            return show(&p, &session, &user, Some(m), StatusCode::NOT_FOUND).await;
        }
        crate::audit::Audit {
            kind: "consent",
            outcome: "revoked",
            user_id: Some(&user.id),
            client_id: Some(client),
            address: Some(ip),
            detail: "",
        }
        .record(&p.store)
        .await;
        Ok(http::redirect("/account"))
    }
    .await
    .unwrap_or_else(|r| r)
}
