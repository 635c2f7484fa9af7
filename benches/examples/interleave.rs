//! Interleaved comparison: every contender verifies the same ID token once per round, round after round, so that
//! machine drift (which on a shared 2-core VM moves sequential criterion runs by ±10 %) hits all of them alike.
//! Prints the median per-call time of each and the ratios the targets are stated in.
//!
//! `cargo run --release -p portcullis-benches --example interleave [ROUNDS]`
use std::hint::black_box;
use std::time::Instant;

use portcullis_benches::{AUDIENCE, Extra, Fixture, ISSUER, IdTokenClaims, fixture};
use portcullis_jose::{Algorithm, Backend, JwkSet, Validation, jwt};

type Contender<'a> = (String, Box<dyn Fn() + 'a>);

fn contenders(f: &Fixture, alg: Algorithm) -> Vec<Contender<'_>> {
    let rsa = alg == Algorithm::Rs256;
    let mut out: Vec<Contender<'_>> = Vec::new();
    for &b in Backend::enabled() {
        let set = JwkSet::new_with(vec![f.key.to_public().unwrap()], b);
        let v = Validation::new(alg).issuer(ISSUER).audience(AUDIENCE);
        out.push((
            format!("portcullis/{}", b.name()),
            Box::new(move || {
                black_box(jwt::decode::<Extra>(black_box(&f.token), &set, &v).unwrap());
            }),
        ));
    }
    let (aws_alg, ring_alg, bytes): (
        &'static dyn aws_lc_rs::signature::VerificationAlgorithm,
        &'static dyn ring::signature::VerificationAlgorithm,
        Vec<u8>,
    ) = if rsa {
        (
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            f.rsa_pkcs1_der(),
        )
    } else {
        (
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            f.sec1_point(),
        )
    };
    let parsed = aws_lc_rs::signature::ParsedPublicKey::new(aws_alg, &bytes).unwrap();
    out.push((
        "raw/aws-lc-rs-parsed-key".into(),
        Box::new(move || {
            parsed
                .verify_sig(
                    black_box(f.signing_input.as_bytes()),
                    black_box(&f.signature),
                )
                .unwrap()
        }),
    ));
    let unparsed = aws_lc_rs::signature::UnparsedPublicKey::new(aws_alg, bytes.clone());
    out.push((
        "raw/aws-lc-rs".into(),
        Box::new(move || {
            unparsed
                .verify(
                    black_box(f.signing_input.as_bytes()),
                    black_box(&f.signature),
                )
                .unwrap()
        }),
    ));
    let ring_key = ring::signature::UnparsedPublicKey::new(ring_alg, bytes);
    out.push((
        "raw/ring".into(),
        Box::new(move || {
            ring_key
                .verify(
                    black_box(f.signing_input.as_bytes()),
                    black_box(&f.signature),
                )
                .unwrap()
        }),
    ));
    macro_rules! jsonwebtoken {
        ($jt:ident, $name:expr) => {{
            use $jt as jt;
            let key = if rsa {
                jt::DecodingKey::from_rsa_components(&f.member("n"), &f.member("e")).unwrap()
            } else {
                jt::DecodingKey::from_ec_components(&f.member("x"), &f.member("y")).unwrap()
            };
            let mut v = jt::Validation::new(if rsa {
                jt::Algorithm::RS256
            } else {
                jt::Algorithm::ES256
            });
            v.set_issuer(&[ISSUER]);
            v.set_audience(&[AUDIENCE]);
            out.push((
                $name.into(),
                Box::new(move || {
                    black_box(
                        jt::decode::<IdTokenClaims>(black_box(f.token.as_str()), &key, &v).unwrap(),
                    );
                }),
            ));
        }};
    }
    jsonwebtoken!(jsonwebtoken_aws, "jsonwebtoken/aws_lc_rs");
    jsonwebtoken!(jsonwebtoken_rc, "jsonwebtoken/rust_crypto");
    let jwk =
        josekit::jwk::Jwk::from_bytes(f.key.to_public().unwrap().to_json().as_bytes()).unwrap();
    let verifier: Box<dyn josekit::jws::JwsVerifier> = if rsa {
        Box::new(josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap())
    } else {
        Box::new(josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap())
    };
    out.push((
        "josekit".into(),
        Box::new(move || {
            let (payload, _) =
                josekit::jwt::decode_with_verifier(black_box(&f.token), &*verifier).unwrap();
            let mut validator = josekit::jwt::JwtPayloadValidator::new();
            validator.set_base_time(std::time::SystemTime::now());
            validator.set_issuer(ISSUER);
            validator.set_audience(AUDIENCE);
            validator.validate(&payload).unwrap();
        }),
    ));
    {
        use jwt_simple::prelude::*;
        let opts = VerificationOptions {
            allowed_issuers: Some(HashSet::from([ISSUER.to_owned()])),
            allowed_audiences: Some(HashSet::from([AUDIENCE.to_owned()])),
            ..Default::default()
        };
        if rsa {
            let pk = RS256PublicKey::from_components(&f.member_bytes("n"), &f.member_bytes("e"))
                .unwrap();
            out.push((
                "jwt-simple/pure-rust".into(),
                Box::new(move || {
                    black_box(
                        pk.verify_token::<Extra>(black_box(&f.token), Some(opts.clone()))
                            .unwrap(),
                    );
                }),
            ));
        } else {
            let pk = ES256PublicKey::from_bytes(&f.sec1_point()).unwrap();
            out.push((
                "jwt-simple/pure-rust".into(),
                Box::new(move || {
                    black_box(
                        pk.verify_token::<Extra>(black_box(&f.token), Some(opts.clone()))
                            .unwrap(),
                    );
                }),
            ));
        }
    }
    out
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    for alg in [Algorithm::Es256, Algorithm::Rs256] {
        let f = fixture(alg);
        let cs = contenders(&f, alg);
        let mut samples: Vec<Vec<u128>> = vec![Vec::with_capacity(rounds); cs.len()];
        for _ in 0..rounds {
            for (i, (_, run)) in cs.iter().enumerate() {
                let t = Instant::now();
                run();
                samples[i].push(t.elapsed().as_nanos());
            }
        }
        let median = |v: &mut Vec<u128>| {
            v.sort_unstable();
            v[v.len() / 2] as f64 / 1e3
        };
        let medians: Vec<f64> = samples.iter_mut().map(median).collect();
        let of = |name: &str| medians[cs.iter().position(|(n, _)| n == name).unwrap()];
        println!("{alg} ({rounds} interleaved rounds, median µs per verification)");
        for ((name, _), m) in cs.iter().zip(&medians) {
            println!("  {name:28} {m:8.1}");
        }
        let ours = of("portcullis/aws-lc");
        println!(
            "  portcullis/aws-lc ÷ raw aws-lc-rs (parsed key): {:.3}",
            ours / of("raw/aws-lc-rs-parsed-key")
        );
        println!(
            "  portcullis/aws-lc ÷ raw aws-lc-rs (unparsed key): {:.3}",
            ours / of("raw/aws-lc-rs")
        );
        println!(
            "  portcullis/rustcrypto ÷ jsonwebtoken/rust_crypto: {:.3}",
            of("portcullis/rustcrypto") / of("jsonwebtoken/rust_crypto")
        );
    }
}
