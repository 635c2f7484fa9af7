//! Attack regressions: one named test per known way to fool a JWS/JWT verifier, each asserting the exact error.

mod common;

use common::{backends, key_for};
use portcullis_jose::{
    Algorithm, Error, HmacKey, Jwk, JwkSet, Part, Validation, VerifyOptions, base64url, jws, jwt,
};
use serde_json::json;

/// Builds a compact token from raw JSON texts and a raw signature.
fn forge(header: &str, payload: &str, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        base64url::encode(header.as_bytes()),
        base64url::encode(payload.as_bytes()),
        base64url::encode(sig)
    )
}

/// Signs raw header/payload JSON texts with a key (so that malformed JSON can still carry a valid signature).
fn sign_raw(header: &str, payload: &str, key: &Jwk, alg: Algorithm) -> String {
    let input = format!(
        "{}.{}",
        base64url::encode(header.as_bytes()),
        base64url::encode(payload.as_bytes())
    );
    let sig = key
        .signing_key()
        .unwrap()
        .sign(alg, input.as_bytes())
        .unwrap();
    format!("{input}.{}", base64url::encode(&sig))
}

fn es256() -> (Jwk, JwkSet) {
    let mut k = key_for(Algorithm::Es256);
    k.set_kid(Some("k1".into()));
    let set = JwkSet::new(vec![k.to_public().unwrap()]);
    (k, set)
}

fn all_algs() -> VerifyOptions {
    VerifyOptions::new(Algorithm::ALL)
}

