//! RFC 8705 hooks on arbitrary certificates and registered names: no panic; a parsed certificate has a
//! 43-character `x5t#S256`, and a registered subject DN that parses matches itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_jose::JwkSet;
use portcullis_oidc::{ClientCertificate, DistinguishedName, check_self_signed};

fuzz_target!(|data: &[u8]| {
    // First byte chooses: certificate bytes, or a registered RFC 4514 name.
    let Some((&choice, rest)) = data.split_first() else { return };
    if choice & 1 == 0 {
        if let Ok(c) = ClientCertificate::from_der(rest) {
            assert_eq!(c.thumbprint_s256().len(), 43);
            let _ = check_self_signed(&c, &JwkSet::new(vec![]));
        }
    } else if let Ok(text) = std::str::from_utf8(rest) {
        if let Ok(dn) = DistinguishedName::parse_rfc4514(text) {
            assert!(dn.matches(&dn));
        }
    }
});
