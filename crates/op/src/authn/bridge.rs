//! The login bridge as a login method: the buttons of the authenticating websites on the login page, and what a
//! session records once one of them vouched for its user (`amr` `fed`). The sign-in itself happens at the site
//! and completes at `/bridge/return` ([`crate::endpoints::bridge`]); the method never verifies a form.
//!
//! The list of sites is read from the database at most every [`REFRESH_AFTER`] seconds (a site added with the
//! admin command appears on the login pages of every node within that time).
//!
//! Must not: prove a user from a posted form, or be offered as a further step of a session.

use std::sync::{Arc, RwLock};

use futures_core::future::BoxFuture;
use portcullis_oidc::Params;

use super::{Factor, LoginMethod, LoginPage};
use crate::pages;
use crate::store::{Store, StoreError, UserRow};

/// The method id sessions record.
pub const BRIDGE_METHOD: &str = "bridge";
/// The `acr` of a sign-in by an authenticating website.
pub const BRIDGE_ACR: &str = "urn:portcullis:acr:bridge";
/// How long the cached list of sites is used before it is read again, in seconds.
pub const REFRESH_AFTER: i64 = 5;

/// The sites as the login page shows them.
#[derive(Default)]
struct Cached {
    /// `(id, name)` per site.
    buttons: Vec<(String, String)>,
    /// The origins of their verify URLs (the page's `form-action` must allow the redirect to them).
    origins: Vec<String>,
    /// When the list was read (seconds); 0 never.
    read_at: i64,
}

/// The login bridge's login method.
#[derive(Default, Clone)]
pub struct BridgeLogin {
    cached: Arc<RwLock<Cached>>,
}

impl BridgeLogin {
    /// Reads the list of sites again when it is older than [`REFRESH_AFTER`] (or `force`).
    pub async fn refresh(&self, store: &Store, now: i64, force: bool) -> Result<(), StoreError> {
        let stale = self
            .cached
            .read()
            .map(|c| force || now - c.read_at >= REFRESH_AFTER || now < c.read_at)
            .unwrap_or(true);
        if !stale {
            return Ok(());
        }
        let sites = store.bridge_sites().await?;
        let fresh = Cached {
            buttons: sites
                .iter()
                .map(|s| (s.id.clone(), s.name.clone()))
                .collect(),
            origins: sites
                .iter()
                .filter_map(|s| url::Url::parse(&s.verify_url).ok())
                .map(|u| u.origin().ascii_serialization())
                .collect(),
            read_at: now,
        };
        if let Ok(mut c) = self.cached.write() {
            *c = fresh;
        }
        Ok(())
    }
}

impl LoginMethod for BridgeLogin {
    fn id(&self) -> &'static str {
        BRIDGE_METHOD
    }

    /// A site's own login is counted as one factor, something the user knows: what most sites ask.
    fn factor(&self) -> Factor {
        Factor::Knowledge
    }

    /// RFC 8176 has no value for "another party authenticated the user"; `fed` (federated) is the one in use.
    fn amr(&self) -> &'static [&'static str] {
        &["fed"]
    }

    fn acr(&self) -> &'static str {
        BRIDGE_ACR
    }

    fn form(&self, _page: &LoginPage<'_>) -> String {
        match self.cached.read() {
            Ok(c) if !c.buttons.is_empty() => pages::bridge_buttons(&c.buttons),
            _ => String::new(),
        }
    }

    fn form_targets(&self) -> Vec<String> {
        self.cached
            .read()
            .map(|c| c.origins.clone())
            .unwrap_or_default()
    }

    fn external(&self) -> bool {
        true
    }

    fn refresh_page<'a>(
        &'a self,
        store: &'a Store,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.refresh(store, now, false))
    }

    fn verify<'a>(
        &'a self,
        _store: &'a Store,
        _form: &'a Params,
        _state: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>> {
        Box::pin(async { Ok(None) })
    }

    fn enrolled<'a>(
        &'a self,
        _store: &'a Store,
        _user: &'a UserRow,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async { Ok(false) })
    }
}
