//! JWK, JWK Set and PKCS#8: what is accepted, and the exact error for each thing refused.

mod common;

use common::{ASYMMETRIC, backends, key_for};
use portcullis_jose::{
    Algorithm, Backend, Error, HmacKey, Jwk, JwkSet, KeyError, KeyFamily, MAX_JWKS_KEYS, Part,
    VerifyOptions, jws,
};
use serde_json::{Value, json};

fn parse(v: Value) -> Result<Jwk, Error> {
    Jwk::from_json(v.to_string().as_bytes())
}

fn key_err(v: Value) -> KeyError {
    match parse(v) {
        Err(Error::Key(k)) => k,
        other => panic!("expected a key error, got {other:?}"),
    }
}

fn with(base: &Jwk, changes: Value) -> Value {
    let mut m = base.to_map();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            m.remove(k);
        } else {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

#[test]
fn generated_keys_round_trip_through_json_and_pkcs8_pem() {
    for alg in ASYMMETRIC {
        let k = key_for(alg);
        assert!(k.is_private());
        assert_eq!(k.kid(), Some(k.thumbprint().as_str()));
        let again: Jwk = k.to_json().parse().unwrap();
        assert_eq!(again.to_json(), k.to_json());
        let pem = k.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{alg}");
        let from_pem = Jwk::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(from_pem.thumbprint(), k.thumbprint());
        // The imported key signs tokens the original public key verifies, on every backend.
        for &b in backends() {
            let token = jws::sign(
                &jws::Header::new(alg),
                b"x",
                &from_pem.signing_key_with(b).unwrap(),
            )
            .unwrap();
            jws::verify(
                &token,
                &k.to_public().unwrap().verifying_key_with(b).unwrap(),
                &VerifyOptions::new(alg),
            )
            .unwrap();
        }
    }
}

#[test]
fn every_backend_generates_what_it_can() {
    for &b in backends() {
        for alg in [
            Algorithm::Es256,
            Algorithm::Es384,
            Algorithm::EdDsa,
            Algorithm::Hs256,
            Algorithm::Rs256,
        ] {
            match Jwk::generate_with(alg, b) {
                Ok(k) => {
                    assert_eq!(k.family(), alg.family());
                    if alg.is_symmetric() {
                        let hk = HmacKey::from_jwk_with(&k, b).unwrap();
                        let t = jws::sign(&jws::Header::new(alg), b"x", &hk).unwrap();
                        jws::verify(&t, &hk, &VerifyOptions::new(alg)).unwrap();
                    } else {
                        let t = jws::sign(
                            &jws::Header::new(alg),
                            b"x",
                            &k.signing_key_with(b).unwrap(),
                        )
                        .unwrap();
                        jws::verify(
                            &t,
                            &k.verifying_key_with(b).unwrap(),
                            &VerifyOptions::new(alg),
                        )
                        .unwrap();
                    }
                }
                Err(e) => {
                    // Only ring refuses, and only RSA.
                    assert_eq!(
                        (b.name(), alg, e),
                        (
                            "ring",
                            Algorithm::Rs256,
                            KeyError::UnsupportedByBackend("ring")
                        )
                    );
                }
            }
        }
    }
}

#[test]
fn public_export_drops_private_members() {
    for alg in ASYMMETRIC {
        let k = key_for(alg);
        let p = k.to_public().unwrap();
        assert!(!p.is_private());
        let m = p.to_map();
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(!m.contains_key(private), "{alg} leaks {private}");
        }
        assert_eq!(p.signing_key().unwrap_err(), KeyError::NotPrivate);
        assert_eq!(p.to_pkcs8_der().unwrap_err(), KeyError::NotPrivate);
    }
    let oct = Jwk::generate(Algorithm::Hs256).unwrap();
    assert!(oct.to_public().is_none());
    let set = JwkSet::new(vec![oct, key_for(Algorithm::Es256)]);
    assert_eq!(set.to_public().keys().len(), 1);
}

#[test]
fn rejects_rsa_modulus_under_2048_bits() {
    let k = key_for(Algorithm::Rs256);
    let n = portcullis_jose::base64url::decode(k.to_map()["n"].as_str().unwrap()).unwrap();
    // Drop 32 bytes of the modulus: 1792 bits.
    let short = portcullis_jose::base64url::encode(&n[..n.len() - 32]);
    assert_eq!(
        key_err(json!({"kty": "RSA", "n": short, "e": "AQAB"})),
        KeyError::RsaModulusSize { bits: 1792 }
    );
    let huge = portcullis_jose::base64url::encode(&[0xc5; 1025]);
    assert_eq!(
        key_err(json!({"kty": "RSA", "n": huge, "e": "AQAB"})),
        KeyError::RsaModulusSize { bits: 8200 }
    );
    let tiny = portcullis_jose::base64url::encode(&[0xc5; 128]);
    assert_eq!(
        key_err(json!({"kty": "RSA", "n": tiny, "e": "AQAB"})),
        KeyError::RsaModulusSize { bits: 1024 }
    );
}

