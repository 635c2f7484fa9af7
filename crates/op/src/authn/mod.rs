//! The login step: how users prove who they are, and what a session remembers of it.
//!
//! - [`LoginMethod`]: one way to log in (a factor): single-step (a form, e.g. [`password`]) or a multi-step
//!   ceremony (begin → the browser does something → finish, e.g. a code sent out of band or a passkey).
//! - [`Methods`]: the methods a provider offers, several on one page; what a set of passed methods proves
//!   (`amr`, `acr`).
//! - [`record`]: the methods a session's user passed and when ([`AuthRecord`]).
//! - [`policy`]: step-up: what a request needs (`acr_values`, an essential `acr`, `max_age`) against what the
//!   session has, and the missing step.
//! - [`ceremony`]: the server-side, single-use, expiring state of a multi-step method (in the database, so any
//!   node can finish what another began).
//! - [`session`]: the browser's session.
//! - [`bridge`]: the login bridge's buttons: an authenticating website vouches for its user (the sign-in
//!   completes at `/bridge/return`).
//! - [`factors`]: the step-up factors (authenticator app, e-mailed and texted codes, second password): login
//!   methods that are never a first factor.
//!
//! Must not: issue anything (the endpoints do once the methods proved a user and the policy is met).

use futures_core::future::BoxFuture;
use portcullis_oidc::Params;

use crate::store::{Store, StoreError, UserRow};

pub mod bridge;
pub mod ceremony;
pub mod factors;
pub mod methods;
pub mod passkey;
pub mod password;
pub mod policy;
pub mod record;
pub mod session;
pub mod throttle;

pub use bridge::BridgeLogin;
pub use methods::{MFA_ACR, Methods, SECOND_FACTOR_ACR};
pub use passkey::PasskeyLogin;
pub use password::PasswordLogin;
pub use record::AuthRecord;

/// The kind of evidence a method gives (NIST SP 800-63B §4: something you know, have, are). Two methods of
/// different factors make a multi-factor authentication (RFC 8176 `mfa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Factor {
    /// Something the user knows (a password).
    Knowledge,
    /// Something the user has (a key, a phone, a mailbox).
    Possession,
    /// Something the user is (a biometric unlocking a key).
    Inherence,
}

/// What a login method's part of the page is rendered for.
pub struct LoginPage<'a> {
    /// The pending authorization request (a hidden form field).
    pub pending: &'a str,
    /// Its CSRF token (a hidden form field).
    pub csrf: &'a str,
    /// The client's display name.
    pub client_name: &'a str,
    /// `login_hint`, the name typed before a failed attempt, or the signed-in user's name during step-up.
    pub login_hint: Option<&'a str>,
    /// Why the last attempt failed.
    pub error: Option<&'a str>,
    /// During step-up: the user who must pass the method (the session's user).
    pub user: Option<&'a UserRow>,
}

/// The first step of a multi-step method ([`LoginMethod::begin`]).
pub struct Challenge {
    /// What the server keeps until the method finishes (at most [`ceremony::MAX_STATE`] bytes; never sent to
    /// the browser).
    pub state: String,
    /// The method's part of the page for the browser's step (HTML, every value escaped).
    pub form: String,
}

