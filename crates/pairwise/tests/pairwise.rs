//! Sector identifiers, sector documents and pairwise subjects: fixed vectors, normalisation, collisions, and every
//! reject path.

use std::collections::HashSet;

use portcullis_pairwise::{
    MAX_SECTOR_DOCUMENT_LEN, PairwiseError, PairwiseSecret, SectorIdentifier, SubjectType,
    derive_subject, subject_for, validate_sector_document,
};
use proptest::prelude::*;

fn secret(v: u32) -> PairwiseSecret {
    PairwiseSecret::new(v, &(0u8..32).collect::<Vec<_>>()).unwrap()
}

fn sector(s: &str) -> SectorIdentifier {
    SectorIdentifier::from_url(&format!("https://{s}/")).unwrap()
}

#[test]
fn fixed_vectors_computed_independently() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/pairwise_v1.json"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 24);
    for c in cases {
        let s = secret(c["version"].as_u64().unwrap() as u32);
        let got = derive_subject(
            &s,
            &sector(c["sector"].as_str().unwrap()),
            c["local_account_id"].as_str().unwrap(),
        );
        assert_eq!(got, c["sub"].as_str().unwrap(), "{c}");
    }
}

#[test]
fn distinct_per_sector_and_stable() {
    let s = secret(1);
    let subs: HashSet<String> = ["example.com", "other.org", "a.example.com"]
        .iter()
        .map(|h| derive_subject(&s, &sector(h), "alice"))
        .collect();
    assert_eq!(subs.len(), 3);
    assert_eq!(
        derive_subject(&s, &sector("example.com"), "alice"),
        derive_subject(&s, &sector("example.com"), "alice")
    );
    // Another version, another subject; public passes the id through.
    assert_ne!(
        derive_subject(&s, &sector("example.com"), "alice"),
        derive_subject(&secret(2), &sector("example.com"), "alice")
    );
    assert_eq!(
        subject_for(SubjectType::Public, &s, &sector("example.com"), "alice"),
        "alice"
    );
    assert_eq!(
        subject_for(SubjectType::Pairwise, &s, &sector("example.com"), "alice").len(),
        43
    );
    assert_eq!(SubjectType::parse("pairwise"), Some(SubjectType::Pairwise));
    assert_eq!(SubjectType::parse("Pairwise"), None);
}

#[test]
fn length_prefixing_prevents_boundary_confusion() {
    // With plain concatenation these two would collide ("ab" + "c" == "a" + "bc").
    let s = secret(1);
    let a = derive_subject(&s, &SectorIdentifier::from_url("https://ab/").unwrap(), "c");
    let b = derive_subject(&s, &SectorIdentifier::from_url("https://a/").unwrap(), "bc");
    assert_ne!(a, b);
}

#[test]
fn host_normalisation() {
    let cases = [
        ("https://Example.COM/cb", "example.com"),
        ("https://example.com:443/cb", "example.com"),
        ("https://example.com:8443/cb", "example.com"),
        ("http://127.0.0.1:8081/callback", "127.0.0.1"),
        ("https://bücher.example/cb", "xn--bcher-kva.example"),
        ("https://XN--BCHER-KVA.example/cb", "xn--bcher-kva.example"),
        ("https://example.com./cb", "example.com."),
        ("https://user:pw@example.com/cb", "example.com"),
        ("com.example.app:/callback?x", "INVALID"),
    ];
    for (uri, want) in cases {
        match SectorIdentifier::from_url(uri) {
            Ok(s) => assert_eq!(s.as_str(), want, "{uri}"),
            Err(e) => assert_eq!(
                (want, e),
                ("INVALID", PairwiseError::InvalidUrl(uri.into()))
            ),
        }
    }
    let same = SectorIdentifier::from_redirect_uris(
        &["https://EXAMPLE.com/a", "https://example.com:443/b"],
        None,
    )
    .unwrap();
    assert_eq!(same.as_str(), "example.com");
}

