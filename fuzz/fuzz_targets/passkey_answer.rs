//! The browser's passkey answers as the provider reads them (`portcullis-op`'s `authn::passkey` and
//! `endpoints::register`): at most 16 KiB of text, parsed as a WebAuthn assertion (`credential` of a sign-in)
//! and as a new credential (`credential` of a registration). Neither may panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webauthn_rs_proto::{PublicKeyCredential, RegisterPublicKeyCredential};

/// `portcullis_op::authn::passkey::MAX_ASSERTION`.
const MAX_ASSERTION: usize = 16 * 1024;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > MAX_ASSERTION {
        return;
    }
    if let Ok(a) = serde_json::from_str::<PublicKeyCredential>(text) {
        // What the provider reads of a parsed assertion before verifying it.
        let _ = a.get_credential_id();
        let _ = serde_json::to_string(&a);
    }
    if let Ok(r) = serde_json::from_str::<RegisterPublicKeyCredential>(text) {
        let _ = serde_json::to_string(&r);
    }
});
