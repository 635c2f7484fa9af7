//! RFC 7636: the Appendix B vector, every length and character edge, every reject path, and property tests.

use portcullis_pkce::{
    CodeChallenge, CodeVerifier, MAX_LEN, MIN_LEN, Method, PkceError, Policy, check_token_request,
};
use proptest::prelude::*;

fn vector() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/rfc7636_appendix_b.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const UNRESERVED: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

#[test]
fn rfc7636_appendix_b() {
    let v = vector();
    let octets: Vec<u8> = v["octets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_u64().unwrap() as u8)
        .collect();
    let verifier = CodeVerifier::from_octets(&octets.try_into().unwrap());
    assert_eq!(verifier.as_str(), v["code_verifier"].as_str().unwrap());
    let challenge = CodeChallenge::s256(&verifier);
    assert_eq!(challenge.as_str(), v["code_challenge"].as_str().unwrap());
    let parsed = CodeChallenge::parse(
        v["code_challenge"].as_str().unwrap(),
        Some("S256"),
        &Policy::default(),
    )
    .unwrap();
    assert_eq!(parsed, challenge);
    check_token_request(
        Some(&parsed),
        v["code_verifier"].as_str(),
        &Policy::default(),
    )
    .unwrap();
}

#[test]
fn generated_verifiers_are_43_unreserved_characters_and_distinct() {
    let a = CodeVerifier::generate();
    let b = CodeVerifier::generate();
    assert_eq!(a.as_str().len(), 43);
    assert_ne!(a, b);
    CodeVerifier::parse(a.as_str()).unwrap();
}

#[test]
fn length_edges() {
    assert_eq!(CodeVerifier::parse(""), Err(PkceError::TooShort { len: 0 }));
    assert_eq!(
        CodeVerifier::parse(&"a".repeat(MIN_LEN - 1)),
        Err(PkceError::TooShort { len: 42 })
    );
    CodeVerifier::parse(&"a".repeat(MIN_LEN)).unwrap();
    CodeVerifier::parse(&"a".repeat(MAX_LEN)).unwrap();
    assert_eq!(
        CodeVerifier::parse(&"a".repeat(MAX_LEN + 1)),
        Err(PkceError::TooLong { len: 129 })
    );
    assert_eq!(
        CodeVerifier::parse(&"a".repeat(10_000)),
        Err(PkceError::TooLong { len: 10_000 })
    );
}

#[test]
fn every_character_edge() {
    for c in UNRESERVED.chars() {
        CodeVerifier::parse(&c.to_string().repeat(43)).unwrap();
    }
    for b in 0u8..=127 {
        let c = b as char;
        if UNRESERVED.contains(c) {
            continue;
        }
        let s = format!("{}{c}{}", "a".repeat(20), "a".repeat(30));
        assert_eq!(
            CodeVerifier::parse(&s),
            Err(PkceError::InvalidCharacter { position: 20 }),
            "{b:#x}"
        );
    }
    for c in ['é', 'ß', '\u{200b}', '＿', '🔑'] {
        let s = format!("{c}{}", "a".repeat(50));
        assert_eq!(
            CodeVerifier::parse(&s),
            Err(PkceError::InvalidCharacter { position: 0 })
        );
    }
    // A 43-byte string of multi-byte characters is not 43 characters.
    assert!(CodeVerifier::parse(&"é".repeat(22)).is_err());
}

#[test]
fn plain_is_refused_unless_allowed() {
    let v = CodeVerifier::generate();
    assert_eq!(
        CodeChallenge::plain(&v, &Policy::default()),
        Err(PkceError::PlainNotAllowed)
    );
    assert_eq!(
        CodeChallenge::parse(v.as_str(), Some("plain"), &Policy::s256_only()),
        Err(PkceError::PlainNotAllowed)
    );
    // No method means plain.
    assert_eq!(
        CodeChallenge::parse(v.as_str(), None, &Policy::default()),
        Err(PkceError::PlainNotAllowed)
    );
    let allow = Policy::allowing_plain();
    let c = CodeChallenge::parse(v.as_str(), None, &allow).unwrap();
    assert_eq!(c.method(), Method::Plain);
    check_token_request(Some(&c), Some(v.as_str()), &allow).unwrap();
    // A plain challenge stored earlier is refused once the policy no longer allows it.
    assert_eq!(
        check_token_request(Some(&c), Some(v.as_str()), &Policy::default()),
        Err(PkceError::PlainNotAllowed)
    );
}

#[test]
fn malformed_challenges_and_methods() {
    let p = Policy::default();
    let good = CodeChallenge::s256(&CodeVerifier::generate());
    assert_eq!(
        CodeChallenge::parse(good.as_str(), Some("s256"), &p),
        Err(PkceError::UnsupportedMethod)
    );
    assert_eq!(
        CodeChallenge::parse(good.as_str(), Some("SHA256"), &p),
        Err(PkceError::UnsupportedMethod)
    );
    assert_eq!(
        CodeChallenge::parse(good.as_str(), Some(""), &p),
        Err(PkceError::UnsupportedMethod)
    );
    for bad in [
        "",
        "abc",
        &format!("{}=", good.as_str()),
        &good.as_str()[..42],
        &format!("{}A", good.as_str()),
    ] {
        assert_eq!(
            CodeChallenge::parse(bad, Some("S256"), &p),
            Err(PkceError::InvalidChallenge),
            "{bad}"
        );
    }
    let std_alphabet = good.as_str().replace('-', "+").replace('_', "/");
    if std_alphabet != good.as_str() {
        assert_eq!(
            CodeChallenge::parse(&std_alphabet, Some("S256"), &p),
            Err(PkceError::InvalidChallenge)
        );
    }
    assert_eq!(
        CodeChallenge::parse("short", Some("plain"), &Policy::allowing_plain()),
        Err(PkceError::InvalidChallenge)
    );
}

#[test]
fn downgrade_defence() {
    let p = Policy::default();
    let v = CodeVerifier::generate();
    let c = CodeChallenge::s256(&v);
    assert_eq!(
        check_token_request(Some(&c), None, &p),
        Err(PkceError::MissingVerifier)
    );
    assert_eq!(
        check_token_request(None, Some(v.as_str()), &p),
        Err(PkceError::UnexpectedVerifier)
    );
    check_token_request(None, None, &p).unwrap();
    assert_eq!(
        check_token_request(Some(&c), Some("too-short"), &p),
        Err(PkceError::TooShort { len: 9 })
    );
    assert_eq!(
        check_token_request(Some(&c), Some(CodeVerifier::generate().as_str()), &p),
        Err(PkceError::Mismatch)
    );
    // The challenge itself is not a verifier for itself.
    assert_eq!(
        check_token_request(Some(&c), Some(c.as_str()), &p),
        Err(PkceError::Mismatch)
    );
}

proptest! {
    #[test]
    fn s256_round_trips(s in "[A-Za-z0-9._~-]{43,128}") {
        let v = CodeVerifier::parse(&s).unwrap();
        let c = CodeChallenge::s256(&v);
        let parsed = CodeChallenge::parse(c.as_str(), Some("S256"), &Policy::default()).unwrap();
        prop_assert!(parsed.verify(&v).is_ok());
    }

    #[test]
    fn different_verifiers_never_match(a in "[A-Za-z0-9._~-]{43,64}", b in "[A-Za-z0-9._~-]{43,64}") {
        prop_assume!(a != b);
        let c = CodeChallenge::s256(&CodeVerifier::parse(&a).unwrap());
        prop_assert_eq!(c.verify(&CodeVerifier::parse(&b).unwrap()), Err(PkceError::Mismatch));
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,200}", m in proptest::option::of("\\PC{0,8}")) {
        let _ = CodeVerifier::parse(&s);
        let _ = CodeChallenge::parse(&s, m.as_deref(), &Policy::allowing_plain());
    }
}
