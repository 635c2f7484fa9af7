//! `email` and `sms`: a 6-digit code sent to the user's verified address or number ([`CodeLogin`]), and the
//! sending itself ([`send_code`]), which the account page uses too to verify a new address or number.
//!
//! A code is stored sealed, one live code per user and purpose; it works once, for [`CODE_LIFETIME`] seconds,
//! for at most [`MAX_CODE_ATTEMPTS`] tries; asking again within [`RESEND_AFTER`] seconds shows the same code's
//! input instead of sending another (no flood of mails or texts from one button).
//!
//! Must not: send a code anywhere but to the factor's enrolled destination (or, for enrolment, the one being
//! verified), or say whether an address exists.

use std::sync::Arc;

use futures_core::future::BoxFuture;
use portcullis_oidc::Params;

use super::{CODE_LIFETIME, MAX_CODE_ATTEMPTS, RESEND_AFTER, is_code, masked, new_code};
use crate::authn::{Challenge, Factor, LoginMethod, LoginPage};
use crate::delivery::{Message, Sender};
use crate::factor_pages;
use crate::store::{CodeCheck, Store, StoreError, UserRow};

/// Where a code goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// By e-mail.
    Email,
    /// By SMS.
    Sms,
}

impl Channel {
    /// The factor key and method id: `email` or `sms`.
    pub const fn id(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    /// The purpose of a code that verifies a new address or number.
    pub const fn enrol_purpose(self) -> &'static str {
        match self {
            Channel::Email => "enrol-email",
            Channel::Sms => "enrol-sms",
        }
    }

    /// How pages name it.
    pub const fn label(self) -> &'static str {
        match self {
            Channel::Email => "e-mail",
            Channel::Sms => "text message",
        }
    }
}

/// What [`send_code`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// A new code went out.
    New,
    /// A code went out less than [`RESEND_AFTER`] seconds ago; nothing was sent (the earlier code still works
    /// unless it was used up by wrong tries).
    Recent,
}

/// Why [`send_code`] sent nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSent {
    /// The user was sent [`MAX_SENDS`] codes within the last [`SENDS_WINDOW`] seconds.
    Quota,
    /// The sender failed (the code is not kept).
    Failed(String),
}

/// The most codes one user is sent (all purposes, both channels) within [`SENDS_WINDOW`].
pub const MAX_SENDS: i64 = 10;
/// The window of [`MAX_SENDS`], seconds.
pub const SENDS_WINDOW: i64 = 3600;

/// Sends a fresh code for `(user_id, purpose)` to `destination` through `sender` — unless one was sent for that
/// purpose within [`RESEND_AFTER`] seconds (to any destination), or the user's quota is spent.
pub async fn send_code(
    store: &Store,
    sender: &dyn Sender,
    (user_id, purpose): (&str, &str),
    destination: &str,
    now: i64,
) -> Result<Result<Sent, NotSent>, StoreError> {
    if let Some(sent) = store.sent_code(user_id, purpose, now).await?
        && now - sent.sent_at < RESEND_AFTER
    {
        return Ok(Ok(Sent::Recent));
    }
    if !store
        .count_send(user_id, now, (MAX_SENDS, SENDS_WINDOW))
        .await?
    {
        return Ok(Err(NotSent::Quota));
    }
    let code = new_code().map_err(StoreError::Corrupt)?;
    store
        .put_code(
            user_id,
            purpose,
            &code,
            destination,
            now,
            now + CODE_LIFETIME,
        )
        .await?;
    let minutes = CODE_LIFETIME / 60;
    // The code is in the body only: not in a subject that notifications and mail logs show.
    let m = Message {
        to: destination.to_owned(),
        subject: "Your sign-in code".to_owned(),
        body: format!(
            "Your code is {code}. It works once, for {minutes} minutes. If you did not ask for it, ignore this message."
        ),
    };
    if let Err(e) = sender.send(&m).await {
        tracing::warn!("sending a code through {} failed: {e}", sender.describe());
        store.remove_code(user_id, purpose).await?;
        return Ok(Err(NotSent::Failed(e.to_string())));
    }
    Ok(Ok(Sent::New))
}

