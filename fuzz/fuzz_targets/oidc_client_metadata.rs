//! Client registration metadata from arbitrary bytes: no panic; accepted metadata only registers acceptable
//! redirect URIs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_oidc::{ClientMetadata, acceptable_redirect_uri};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = ClientMetadata::from_json(data) {
        assert!(m.redirect_uris.iter().all(|u| acceptable_redirect_uri(u)));
        assert!(m.validate().is_ok());
    }
});
