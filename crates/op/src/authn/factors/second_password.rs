//! `second_password`: a second password the user set on the account page, checked against its Argon2id hash
//! (the same hashing, and the same bounded verification queue, as the first password).
//!
//! Must not: accept the user's first password's hash in its place, or answer faster for users without one.

use futures_core::future::BoxFuture;
use portcullis_oidc::Params;

use crate::authn::password::verify_bounded;
use crate::authn::{Factor, LoginMethod, LoginPage};
use crate::factor_pages;
use crate::store::{Store, StoreError, UserRow};

/// The shortest second password accepted, characters.
pub const MIN_LENGTH: usize = 8;
/// The longest, bytes.
pub const MAX_LENGTH: usize = 256;

/// The second password as a login method (step-up only).
pub struct SecondPasswordLogin;

impl LoginMethod for SecondPasswordLogin {
    fn id(&self) -> &'static str {
        "second_password"
    }

    fn factor(&self) -> Factor {
        Factor::Knowledge
    }

    fn amr(&self) -> &'static [&'static str] {
        &["pwd"]
    }

    fn acr(&self) -> &'static str {
        "urn:portcullis:acr:second_password"
    }

    fn first_factor(&self) -> bool {
        false
    }

    fn form(&self, page: &LoginPage<'_>) -> String {
        factor_pages::second_password_inputs(page.user.map(|u| u.username.as_str()).unwrap_or(""))
    }

    fn verify<'a>(
        &'a self,
        store: &'a Store,
        form: &'a Params,
        _state: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>> {
        Box::pin(async move {
            let given = form.get("second_password").unwrap_or("");
            let user = store
                .user_by_name(form.get("username").unwrap_or(""))
                .await?;
            let stored = match &user {
                Some(u) => store
                    .factor(&u.id, "second_password")
                    .await?
                    .map(|f| f.secret.to_string()),
                None => None,
            };
            // The same Argon2 work whether or not the user (or a second password) exists.
            let within = given.len() <= MAX_LENGTH;
            let checked = if within { given } else { "" };
            let ok = verify_bounded(checked.to_owned(), stored).await && within;
            Ok(user.filter(|_| ok))
        })
    }

    fn failure_message(&self) -> &'static str {
        "Wrong second password."
    }

    fn enrolled<'a>(
        &'a self,
        store: &'a Store,
        user: &'a UserRow,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(store.factor(&user.id, "second_password").await?.is_some()) })
    }
}
