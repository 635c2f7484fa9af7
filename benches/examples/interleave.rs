//! Interleaved timing (A, B, A, B, ...) of pairs that criterion measures one after the other, to separate real
//! differences from machine drift (diagnosis helper; reported figures come from criterion).
//! `cargo run --release -p portcullis-benches --example interleave`
use std::hint::black_box;
use std::time::Instant;

use portcullis_benches::{AUDIENCE, Extra, ISSUER, IdTokenClaims, fixture};
use portcullis_jose::{Algorithm, Backend, JwkSet, Validation, jwt};

fn main() {
    for alg in [Algorithm::Es256, Algorithm::Rs256] {
        let f = fixture(alg);
        let v = Validation::new(alg).issuer(ISSUER).audience(AUDIENCE);
        let sets: Vec<(Backend, JwkSet)> = Backend::enabled()
            .iter()
            .map(|&b| (b, JwkSet::new_with(vec![f.key.to_public().unwrap()], b)))
            .collect();
        let (aws_alg, bytes): (
            &'static dyn aws_lc_rs::signature::VerificationAlgorithm,
            Vec<u8>,
        ) = if alg == Algorithm::Es256 {
            (
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                f.sec1_point(),
            )
        } else {
            (
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                f.rsa_pkcs1_der(),
            )
        };
        let parsed = aws_lc_rs::signature::ParsedPublicKey::new(aws_alg, &bytes).unwrap();
        use jsonwebtoken_rc as jt;
        let jkey = if alg == Algorithm::Rs256 {
            jt::DecodingKey::from_rsa_components(&f.member("n"), &f.member("e")).unwrap()
        } else {
            jt::DecodingKey::from_ec_components(&f.member("x"), &f.member("y")).unwrap()
        };
        let mut jv = jt::Validation::new(if alg == Algorithm::Rs256 {
            jt::Algorithm::RS256
        } else {
            jt::Algorithm::ES256
        });
        jv.set_issuer(&[ISSUER]);
        jv.set_audience(&[AUDIENCE]);
        let rounds = 400;
        let mut t_ours = vec![0u128; sets.len()];
        let (mut t_raw, mut t_jrc) = (0u128, 0u128);
        for _ in 0..rounds {
            for (i, (_, set)) in sets.iter().enumerate() {
                let t = Instant::now();
                black_box(jwt::decode::<Extra>(black_box(&f.token), set, &v).unwrap());
                t_ours[i] += t.elapsed().as_nanos();
            }
            let t = Instant::now();
            parsed
                .verify_sig(
                    black_box(f.signing_input.as_bytes()),
                    black_box(&f.signature),
                )
                .unwrap();
            t_raw += t.elapsed().as_nanos();
            let t = Instant::now();
            black_box(
                jt::decode::<IdTokenClaims>(black_box(f.token.as_str()), &jkey, &jv).unwrap(),
            );
            t_jrc += t.elapsed().as_nanos();
        }
        let us = |t: u128| t as f64 / rounds as f64 / 1e3;
        for (i, (b, _)) in sets.iter().enumerate() {
            println!("{alg} portcullis/{}: {:.1} µs", b.name(), us(t_ours[i]));
        }
        println!(
            "{alg} raw aws-lc parsed key: {:.1} µs; ratio aws-lc/raw {:.3}",
            us(t_raw),
            t_ours[0] as f64 / t_raw as f64
        );
        println!(
            "{alg} jsonwebtoken rust_crypto: {:.1} µs; ratio rustcrypto/jsonwebtoken {:.3}",
            us(t_jrc),
            t_ours[2] as f64 / t_jrc as f64
        );
    }
}
