//! Provider metadata: the Discovery §4.2 example, round trips, and every reject path.

use portcullis_oidc::{MAX_METADATA_LEN, MetadataError, ProviderMetadata};
use serde_json::{Value, json};

fn example() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/discovery_example.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn parse(v: &Value) -> Result<ProviderMetadata, MetadataError> {
    ProviderMetadata::parse_for("https://server.example.com", v.to_string().as_bytes())
}

fn with(changes: Value) -> Value {
    let mut v = example();
    for (k, val) in changes.as_object().unwrap() {
        if val.is_null() {
            v.as_object_mut().unwrap().remove(k);
        } else {
            v[k] = val.clone();
        }
    }
    v
}

#[test]
fn discovery_example_parses_validates_and_round_trips() {
    let m = parse(&example()).unwrap();
    assert_eq!(
        m.token_endpoint.as_deref(),
        Some("https://server.example.com/connect/token")
    );
    assert_eq!(m.subject_types_supported, vec!["public", "pairwise"]);
    assert!(m.extra.contains_key("check_session_iframe"));
    let again =
        ProviderMetadata::parse_for("https://server.example.com", m.to_json().as_bytes()).unwrap();
    assert_eq!(again, m);
}

#[test]
fn portcullis_members() {
    let m = parse(&with(json!({
        "pushed_authorization_request_endpoint": "https://server.example.com/par",
        "require_pushed_authorization_requests": true,
        "authorization_response_iss_parameter_supported": true,
        "authorization_signing_alg_values_supported": ["ES256"],
        "response_modes_supported": ["query", "fragment", "form_post", "jwt"],
        "code_challenge_methods_supported": ["S256"],
        "tls_client_certificate_bound_access_tokens": true,
        "mtls_endpoint_aliases": {"token_endpoint": "https://mtls.server.example.com/token"}
    })))
    .unwrap();
    assert!(
        m.require_pushed_authorization_requests && m.authorization_response_iss_parameter_supported
    );
    assert!(m.tls_client_certificate_bound_access_tokens);
    assert_eq!(m.code_challenge_methods_supported, vec!["S256"]);
}

#[test]
fn loopback_http_is_allowed_for_development() {
    let v = json!({
        "issuer": "http://127.0.0.1:8080",
        "authorization_endpoint": "http://127.0.0.1:8080/authorize",
        "token_endpoint": "http://localhost:8080/token",
        "jwks_uri": "http://[::1]:8080/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"]
    });
    ProviderMetadata::parse_for("http://127.0.0.1:8080", v.to_string().as_bytes()).unwrap();
}

#[test]
fn rejects() {
    let cases: Vec<(Value, MetadataError)> = vec![
        (
            with(json!({"issuer": "https://evil.example.com"})),
            MetadataError::IssuerMismatch,
        ),
        (
            with(json!({"issuer": "https://server.example.com/"})),
            MetadataError::IssuerMismatch,
        ),
        (
            with(json!({"token_endpoint": "http://server.example.com/token"})),
            MetadataError::BadUrl("token_endpoint"),
        ),
        (
            with(json!({"jwks_uri": "https://server.example.com/jwks#x"})),
            MetadataError::BadUrl("jwks_uri"),
        ),
        (
            with(json!({"authorization_endpoint": "ftp://server.example.com/a"})),
            MetadataError::BadUrl("authorization_endpoint"),
        ),
        (
            with(json!({"userinfo_endpoint": "https://user@evil.example/u"})),
            MetadataError::BadUrl("userinfo_endpoint"),
        ),
        (
            with(json!({"userinfo_endpoint": "http://127.0.0.1.evil.example/u"})),
            MetadataError::BadUrl("userinfo_endpoint"),
        ),
        (
            with(json!({"scopes_supported": ["profile"]})),
            MetadataError::NoOpenidScope,
        ),
        (
            with(json!({"id_token_signing_alg_values_supported": ["none", "RS256"]})),
            MetadataError::NoneAlgorithm,
        ),
    ];
    for (v, want) in cases {
        assert_eq!(parse(&v).unwrap_err(), want, "{v}");
    }
    for missing in [
        "issuer",
        "authorization_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
    ] {
        assert!(
            matches!(
                parse(&with(json!({ missing: null }))).unwrap_err(),
                MetadataError::Member(_)
            ),
            "{missing}"
        );
    }
    assert!(matches!(
        parse(&with(json!({"token_endpoint": null}))).unwrap_err(),
        MetadataError::Member(_)
    ));
    // Implicit-only providers need no token endpoint.
    parse(&with(
        json!({"token_endpoint": null, "response_types_supported": ["id_token", "id_token token"]}),
    ))
    .unwrap();
    assert!(matches!(
        parse(&with(json!({"scopes_supported": "openid"}))).unwrap_err(),
        MetadataError::Member(_)
    ));
    let issuer_with_query = with(json!({"issuer": "https://server.example.com?x=1"}));
    assert_eq!(
        ProviderMetadata::parse_for(
            "https://server.example.com?x=1",
            issuer_with_query.to_string().as_bytes()
        )
        .unwrap_err(),
        MetadataError::BadUrl("issuer")
    );
    let dup = br#"{"issuer":"https://server.example.com","issuer":"https://evil.example"}"#;
    assert!(matches!(
        ProviderMetadata::from_json(dup).unwrap_err(),
        MetadataError::Json(portcullis_jose::Error::DuplicateMember { .. })
    ));
    assert!(matches!(
        ProviderMetadata::from_json(b"[]").unwrap_err(),
        MetadataError::Json(_)
    ));
    assert_eq!(
        ProviderMetadata::from_json(&vec![b' '; MAX_METADATA_LEN + 1]).unwrap_err(),
        MetadataError::TooLarge
    );
}
