//! Request object validation: arbitrary text as a request object (nothing forged may pass), and arbitrary bytes as
//! the claims of an unsigned request object under a policy that allows them, so the parameter rules run too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_jose::{Algorithm, JwkSet, base64url};
use portcullis_oidc::{RequestObjectPolicy, verify_request_object};
use portcullis_pkce::Policy;

fuzz_target!(|data: &[u8]| {
    let keys = JwkSet::new(vec![]);
    let strict = RequestObjectPolicy::new(Algorithm::ALL);
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(verify_request_object(text, "client", "https://op.example", &keys, &strict, &Policy::default()).is_err());
    }
    let mut lax = RequestObjectPolicy::new(Algorithm::Es256);
    lax.allow_unsigned = true;
    let unsigned = format!("{}.{}.", base64url::encode(br#"{"alg":"none"}"#), base64url::encode(data));
    if let Ok(r) = verify_request_object(&unsigned, "client", "https://op.example", &keys, &lax, &Policy::default()) {
        assert_eq!(r.client_id, "client");
        assert!(r.request.is_none() && r.request_uri.is_none());
    }
});
