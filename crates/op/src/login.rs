//! The login step, pluggable: the provider asks a [`LoginMethod`] for the page to show and for the user a
//! submitted form proves. Username + password (Argon2id) is the default; passkeys plug in here later.

use futures_core::future::BoxFuture;
use portcullis_oidc::Params;

use crate::pages;
use crate::store::{Store, StoreError, UserRow};

/// What the login page shows.
pub struct LoginPage<'a> {
    /// The pending authorization request (a hidden form field).
    pub pending: &'a str,
    /// Its CSRF token (a hidden form field).
    pub csrf: &'a str,
    /// The client's display name.
    pub client_name: &'a str,
    /// `login_hint`, or the name typed before a failed attempt.
    pub login_hint: Option<&'a str>,
    /// Why the last attempt failed.
    pub error: Option<&'a str>,
}

/// A way for users to log in. The page must post to `/login` with the `pending` and `csrf` fields.
pub trait LoginMethod: Send + Sync {
    /// The login page (HTML, every value escaped).
    fn page(&self, ctx: &LoginPage<'_>) -> String;
    /// The user the submitted form proves, `None` when it proves nobody. Must take the same time whether or not
    /// the named user exists.
    fn verify<'a>(
        &'a self,
        store: &'a Store,
        form: &'a Params,
    ) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>>;
    /// `amr` values for the ID token (RFC 8176).
    fn amr(&self) -> &'static [&'static str];
    /// `acr` value for the ID token.
    fn acr(&self) -> &'static str;
    /// What to tell the user after a failed attempt.
    fn failure_message(&self) -> &'static str {
        "Sign-in failed."
    }
}

/// Username and password, verified against Argon2id hashes off the async runtime.
pub struct PasswordLogin;

impl LoginMethod for PasswordLogin {
    fn page(&self, c: &LoginPage<'_>) -> String {
        pages::login(c.pending, c.csrf, c.client_name, c.login_hint, c.error)
    }

    fn verify<'a>(
        &'a self,
        store: &'a Store,
        form: &'a Params,
    ) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>> {
        Box::pin(async move {
            let username = form.get("username").unwrap_or("");
            let password = form.get("password").unwrap_or("").to_owned();
            let user = store.user_by_name(username).await?;
            let stored = user.as_ref().map(|u| u.password_hash.clone());
            let ok = crate::passwords::verify_bounded(password, stored).await;
            Ok(user.filter(|_| ok))
        })
    }

    fn amr(&self) -> &'static [&'static str] {
        &["pwd"]
    }

    fn acr(&self) -> &'static str {
        "urn:portcullis:acr:password"
    }

    fn failure_message(&self) -> &'static str {
        "Wrong username or password."
    }
}