#[test]
fn rejects_alg_none_in_any_capitalization() {
    let (_, set) = es256();
    for none in ["none", "None", "NONE", "nOnE", "none "] {
        let token = forge(&format!(r#"{{"alg":"{none}"}}"#), r#"{"sub":"a"}"#, b"");
        assert_eq!(
            jws::verify(&token, &set, &all_algs()).unwrap_err(),
            Error::UnsupportedAlgorithm(none.into())
        );
        // Also with no signature part content at all, and with a trailing dot missing.
        let two_parts = token.trim_end_matches('.').to_string();
        assert!(jws::verify(&two_parts, &set, &all_algs()).is_err());
    }
    assert!("none".parse::<Algorithm>().is_err());
}

#[test]
fn rejects_hs256_signed_with_rsa_public_key_as_secret() {
    let rsa = key_for(Algorithm::Rs256);
    let public = rsa.to_public().unwrap();
    let set = JwkSet::new(vec![public.clone()]);
    let vk = public.verifying_key().unwrap();
    // The attacker uses every public encoding of the key as the HMAC secret.
    let secrets = [
        public.to_json().into_bytes(),
        set.to_json().into_bytes(),
        public.thumbprint().into_bytes(),
    ];
    for secret in secrets {
        let token = jws::sign(
            &jws::Header::new(Algorithm::Hs256),
            b"{}",
            &HmacKey::new(&secret).unwrap(),
        )
        .unwrap();
        let opts = VerifyOptions::new([Algorithm::Rs256, Algorithm::Hs256]);
        assert_eq!(
            jws::verify(&token, &set, &opts).unwrap_err(),
            Error::NoMatchingKey(Algorithm::Hs256)
        );
        assert_eq!(
            jws::verify(&token, &vk, &opts).unwrap_err(),
            Error::NoMatchingKey(Algorithm::Hs256)
        );
    }
    // And the key itself refuses the algorithm.
    assert_eq!(
        vk.verify(Algorithm::Hs256, b"x", &[0; 32]).unwrap_err(),
        Error::KeyAlgorithmMismatch(Algorithm::Hs256)
    );
}

#[test]
fn rejects_hs256_signed_with_ec_public_key_as_secret() {
    let (k, set) = es256();
    let secret = k.to_public().unwrap().to_json();
    let token = jws::sign(
        &jws::Header::new(Algorithm::Hs256).with_kid("k1"),
        b"{}",
        &HmacKey::new(secret.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        jws::verify(&token, &set, &all_algs()).unwrap_err(),
        Error::NoMatchingKey(Algorithm::Hs256)
    );
}

#[test]
fn rejects_kid_with_path_or_sql_characters() {
    let (k, set) = es256();
    for kid in [
        "../../../../etc/passwd",
        "' OR '1'='1",
        "k1; DROP TABLE keys;--",
        "k1\u{0}",
        "/dev/null",
        "k1 ",
        "K1",
    ] {
        let token = jws::sign(
            &jws::Header::new(Algorithm::Es256).with_kid(kid),
            b"{}",
            &k.signing_key().unwrap(),
        )
        .unwrap();
        assert_eq!(
            jws::verify(&token, &set, &all_algs()).unwrap_err(),
            Error::UnknownKeyId,
            "kid {kid:?}"
        );
    }
}

#[test]
fn ignores_jku_x5u_jwk_and_x5c_headers_pointing_elsewhere() {
    let (_, trusted) = es256();
    let mut attacker = key_for(Algorithm::Es256);
    let attacker_kid = attacker.kid().unwrap().to_owned();
    attacker.set_kid(None);
    let mut header = jws::Header::new(Algorithm::Es256);
    header.jku = Some("https://attacker.example/jwks.json".into());
    header.x5u = Some("https://attacker.example/cert.pem".into());
    header.jwk = Some(attacker.to_public().unwrap().to_map());
    header.x5c = Some(vec!["MIIB".into()]);
    let token = jws::sign(&header, b"{}", &attacker.signing_key().unwrap()).unwrap();
    // No kid: only the trusted P-256 key is tried, and it does not verify the attacker's signature.
    assert_eq!(
        jws::verify(&token, &trusted, &all_algs()).unwrap_err(),
        Error::InvalidSignature
    );
    // With the attacker's kid: unknown.
    let token = jws::sign(
        &header.clone().with_kid(attacker_kid),
        b"{}",
        &attacker.signing_key().unwrap(),
    )
    .unwrap();
    assert_eq!(
        jws::verify(&token, &trusted, &all_algs()).unwrap_err(),
        Error::UnknownKeyId
    );
}

#[test]
fn rejects_unknown_crit() {
    let (k, set) = es256();
    let signer = k.signing_key().unwrap();
    let mut h = jws::Header::new(Algorithm::Es256);
    h.crit = Some(vec!["exp2".into()]);
    h.extra.insert("exp2".into(), json!(1));
    let token = jws::sign(&h, b"{}", &signer).unwrap();
    assert_eq!(
        jws::verify(&token, &set, &all_algs()).unwrap_err(),
        Error::UnsupportedCritical("exp2".into())
    );
    // Understood by the caller: accepted.
    jws::verify(&token, &set, &all_algs().understand_critical("exp2")).unwrap();
    // Understood but absent from the header, listing a registered name, empty, duplicated, or not an array.
    for (crit, extra) in [
        (json!(["exp2"]), false),
        (json!(["alg"]), true),
        (json!([]), true),
        (json!(["exp2", "exp2"]), true),
        (json!("exp2"), true),
    ] {
        let mut header = json!({"alg": "ES256", "crit": crit});
        if extra {
            header["exp2"] = json!(1);
        }
        let token = sign_raw(&header.to_string(), "{}", &k, Algorithm::Es256);
        let err = jws::verify(&token, &set, &all_algs().understand_critical("exp2")).unwrap_err();
        assert_eq!(err, Error::InvalidHeader("crit"), "{header}");
    }
}

#[test]
fn rejects_ecdsa_r_or_s_zero_cve_2022_21449() {
    for &b in backends() {
        let k = key_for(Algorithm::Es256);
        let vk = k.verifying_key_with(b).unwrap();
        let good = jws::sign(
            &jws::Header::new(Algorithm::Es256),
            b"{}",
            &k.signing_key_with(b).unwrap(),
        )
        .unwrap();
        let (input, sig) = good.rsplit_once('.').unwrap();
        let sig = base64url::decode(sig).unwrap();
        let mut r_zero = sig.clone();
        r_zero[..32].fill(0);
        let mut s_zero = sig.clone();
        s_zero[32..].fill(0);
        for bad in [vec![0u8; 64], r_zero, s_zero] {
            let token = format!("{input}.{}", base64url::encode(&bad));
            assert_eq!(
                jws::verify(&token, &vk, &all_algs()).unwrap_err(),
                Error::InvalidSignature,
                "{}",
                b.name()
            );
        }
        // r = s = n (the group order) is out of range too.
        let n = base64url::decode("_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE").unwrap();
        let token = format!("{input}.{}", base64url::encode(&[n.clone(), n].concat()));
        assert_eq!(
            jws::verify(&token, &vk, &all_algs()).unwrap_err(),
            Error::InvalidSignature
        );
    }
}

#[test]
fn rejects_truncated_or_overlong_signatures() {
    for alg in [
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Rs256,
        Algorithm::EdDsa,
    ] {
        let k = key_for(alg);
        let vk = k.verifying_key().unwrap();
        let token = jws::sign(&jws::Header::new(alg), b"{}", &k.signing_key().unwrap()).unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = base64url::decode(sig).unwrap();
        let len = sig.len();
        for bad in [
            sig[..len - 1].to_vec(),
            [sig.clone(), vec![0]].concat(),
            [vec![0], sig.clone()].concat(),
            vec![],
        ] {
            let t = format!("{input}.{}", base64url::encode(&bad));
            assert_eq!(
                jws::verify(&t, &vk, &all_algs()).unwrap_err(),
                Error::InvalidSignatureLength {
                    expected: len,
                    found: bad.len()
                },
                "{alg}"
            );
        }
        // ECDSA in DER form (what many libraries produce by mistake) is refused by length too.
    }
    let hk = HmacKey::new(&[1; 32]).unwrap();
    let token = jws::sign(&jws::Header::new(Algorithm::Hs256), b"{}", &hk).unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    let truncated = format!(
        "{input}.{}",
        base64url::encode(&base64url::decode(sig).unwrap()[..16])
    );
    assert_eq!(
        jws::verify(&truncated, &hk, &all_algs()).unwrap_err(),
        Error::InvalidSignatureLength {
            expected: 32,
            found: 16
        }
    );
}

#[test]
fn rejects_padded_or_non_canonical_base64() {
    let (k, set) = es256();
    let token = jws::sign(
        &jws::Header::new(Algorithm::Es256).with_kid("k1"),
        b"{\"a\":1}",
        &k.signing_key().unwrap(),
    )
    .unwrap();
    jws::verify(&token, &set, &all_algs()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    // Padding on any part.
    for (i, part) in [Part::Header, Part::Payload, Part::Signature]
        .into_iter()
        .enumerate()
    {
        let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        p[i].push_str("==");
        assert_eq!(
            jws::verify(&p.join("."), &set, &all_algs()).unwrap_err(),
            Error::InvalidBase64(part)
        );
    }
    // Standard alphabet instead of URL-safe.
    let std_alpha = token.replacen('-', "+", 1).replacen('_', "/", 1);
    if std_alpha != token {
        assert!(matches!(
            jws::verify(&std_alpha, &set, &all_algs()).unwrap_err(),
            Error::InvalidBase64(_)
        ));
    }
    // Non-canonical trailing bits: a 64-byte signature is 86 characters with 4 unused low bits in the last one.
    let sig = parts[2];
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    let tweaked = alphabet.chars().nth(idx | 1).unwrap();
    let bad = format!(
        "{}.{}.{}{}",
        parts[0],
        parts[1],
        &sig[..sig.len() - 1],
        tweaked
    );
    assert_eq!(
        jws::verify(&bad, &set, &all_algs()).unwrap_err(),
        Error::InvalidBase64(Part::Signature)
    );
    // Whitespace and line breaks inside a part.
    let spaced = format!("{} .{}.{}", parts[0], parts[1], parts[2]);
    assert_eq!(
        jws::verify(&spaced, &set, &all_algs()).unwrap_err(),
        Error::InvalidBase64(Part::Header)
    );
}

#[test]
fn rejects_duplicate_json_members() {
    let (k, set) = es256();
    let token = sign_raw(
        r#"{"alg":"ES256","alg":"HS256"}"#,
        "{}",
        &k,
        Algorithm::Es256,
    );
    assert_eq!(
        jws::verify(&token, &set, &all_algs()).unwrap_err(),
        Error::DuplicateMember {
            part: Part::Header,
            name: "alg".into()
        }
    );
    let v = Validation::new(Algorithm::Es256)
        .any_issuer()
        .any_audience()
        .without_time_checks();
    let token = sign_raw(
        r#"{"alg":"ES256"}"#,
        r#"{"sub":"alice","sub":"admin"}"#,
        &k,
        Algorithm::Es256,
    );
    assert_eq!(
        jwt::decode::<serde_json::Value>(&token, &set, &v).unwrap_err(),
        Error::DuplicateMember {
            part: Part::Payload,
            name: "sub".into()
        }
    );
}

#[test]
fn rejects_claims_that_are_an_array_or_a_string() {
    let (k, set) = es256();
    let v = Validation::new(Algorithm::Es256)
        .any_issuer()
        .any_audience()
        .without_time_checks();
    for payload in [r#"[{"sub":"a"}]"#, r#""sub""#, "42", "null", "true"] {
        let token = sign_raw(r#"{"alg":"ES256"}"#, payload, &k, Algorithm::Es256);
        assert_eq!(
            jwt::decode::<serde_json::Value>(&token, &set, &v).unwrap_err(),
            Error::NotAnObject(Part::Payload)
        );
    }
    let token = sign_raw(r#"{"alg":"ES256"}"#, "{not json", &k, Algorithm::Es256);
    assert_eq!(
        jwt::decode::<serde_json::Value>(&token, &set, &v).unwrap_err(),
        Error::InvalidJson(Part::Payload)
    );
    let token = sign_raw("[]", "{}", &k, Algorithm::Es256);
    assert_eq!(
        jws::verify(&token, &set, &all_algs()).unwrap_err(),
        Error::NotAnObject(Part::Header)
    );
}

#[test]
fn rejects_a_10_mb_token_before_parsing() {
    let (_, set) = es256();
    let huge = format!("{}.{}.{}", "e".repeat(10 << 20), "e", "e");
    assert_eq!(
        jws::verify(&huge, &set, &all_algs()).unwrap_err(),
        Error::TokenTooLarge {
            len: huge.len(),
            limit: 16 * 1024
        }
    );
    let v = Validation::new(Algorithm::Es256)
        .any_issuer()
        .any_audience();
    assert!(matches!(
        jwt::decode::<serde_json::Value>(&huge, &set, &v).unwrap_err(),
        Error::TokenTooLarge { .. }
    ));
}

#[test]
fn rejects_exp_as_a_string() {
    let (k, set) = es256();
    let v = Validation::new(Algorithm::Es256)
        .any_issuer()
        .any_audience();
    let token = sign_raw(
        r#"{"alg":"ES256"}"#,
        r#"{"exp":"9999999999"}"#,
        &k,
        Algorithm::Es256,
    );
    assert_eq!(
        jwt::decode::<serde_json::Value>(&token, &set, &v).unwrap_err(),
        Error::InvalidClaim("exp")
    );
    // ... even when time checks are off: a wrong type is never "absent".
    let token = sign_raw(
        r#"{"alg":"ES256"}"#,
        r#"{"exp":"soon"}"#,
        &k,
        Algorithm::Es256,
    );
    assert_eq!(
        jwt::decode::<serde_json::Value>(&token, &set, &v.clone().without_time_checks())
            .unwrap_err(),
        Error::InvalidClaim("exp")
    );
}

#[test]
fn rejects_wrong_part_counts() {
    let (_, set) = es256();
    for t in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e", "...."] {
        assert_eq!(
            jws::verify(t, &set, &all_algs()).unwrap_err(),
            Error::WrongPartCount,
            "{t:?}"
        );
    }
}

#[test]
fn rejects_missing_or_malformed_header_parameters() {
    let (k, set) = es256();
    let cases = [
        (r#"{"kid":"k1"}"#, Error::MissingAlgorithm),
        (r#"{"alg":256}"#, Error::InvalidHeader("alg")),
        (r#"{"alg":"ES256","kid":7}"#, Error::InvalidHeader("kid")),
        (
            r#"{"alg":"ES256","typ":["JWT"]}"#,
            Error::InvalidHeader("typ"),
        ),
        (r#"{"alg":"ES256","jwk":"x"}"#, Error::InvalidHeader("jwk")),
        (r#"{"alg":"ES256","x5c":[1]}"#, Error::InvalidHeader("x5c")),
        (
            r#"{"alg":"ES512"}"#,
            Error::UnsupportedAlgorithm("ES512".into()),
        ),
        (
            r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#,
            Error::UnsupportedAlgorithm("RSA-OAEP".into()),
        ),
    ];
    for (header, expected) in cases {
        let token = sign_raw(header, "{}", &k, Algorithm::Es256);
        assert_eq!(
            jws::verify(&token, &set, &all_algs()).unwrap_err(),
            expected,
            "{header}"
        );
    }
}

#[test]
fn checks_explicit_typ() {
    let (k, set) = es256();
    let signer = k.signing_key().unwrap();
    let with = |typ: Option<&str>| {
        let mut h = jws::Header::new(Algorithm::Es256);
        h.typ = typ.map(str::to_owned);
        jws::sign(&h, b"{}", &signer).unwrap()
    };
    let opts = all_algs().typ("at+jwt");
    jws::verify(&with(Some("at+jwt")), &set, &opts).unwrap();
    jws::verify(&with(Some("application/AT+JWT")), &set, &opts).unwrap();
    assert_eq!(
        jws::verify(&with(Some("JWT")), &set, &opts).unwrap_err(),
        Error::TypeMismatch {
            expected: "at+jwt".into(),
            found: Some("JWT".into())
        }
    );
    assert_eq!(
        jws::verify(&with(None), &set, &opts).unwrap_err(),
        Error::TypeMismatch {
            expected: "at+jwt".into(),
            found: None
        }
    );
}

#[test]
fn algorithm_allow_list_is_checked_before_any_key_lookup() {
    let (k, set) = es256();
    let token = jws::sign(
        &jws::Header::new(Algorithm::Es256).with_kid("nope"),
        b"{}",
        &k.signing_key().unwrap(),
    )
    .unwrap();
    let only_rs = VerifyOptions::new(Algorithm::Rs256);
    assert_eq!(
        jws::verify(&token, &set, &only_rs).unwrap_err(),
        Error::AlgorithmNotAllowed(Algorithm::Es256)
    );
    let nothing = VerifyOptions::new(portcullis_jose::AlgorithmSet::empty());
    assert_eq!(
        jws::verify(&token, &set, &nothing).unwrap_err(),
        Error::AlgorithmNotAllowed(Algorithm::Es256)
    );
}

#[test]
fn key_constraints_select_keys() {
    // A key whose `alg` is RS384 never verifies RS256; an encryption key never verifies; key_ops without
    // verify never verifies.
    let rsa = key_for(Algorithm::Rs256);
    let token = jws::sign(
        &jws::Header::new(Algorithm::Rs256),
        b"{}",
        &rsa.signing_key().unwrap(),
    )
    .unwrap();
    for extra in [
        json!({"alg": "RS384"}),
        json!({"use": "enc"}),
        json!({"key_ops": ["encrypt"]}),
    ] {
        let mut m = rsa.to_public().unwrap().to_map();
        m.remove("alg");
        m.remove("use");
        for (k, v) in extra.as_object().unwrap() {
            m.insert(k.clone(), v.clone());
        }
        let set = JwkSet::new(vec![Jwk::from_map(&m).unwrap()]);
        assert_eq!(
            jws::verify(&token, &set, &all_algs()).unwrap_err(),
            Error::NoMatchingKey(Algorithm::Rs256),
            "{extra}"
        );
    }
}

#[test]
fn a_single_bit_flip_anywhere_is_rejected() {
    let (k, set) = es256();
    let token = jws::sign(
        &jws::Header::new(Algorithm::Es256).with_kid("k1"),
        br#"{"sub":"alice"}"#,
        &k.signing_key().unwrap(),
    )
    .unwrap();
    let bytes = token.as_bytes();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.to_vec();
            b[i] ^= 1 << bit;
            if let Ok(s) = String::from_utf8(b) {
                assert!(
                    jws::verify(&s, &set, &all_algs()).is_err(),
                    "flip at byte {i} bit {bit} accepted"
                );
            }
        }
    }
}
