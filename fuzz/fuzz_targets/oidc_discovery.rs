//! Provider metadata documents from arbitrary bytes: no panic; whatever validates round-trips and validates again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_oidc::ProviderMetadata;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = ProviderMetadata::from_json(data)
        && m.validate(&m.issuer.clone()).is_ok()
    {
        let again = ProviderMetadata::parse_for(&m.issuer, m.to_json().as_bytes()).expect("round trip");
        assert_eq!(again, m);
    }
});