#[test]
fn sector_rules_and_rejects() {
    let multi = ["https://a.example.com/cb", "https://b.example.com/cb"];
    assert_eq!(
        SectorIdentifier::from_redirect_uris(&multi, None),
        Err(PairwiseError::MultipleHosts)
    );
    let s =
        SectorIdentifier::from_redirect_uris(&multi, Some("https://sector.example.com/uris.json"))
            .unwrap();
    assert_eq!(s.as_str(), "sector.example.com");
    assert_eq!(
        SectorIdentifier::from_redirect_uris(&multi, Some("http://sector.example.com/uris.json")),
        Err(PairwiseError::SectorUriNotHttps)
    );
    assert_eq!(
        SectorIdentifier::from_redirect_uris(&[], None),
        Err(PairwiseError::NoRedirectUris)
    );
    assert_eq!(
        SectorIdentifier::from_redirect_uris(&["not a url"], None),
        Err(PairwiseError::InvalidUrl("not a url".into()))
    );
    assert_eq!(
        SectorIdentifier::from_url("https:///nohost"),
        SectorIdentifier::from_url("https://nohost")
    );
    assert!(SectorIdentifier::from_url("file:///etc/passwd").is_err());
    assert_eq!(
        PairwiseSecret::new(1, &[0; 31]).unwrap_err(),
        PairwiseError::SecretTooShort
    );
}

#[test]
fn sector_documents() {
    let uri = "https://sector.example.com/uris.json";
    let regs = ["https://a.example.com/cb", "https://b.example.com/cb"];
    let doc =
        br#"["https://a.example.com/cb","https://b.example.com/cb","https://c.example.com/cb"]"#;
    validate_sector_document(uri, doc, &regs).unwrap();
    assert_eq!(
        validate_sector_document("http://sector.example.com/u", doc, &regs),
        Err(PairwiseError::SectorUriNotHttps)
    );
    assert_eq!(
        validate_sector_document(uri, br#"["https://a.example.com/cb"]"#, &regs),
        Err(PairwiseError::RedirectUriNotListed(
            "https://b.example.com/cb".into()
        ))
    );
    // Exact string comparison: no normalisation of listed URIs.
    assert_eq!(
        validate_sector_document(
            uri,
            br#"["https://A.example.com/cb","https://b.example.com/cb"]"#,
            &regs
        ),
        Err(PairwiseError::RedirectUriNotListed(
            "https://a.example.com/cb".into()
        ))
    );
    for bad in [
        &br#"{"redirect_uris":[]}"#[..],
        b"[1,2]",
        b"\"x\"",
        b"[",
        b"",
        b"null",
    ] {
        assert_eq!(
            validate_sector_document(uri, bad, &regs),
            Err(PairwiseError::InvalidDocument)
        );
    }
    let big = vec![b' '; MAX_SECTOR_DOCUMENT_LEN + 1];
    assert_eq!(
        validate_sector_document(uri, &big, &regs),
        Err(PairwiseError::DocumentTooLarge)
    );
    assert_eq!(
        validate_sector_document(uri, b"[]", &[]),
        Err(PairwiseError::NoRedirectUris)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn no_collisions_over_a_large_sample(seed in any::<u64>()) {
        let s = secret(1);
        let mut seen = HashSet::new();
        for i in 0..300u64 {
            let sector = SectorIdentifier::from_url(&format!("https://h{}.example/", (seed ^ i) % 50)).unwrap();
            let user = format!("user-{}", seed.wrapping_add(i * 7919) % 100);
            let sub = derive_subject(&s, &sector, &user);
            seen.insert((sector.as_str().to_owned(), user, sub));
        }
        let pairs: HashSet<_> = seen.iter().map(|(a, b, _)| (a.clone(), b.clone())).collect();
        let subs: HashSet<_> = seen.iter().map(|(_, _, c)| c.clone()).collect();
        prop_assert_eq!(pairs.len(), subs.len());
    }

    #[test]
    fn parsing_never_panics(uri in "\\PC{0,100}", doc in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = SectorIdentifier::from_url(&uri);
        let _ = SectorIdentifier::from_redirect_uris(&[&uri], Some(&uri));
        let _ = validate_sector_document(&uri, &doc, &[&uri]);
    }
}
