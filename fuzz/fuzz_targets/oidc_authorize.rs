//! Authorization requests from arbitrary query bytes: no panic, and whatever parses round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_oidc::AuthorizationRequest;
use portcullis_pkce::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    for policy in [Policy::s256_only(), Policy::allowing_plain()] {
        if let Ok(req) = AuthorizationRequest::parse_with(query, &policy) {
            let again = AuthorizationRequest::parse_with(&req.to_params().to_form(), &policy)
                .expect("a parsed request serializes to a parseable one");
            assert_eq!(again.response_type, req.response_type);
            assert_eq!(again.client_id, req.client_id);
            assert_eq!(again.redirect_uri, req.redirect_uri);
            assert_eq!(again.state, req.state);
            assert_eq!(again.code_challenge, req.code_challenge);
        }
    }
});
