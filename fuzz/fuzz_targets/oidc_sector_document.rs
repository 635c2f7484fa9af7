//! Sector identifier documents from arbitrary bytes: no panic; whatever parses lists at most the maximum of URIs,
//! and every URI it lists is found listed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_oidc::{MAX_SECTOR_URIS, parse_sector_document, unlisted_redirect_uri};

fuzz_target!(|data: &[u8]| {
    if let Ok(listed) = parse_sector_document(data) {
        assert!(listed.len() <= MAX_SECTOR_URIS);
        assert_eq!(unlisted_redirect_uri(&listed, &listed), None);
    }
});
