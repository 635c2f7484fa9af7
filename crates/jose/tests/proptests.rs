//! Property tests: sign → verify round trips for random claims on every algorithm and backend, and no single-bit
//! flip of a token is ever accepted.

mod common;

use std::sync::OnceLock;

use common::{ASYMMETRIC, backends};
use portcullis_jose::{Algorithm, HmacKey, Jwk, JwkSet, Validation, VerifyOptions, jws, jwt};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// One key per asymmetric algorithm, generated once (RSA generation is slow).
fn keys() -> &'static Vec<(Algorithm, Jwk)> {
    static KEYS: OnceLock<Vec<(Algorithm, Jwk)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        ASYMMETRIC
            .iter()
            .map(|&a| (a, common::key_for(a)))
            .collect()
    })
}

fn claim_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        prop::collection::vec("[a-z]{0,8}".prop_map(Value::from), 0..4).prop_map(Value::from),
    ]
}

fn claims() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[a-z_]{1,12}", claim_value(), 0..10).prop_map(|m| {
        let mut out: Map<String, Value> = m.into_iter().collect();
        // Registered names with their proper types.
        for name in [
            "exp",
            "nbf",
            "iat",
            "auth_time",
            "iss",
            "sub",
            "aud",
            "jti",
            "azp",
            "nonce",
        ] {
            out.remove(name);
        }
        out.insert("iss".into(), "https://op.example".into());
        out.insert("aud".into(), "rp".into());
        out.insert(
            "exp".into(),
            (jwt::NumericDate::now().as_secs() + 600).into(),
        );
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sign_then_verify_round_trips(c in claims(), which in 0usize..9, backend in 0usize..3) {
        let (alg, key) = &keys()[which];
        let b = backends()[backend % backends().len()];
        let token = jwt::encode_value(&jws::Header::new(*alg), &c, &key.signing_key_with(b).unwrap()).unwrap();
        let set = JwkSet::new_with(vec![key.to_public().unwrap()], b);
        let v = Validation::new(*alg).issuer("https://op.example").audience("rp");
        let out: jwt::Jwt = jwt::decode(&token, &set, &v).unwrap();
        prop_assert_eq!(out.claims.custom, c);
    }

    #[test]
    fn hmac_round_trips(c in claims(), secret in prop::collection::vec(any::<u8>(), 64..80), which in 0usize..3) {
        let alg = [Algorithm::Hs256, Algorithm::Hs384, Algorithm::Hs512][which];
        let key = HmacKey::new(&secret).unwrap();
        let token = jwt::encode_value(&jws::Header::new(alg), &c, &key).unwrap();
        let v = Validation::new(alg).issuer("https://op.example").audience("rp");
        let out: jwt::Jwt = jwt::decode(&token, &key, &v).unwrap();
        prop_assert_eq!(out.claims.custom, c);
    }

    #[test]
    fn any_single_bit_flip_is_rejected(c in claims(), which in 0usize..9, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (alg, key) = &keys()[which];
        let token = jwt::encode_value(&jws::Header::new(*alg), &c, &key.signing_key().unwrap()).unwrap();
        let set = JwkSet::new(vec![key.to_public().unwrap()]);
        let mut bytes = token.into_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(flipped) = String::from_utf8(bytes) {
            prop_assert!(jws::verify(&flipped, &set, &VerifyOptions::new(Algorithm::ALL)).is_err());
        }
    }

    #[test]
    fn arbitrary_input_never_panics(s in "\\PC{0,300}") {
        let set = JwkSet::new(vec![keys()[0].1.to_public().unwrap()]);
        let _ = jws::verify(&s, &set, &VerifyOptions::new(Algorithm::ALL));
        let _ = jws::decode_unverified(&s);
        let _ = Jwk::from_json(s.as_bytes());
        let _ = JwkSet::from_json(s.as_bytes());
    }
}
