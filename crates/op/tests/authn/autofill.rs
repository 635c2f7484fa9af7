//! Passkey autofill (WebAuthn conditional mediation): the first login page carries a discoverable ceremony
//! begun with the page, and the username fields ask for passkey suggestions (`autocomplete="username
//! webauthn"`). Its answer signs the user in like any passkey; the ceremony is single use, and it is not offered
//! on a second-factor page (which names its user).
//!
//! Must not: change the provider or weaken what another test proves.

use reqwest::StatusCode;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::common::*;
use crate::passkeys::{login_page, register};
use crate::registration::op_with_passkeys;
use crate::review_passkeys::{discoverable_assert, login_answer, signed_in, user_named};

/// The first page with the autofill section's options under the id the helpers read.
fn as_step_page(page: &str) -> String {
    page.replace("passkey-conditional-options", "passkey-options")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_autofill_signs_in_from_the_first_page_once() {
    let op = op_with_passkeys().await;
    let store = &op.provider.store;
    let mut key = SoftPasskey::new(true);
    assert!(register(&op, store, "alice", &mut key).await);
    let alice = user_named(&op, "alice").await.unwrap();
    let stored = store.passkeys_of(&alice.id).await.unwrap().remove(0);

    let mut b = Browser::default();
    let page = login_page(&op, &mut b).await;
    assert!(
        page.contains("id=\"passkey-conditional-options\""),
        "{page}"
    );
    assert!(
        page.contains("autocomplete=\"username webauthn\""),
        "{page}"
    );
    assert!(
        page.contains("<script src=\"/passkey.js\"></script>"),
        "{page}"
    );
    let step_page = as_step_page(&page);
    let credential = discoverable_assert(
        &op,
        &mut key,
        &step_page,
        &stored.credential_id,
        Some(&stored.user_handle),
    );
    let step = login_answer(&op, &mut b, &step_page, &credential).await;
    assert!(signed_in(&step), "{step:?}");
    let cb = b.complete(&op, step, "unused").await.redirect();
    assert!(cb.contains_key("code"), "{cb:?}");

    // The same answer again: the ceremony is gone (and the request answered).
    let again = login_answer(&op, &mut b, &step_page, &credential).await;
    assert!(!signed_in(&again), "{again:?}");
    assert!(
        !matches!(again, Step::ErrorPage(StatusCode::INTERNAL_SERVER_ERROR, _)),
        "{again:?}"
    );
}