#[test]
fn rejects_malformed_members() {
    let ec = key_for(Algorithm::Es256);
    let rsa = key_for(Algorithm::Rs256);
    let ed = key_for(Algorithm::EdDsa);
    let x = ec.to_map()["x"].as_str().unwrap().to_owned();
    let cases: Vec<(Value, KeyError)> = vec![
        (json!({"crv": "P-256"}), KeyError::MissingMember("kty")),
        (
            json!({"kty": "XYZ"}),
            KeyError::UnsupportedKeyType("XYZ".into()),
        ),
        (json!({"kty": 1}), KeyError::InvalidMember("kty")),
        (
            with(&ec, json!({"crv": "P-521"})),
            KeyError::UnsupportedCurve("P-521".into()),
        ),
        (
            with(&ec, json!({"crv": "secp256k1"})),
            KeyError::UnsupportedCurve("secp256k1".into()),
        ),
        (
            with(&ec, json!({"crv": null})),
            KeyError::MissingMember("crv"),
        ),
        (with(&ec, json!({"y": null})), KeyError::MissingMember("y")),
        (
            with(&ec, json!({"x": &x[..x.len() - 2]})),
            KeyError::InvalidMember("x"),
        ),
        (
            with(&ec, json!({"x": format!("{x}=")})),
            KeyError::InvalidMember("x"),
        ),
        (
            with(&ec, json!({"x": format!("+{}", &x[1..])})),
            KeyError::InvalidMember("x"),
        ),
        (
            with(&ec, json!({"d": "AAAA"})),
            KeyError::InvalidMember("d"),
        ),
        (
            with(&ec, json!({"alg": "RS256"})),
            KeyError::AlgorithmMismatch(Algorithm::Rs256),
        ),
        (
            with(&ec, json!({"alg": "ES384"})),
            KeyError::AlgorithmMismatch(Algorithm::Es384),
        ),
        (
            with(&ec, json!({"key_ops": ["sign", "sign"]})),
            KeyError::InvalidMember("key_ops"),
        ),
        (
            with(&ec, json!({"key_ops": "sign"})),
            KeyError::InvalidMember("key_ops"),
        ),
        (with(&ec, json!({"use": 1})), KeyError::InvalidMember("use")),
        (with(&ec, json!({"kid": 1})), KeyError::InvalidMember("kid")),
        (
            with(
                &rsa,
                json!({"n": format!("AA{}", rsa.to_map()["n"].as_str().unwrap())}),
            ),
            KeyError::InvalidMember("n"),
        ),
        (
            with(&rsa, json!({"e": "AAEAAQ"})),
            KeyError::InvalidMember("e"),
        ),
        (with(&rsa, json!({"e": "Ag"})), KeyError::InvalidMember("e")),
        (with(&rsa, json!({"e": "AQ"})), KeyError::InvalidMember("e")),
        (with(&rsa, json!({"oth": []})), KeyError::MultiPrimeRsa),
        (
            with(&rsa, json!({"qi": null})),
            KeyError::MissingMember("qi"),
        ),
        (
            with(&ed, json!({"crv": "X25519"})),
            KeyError::UnsupportedCurve("X25519".into()),
        ),
        (
            with(&ed, json!({"crv": "Ed448"})),
            KeyError::UnsupportedCurve("Ed448".into()),
        ),
        (
            with(&ed, json!({"x": "AAAA"})),
            KeyError::InvalidMember("x"),
        ),
        (json!({"kty": "oct", "k": ""}), KeyError::InvalidMember("k")),
        (json!({"kty": "oct"}), KeyError::MissingMember("k")),
        (
            json!({"kty": "oct", "k": "AQID", "alg": "ES256"}),
            KeyError::AlgorithmMismatch(Algorithm::Es256),
        ),
    ];
    for (v, expected) in cases {
        assert_eq!(key_err(v.clone()), expected, "{v}");
    }
}

