//! The account page's applications: those the signed-in user has consented to or has a live grant with
//! (`GET /account` lists them), and withdrawing that consent (`POST /account/apps/remove`). A withdrawal forgets
//! what was consented to, revokes every grant the user gave the application with its access and refresh tokens,
//! and makes a code issued before it unredeemable ([`crate::store::Store::withdraw_consent`]); the application
//! must ask again. It is recorded as the audit event `consent` with the outcome `revoked`, with the client
//! address.
//!
//! A withdrawal needs the session's cookie, a form posted from this site and the session's CSRF token
//! ([`super::account::change`]). It does not need a recent sign-in: taking access away only lowers what is
//! exposed.
//!
//! Must not: withdraw another user's consent, record a withdrawal of nothing, or show a page to a browser without
//! a session.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::account::{SignedIn, change, show};
use crate::http::client_addr::ClientIp;
use crate::http::{self, HttpResult, db};
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

/// The applications `user_id` has consented to or has a live grant with, by client id. A client removed since
/// (or unknown) is listed by its id.
pub(crate) async fn apps_of(p: &Provider, user_id: &str) -> HttpResult<Vec<AppItem>> {
    let listed = p.store.applications_of(user_id).await.map_err(db)?;
    let mut apps = Vec::with_capacity(listed.len());
    for (id, scope) in listed {
        let name = match p.client(&id).await? {
            Some(client) => client.name.clone(),
            None => id.clone(),
        };
        apps.push(AppItem { id, name, scope });
    }
    Ok(apps)
}

/// `POST /account/apps/remove` (`client`): withdraws the session's user's consent from that application. The
/// withdrawal runs to its end even if the browser goes away meanwhile.
pub async fn remove(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    async {
        let (SignedIn { session, user, .. }, form) = change(&p, &headers, body).await?;
        let client = form.get("client").unwrap_or_default().to_owned();
        let withdrawn = !client.is_empty()
            && client.len() <= MAX_CLIENT_ID
            && withdraw(&p, &user.id, &client, ip).await?;
        if !withdrawn {
            let m = "No such application.";
            return show(&p, &session, &user, Some(m), StatusCode::NOT_FOUND).await;
        }
        Ok(http::redirect("/account"))
    }
    .await
    .unwrap_or_else(|r| r)
}

/// [`crate::store::Store::withdraw_consent`] and its audit event in a task of their own: a request cancelled
/// (the browser went away) cuts neither short.
async fn withdraw(
    p: &Arc<Provider>,
    user_id: &str,
    client_id: &str,
    ip: std::net::IpAddr,
) -> HttpResult<bool> {
    let (store, user_id, client_id) = (p.store.clone(), user_id.to_owned(), client_id.to_owned());
    tokio::spawn(async move {
        let withdrawn = store.withdraw_consent(&user_id, &client_id).await?;
        if withdrawn {
            crate::audit::Audit {
                kind: "consent",
                outcome: "revoked",
                user_id: Some(&user_id),
                client_id: Some(&client_id),
                address: Some(ip),
                detail: "",
            }
            .record(&store)
            .await;
        }
        Ok(withdrawn)
    })
    .await
    .map_err(|e| db(crate::StoreError::Corrupt(e.to_string())))?
    .map_err(db)
}