/// Checks a code typed for `(user_id, purpose)`: malformed input is refused without a lookup.
pub async fn check_code(
    store: &Store,
    (user_id, purpose): (&str, &str),
    given: &str,
) -> Result<CodeCheck, StoreError> {
    let given = given.trim();
    if !is_code(given) {
        return Ok(CodeCheck::Wrong);
    }
    store
        .try_code(user_id, purpose, given, crate::now(), MAX_CODE_ATTEMPTS)
        .await
}

/// A code by e-mail or SMS as a login method (step-up only; two steps: send, then type it).
pub struct CodeLogin {
    channel: Channel,
    sender: Arc<dyn Sender>,
}

impl CodeLogin {
    /// The method for `channel`, sending through `sender`.
    pub fn new(channel: Channel, sender: Arc<dyn Sender>) -> CodeLogin {
        CodeLogin { channel, sender }
    }
}

impl LoginMethod for CodeLogin {
    fn id(&self) -> &'static str {
        self.channel.id()
    }

    fn factor(&self) -> Factor {
        Factor::Possession
    }

    fn amr(&self) -> &'static [&'static str] {
        match self.channel {
            Channel::Email => &["otp"],
            Channel::Sms => &["sms"],
        }
    }

    fn acr(&self) -> &'static str {
        match self.channel {
            Channel::Email => "urn:portcullis:acr:email",
            Channel::Sms => "urn:portcullis:acr:sms",
        }
    }

    fn first_factor(&self) -> bool {
        false
    }

    fn multi_step(&self) -> bool {
        true
    }

    fn form(&self, _page: &LoginPage<'_>) -> String {
        factor_pages::send_code_button(self.channel.id(), self.channel.label())
    }

    fn begin<'a>(
        &'a self,
        store: &'a Store,
        page: &'a LoginPage<'a>,
        _form: &'a Params,
    ) -> BoxFuture<'a, Result<Option<Challenge>, StoreError>> {
        Box::pin(async move {
            let Some(user) = page.user else {
                return Ok(None);
            };
            let Some(factor) = store.factor(&user.id, self.channel.id()).await? else {
                return Ok(None);
            };
            let destination = factor.secret.as_str();
            let sent = send_code(
                store,
                self.sender.as_ref(),
                (&user.id, self.channel.id()),
                destination,
                crate::now(),
            )
            .await?;
            if sent.is_err() {
                return Ok(None);
            }
            Ok(Some(Challenge {
                state: user.id.clone(),
                form: factor_pages::code_inputs(&masked(destination), self.channel.label()),
            }))
        })
    }

    fn verify<'a>(
        &'a self,
        store: &'a Store,
        form: &'a Params,
        state: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>> {
        Box::pin(async move {
            let Some(user_id) = state else {
                return Ok(None);
            };
            let given = form.get("code").unwrap_or("");
            let CodeCheck::Accepted { destination } =
                check_code(store, (user_id, self.channel.id()), given).await?
            else {
                return Ok(None);
            };
            // The code went to the destination enrolled now (not to one replaced since it was sent).
            let enrolled = store.factor(user_id, self.channel.id()).await?;
            if enrolled.is_none_or(|f| *f.secret != destination) {
                return Ok(None);
            }
            store.user(user_id).await
        })
    }

    fn failure_message(&self) -> &'static str {
        match self.channel {
            Channel::Email => {
                "Wrong or expired code, or no code could be sent. Ask for a code again."
            }
            Channel::Sms => {
                "Wrong or expired code, or no text could be sent. Ask for a code again."
            }
        }
    }

    fn enrolled<'a>(
        &'a self,
        store: &'a Store,
        user: &'a UserRow,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(store.factor(&user.id, self.channel.id()).await?.is_some()) })
    }
}