#[test]
fn rejects_json_problems_in_keys() {
    assert_eq!(
        Jwk::from_json(b"[]").unwrap_err(),
        Error::NotAnObject(Part::Jwk)
    );
    assert_eq!(
        Jwk::from_json(b"{").unwrap_err(),
        Error::InvalidJson(Part::Jwk)
    );
    assert_eq!(
        Jwk::from_json(br#"{"kty":"oct","k":"AQID","k":"BAUG"}"#).unwrap_err(),
        Error::DuplicateMember {
            part: Part::Jwk,
            name: "k".into()
        }
    );
    let big = vec![b' '; portcullis_jose::MAX_JWK_LEN + 1];
    assert!(matches!(
        Jwk::from_json(&big).unwrap_err(),
        Error::TokenTooLarge { .. }
    ));
}

#[test]
fn refuses_inconsistent_private_keys() {
    let a = key_for(Algorithm::Es256);
    let b = key_for(Algorithm::Es256);
    let mixed = with(&a, json!({"d": b.to_map()["d"]}));
    let ra = key_for(Algorithm::Rs256);
    let mut rb = key_for(Algorithm::Rs256);
    while rb.thumbprint() == ra.thumbprint() {
        // Only possible with the fixed keys used where the backend cannot generate RSA keys.
        rb = key_for(Algorithm::Rs256);
    }
    let rsa_mixed = with(&ra, json!({"dp": rb.to_map()["dp"]}));
    let ea = key_for(Algorithm::EdDsa);
    let eb = key_for(Algorithm::EdDsa);
    let ed_mixed = with(&ea, json!({"d": eb.to_map()["d"]}));
    for &backend in backends() {
        for v in [&mixed, &rsa_mixed, &ed_mixed] {
            let k = parse(v.clone()).unwrap();
            assert_eq!(
                k.signing_key_with(backend).unwrap_err(),
                KeyError::Rejected,
                "{} {}",
                backend.name(),
                k.kty()
            );
        }
    }
}

#[test]
fn off_curve_points_never_verify() {
    let k = key_for(Algorithm::Es256);
    let token = jws::sign(
        &jws::Header::new(Algorithm::Es256),
        b"x",
        &k.signing_key().unwrap(),
    )
    .unwrap();
    let mut y = portcullis_jose::base64url::decode(k.to_map()["y"].as_str().unwrap()).unwrap();
    y[31] ^= 1;
    let bad = with(
        &k.to_public().unwrap(),
        json!({"y": portcullis_jose::base64url::encode(&y)}),
    );
    for &b in backends() {
        match parse(bad.clone()).unwrap().verifying_key_with(b) {
            // aws-lc-rs and RustCrypto check the point when the key is built ...
            Err(e) => assert_eq!(e, KeyError::Rejected),
            // ... ring only when it verifies.
            Ok(vk) => assert_eq!(
                jws::verify(&token, &vk, &VerifyOptions::new(Algorithm::Es256)).unwrap_err(),
                Error::InvalidSignature
            ),
        }
    }
}

#[test]
fn rejects_bad_pkcs8_and_pem() {
    assert_eq!(
        Jwk::from_pkcs8_pem("not pem").unwrap_err(),
        KeyError::InvalidPkcs8
    );
    let k = key_for(Algorithm::Es256);
    let pem = k.to_pkcs8_pem().unwrap();
    let wrong_label = pem.replace("PRIVATE KEY", "PUBLIC KEY");
    assert_eq!(
        Jwk::from_pkcs8_pem(&wrong_label).unwrap_err(),
        KeyError::InvalidPkcs8
    );
    let der = k.to_pkcs8_der().unwrap();
    assert_eq!(
        Jwk::from_pkcs8_der(&der[..der.len() - 1]).unwrap_err(),
        KeyError::InvalidPkcs8
    );
    assert_eq!(
        Jwk::from_pkcs8_der(&[]).unwrap_err(),
        KeyError::InvalidPkcs8
    );
    assert_eq!(
        Jwk::generate(Algorithm::Hs256)
            .unwrap()
            .to_pkcs8_pem()
            .unwrap_err(),
        KeyError::UnsupportedKeyType("oct".into())
    );
}

#[test]
fn jwk_set_finds_keys_by_kid_and_by_type() {
    let keys: Vec<Jwk> = ASYMMETRIC
        .iter()
        .map(|&a| {
            let mut k = key_for(a);
            k.set_kid(Some(format!("key-{a}")));
            k
        })
        .collect();
    let set = JwkSet::new(keys.iter().map(|k| k.to_public().unwrap()).collect());
    for (alg, k) in ASYMMETRIC.iter().zip(&keys) {
        assert_eq!(set.find(k.kid().unwrap()).count(), 1);
        let with_kid = jws::sign(&jws::Header::new(*alg), b"x", &k.signing_key().unwrap()).unwrap();
        jws::verify(&with_kid, &set, &VerifyOptions::new(*alg)).unwrap();
        // Without kid: only keys of the right family are tried, until one verifies.
        let mut anonymous = k.clone();
        anonymous.set_kid(None);
        let without = jws::sign(
            &jws::Header::new(*alg),
            b"x",
            &anonymous.signing_key().unwrap(),
        )
        .unwrap();
        jws::verify(&without, &set, &VerifyOptions::new(*alg)).unwrap();
    }
}

#[test]
fn jwk_set_skips_unusable_entries_and_limits_size() {
    let k = key_for(Algorithm::Es256).to_public().unwrap();
    let doc = json!({"keys": [
        k.to_map(),
        {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "OKP", "crv": "X25519", "x": "AA"},
        "not an object",
        {"kty": "oct", "k": "AQIDBA"}
    ]});
    let set = JwkSet::from_json(doc.to_string().as_bytes()).unwrap();
    assert_eq!(set.keys().len(), 2);
    assert_eq!(set.skipped(), 4);
    assert_eq!(
        JwkSet::from_json(b"{}").unwrap_err(),
        Error::Key(KeyError::MissingMember("keys"))
    );
    assert_eq!(
        JwkSet::from_json(br#"{"keys":{}}"#).unwrap_err(),
        Error::Key(KeyError::MissingMember("keys"))
    );
    let many = json!({"keys": vec![k.to_map(); MAX_JWKS_KEYS + 1]});
    assert_eq!(
        JwkSet::from_json(many.to_string().as_bytes()).unwrap_err(),
        Error::Key(KeyError::InvalidMember("keys"))
    );
}

#[test]
fn oct_keys_in_a_set_never_verify() {
    // A JWK Set is a set of public keys: an oct entry must not turn into an HMAC verifier.
    let oct = Jwk::generate(Algorithm::Hs256).unwrap();
    let set = JwkSet::new(vec![oct.clone()]);
    let hk = HmacKey::from_jwk(&oct).unwrap();
    let token = jws::sign(&jws::Header::new(Algorithm::Hs256), b"x", &hk).unwrap();
    let err = jws::verify(&token, &set, &VerifyOptions::new(Algorithm::Hs256)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnknownKeyId | Error::NoMatchingKey(Algorithm::Hs256)
        ),
        "{err:?}"
    );
    jws::verify(&token, &hk, &VerifyOptions::new(Algorithm::Hs256)).unwrap();
}

#[test]
fn hmac_keys_refuse_short_secrets_and_other_families() {
    let short = HmacKey::new(&[1; 31]).unwrap();
    assert_eq!(
        short.sign(Algorithm::Hs256, b"x").unwrap_err(),
        Error::Key(KeyError::SymmetricKeyTooShort { len: 31, min: 32 })
    );
    let ok = HmacKey::new(&[1; 32]).unwrap();
    assert_eq!(
        ok.sign(Algorithm::Es256, b"x").unwrap_err(),
        Error::KeyAlgorithmMismatch(Algorithm::Es256)
    );
    assert!(HmacKey::new(&[]).is_err());
    let tag = ok.sign(Algorithm::Hs256, b"x").unwrap();
    assert_eq!(
        ok.verify(Algorithm::Hs256, b"y", &tag).unwrap_err(),
        Error::InvalidSignature
    );
    assert_eq!(
        HmacKey::from_jwk(&key_for(Algorithm::Es256)).unwrap_err(),
        KeyError::UnsupportedKeyType("EC".into())
    );
    assert_eq!(
        Jwk::generate(Algorithm::Hs256)
            .unwrap()
            .verifying_key()
            .unwrap_err(),
        KeyError::UnsupportedKeyType("oct".into())
    );
}

#[test]
fn a_key_only_signs_and_verifies_its_own_family() {
    for alg in ASYMMETRIC {
        let k = key_for(alg);
        let sk = k.signing_key().unwrap();
        let vk = k.verifying_key().unwrap();
        for other in portcullis_jose::Algorithm::ALL {
            if other.family() != alg.family() {
                assert_eq!(
                    sk.sign(other, b"x").unwrap_err(),
                    Error::KeyAlgorithmMismatch(other)
                );
                assert_eq!(
                    vk.verify(other, b"x", &[0; 64]).unwrap_err(),
                    Error::KeyAlgorithmMismatch(other)
                );
            }
        }
        assert_ne!(sk.family(), KeyFamily::Symmetric);
    }
}

#[test]
fn the_default_backend_is_first_enabled() {
    assert_eq!(Backend::default(), Backend::enabled()[0]);
    let expected = if cfg!(feature = "aws-lc") {
        "aws-lc"
    } else if cfg!(feature = "ring") {
        "ring"
    } else {
        "rustcrypto"
    };
    assert_eq!(Backend::default().name(), expected);
}