/// A way for users to log in. Each method's part of the login page is placed in its own form that posts to
/// `/login` with the `pending`, `csrf` and `method` fields (and, for a multi-step method, `step=begin` to begin
/// or the `ceremony` id to finish); the method renders only its own inputs and button.
pub trait LoginMethod: Send + Sync {
    /// A short stable id (`a-z`, `0-9`, `_`, `-`; at most 32): the `method` form field, and what sessions
    /// record.
    fn id(&self) -> &'static str;
    /// The factor it proves.
    fn factor(&self) -> Factor;
    /// `amr` values for the ID token (RFC 8176).
    fn amr(&self) -> &'static [&'static str];
    /// The ids besides [`id`](Self::id) that a pass of this method may be recorded under (a variant with its
    /// own `amr`: a synced passkey is `swk`, a device-bound one `hwk`). Each a valid method id.
    fn recorded_ids(&self) -> &'static [&'static str] {
        &[]
    }
    /// The `acr` values a pass of this method can satisfy besides [`acr`](Self::acr) (a device-bound
    /// passkey's, say).
    fn other_acrs(&self) -> &'static [&'static str] {
        &[]
    }
    /// The `acr` a pass recorded under `recorded` claims when nothing else was asked for: by default
    /// [`acr`](Self::acr).
    fn acr_of(&self, _recorded: &str) -> &'static str {
        self.acr()
    }
    /// Whether a pass recorded under `recorded` counts towards `acr`: a policy may refuse one variant for an
    /// `acr` (a synced passkey for one that needs a device-bound key). Default: it counts.
    fn counts_for(&self, _recorded: &str, _acr: &str) -> bool {
        true
    }
    /// The `amr` values of a pass recorded under `recorded` (this method's id or one of
    /// [`recorded_ids`](Self::recorded_ids)).
    fn amr_of(&self, _recorded: &str) -> &'static [&'static str] {
        self.amr()
    }
    /// The `acr` of an authentication by this method alone.
    fn acr(&self) -> &'static str;
    /// This method's inputs and button on the login page (HTML, every value escaped).
    fn form(&self, page: &LoginPage<'_>) -> String;
    /// Whether the method is a ceremony of two steps ([`begin`](Self::begin), then
    /// [`verify`](Self::verify) with the state `begin` produced).
    fn multi_step(&self) -> bool {
        false
    }
    /// Begins a ceremony from the submitted form: the state to keep and the browser's step, or `None` when the
    /// form does not allow beginning (shown as a failed attempt). Must not reveal whether a named user exists.
    fn begin<'a>(
        &'a self,
        _store: &'a Store,
        _page: &'a LoginPage<'a>,
        _form: &'a Params,
    ) -> BoxFuture<'a, Result<Option<Challenge>, StoreError>> {
        Box::pin(async { Ok(None) })
    }
    /// The user the submitted form proves, `None` when it proves nobody. `state` is the ceremony's state for a
    /// multi-step method (already taken: it cannot be used twice). Must take the same time whether or not the
    /// named user exists.
    fn verify<'a>(
        &'a self,
        store: &'a Store,
        form: &'a Params,
        state: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>>;
    /// [`verify`](Self::verify), and the id to record the pass under (by default [`id`](Self::id); a method
    /// with [`recorded_ids`](Self::recorded_ids) says which variant was passed).
    fn verify_recorded<'a>(
        &'a self,
        store: &'a Store,
        form: &'a Params,
        state: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<(UserRow, &'static str)>, StoreError>> {
        Box::pin(async move {
            Ok(self
                .verify(store, form, state)
                .await?
                .map(|u| (u, self.id())))
        })
    }
    /// What to tell the user after a failed attempt.
    fn failure_message(&self) -> &'static str {
        "Sign-in failed."
    }
    /// Whether the method can sign a user in on its own. A step-up factor (an authenticator-app code, a code
    /// sent by e-mail or SMS, a second password) cannot: it is offered only once the user is known (a step-up
    /// of the session's user, or a relying party's second-factor request naming its user).
    fn first_factor(&self) -> bool {
        true
    }
    /// The origins this method's part of the page sends the browser to (through a redirect after its form is
    /// posted): the page's `form-action` allows them. Default: none.
    fn form_targets(&self) -> Vec<String> {
        Vec::new()
    }
    /// Whether the method completes elsewhere (the login bridge): its form posts to its own endpoint, and
    /// `/login` refuses it. Default false.
    fn external(&self) -> bool {
        false
    }
    /// Reads again what the method's part of the page shows, when that is kept in the database and may have
    /// changed (the login bridge's sites). Called before a login page is shown. Default: nothing.
    fn refresh_page<'a>(
        &'a self,
        _store: &'a Store,
        _now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    /// Whether `user` can pass this method (has enrolled it). Step-up offers only the methods the user can
    /// pass. Default: everyone can.
    fn enrolled<'a>(
        &'a self,
        _store: &'a Store,
        _user: &'a UserRow,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async { Ok(true) })
    }
}
