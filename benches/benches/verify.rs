//! Full verification of one realistic ID token (signature + iss, aud, exp, nbf, iat checks) in Portcullis on
//! each backend, the raw signature check of aws-lc-rs and ring (the floor), and the same token through
//! jsonwebtoken (aws-lc and rust_crypto), josekit (OpenSSL) and jwt-simple (pure Rust). Each library decodes
//! into typed claims where it can (josekit always builds a JSON map). Run:
//! `cargo bench -p portcullis-benches --bench verify`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_benches::{AUDIENCE, Extra, Fixture, ISSUER, IdTokenClaims, fixture};
use portcullis_jose::{Algorithm, Backend, JwkSet, Validation, jwt};

fn portcullis(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    f: &Fixture,
    alg: Algorithm,
) {
    for &b in Backend::enabled() {
        let set = JwkSet::new_with(vec![f.key.to_public().unwrap()], b);
        let v = Validation::new(alg).issuer(ISSUER).audience(AUDIENCE);
        c.bench_function(format!("portcullis/{}", b.name()), |bench| {
            bench.iter(|| {
                let t: jwt::Jwt<Extra> = jwt::decode(black_box(&f.token), &set, &v).unwrap();
                black_box(t)
            })
        });
    }
}

fn raw(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    f: &Fixture,
    key_bytes: Vec<u8>,
    aws: &'static dyn aws_lc_rs::signature::VerificationAlgorithm,
    ring_alg: &'static dyn ring::signature::VerificationAlgorithm,
) {
    let unparsed = aws_lc_rs::signature::UnparsedPublicKey::new(aws, key_bytes.clone());
    c.bench_function("raw/aws-lc-rs", |b| {
        b.iter(|| {
            unparsed
                .verify(
                    black_box(f.signing_input.as_bytes()),
                    black_box(&f.signature),
                )
                .unwrap()
        })
    });
    let parsed = aws_lc_rs::signature::ParsedPublicKey::new(aws, &key_bytes).unwrap();
    c.bench_function("raw/aws-lc-rs-parsed-key", |b| {
        b.iter(|| {
            parsed
                .verify_sig(
                    black_box(f.signing_input.as_bytes()),
                    black_box(&f.signature),
                )
                .unwrap()
        })
    });
    let ring_key = ring::signature::UnparsedPublicKey::new(ring_alg, key_bytes);
    c.bench_function("raw/ring", |b| {
        b.iter(|| {
            ring_key
                .verify(
                    black_box(f.signing_input.as_bytes()),
                    black_box(&f.signature),
                )
                .unwrap()
        })
    });
}

fn jsonwebtoken_validation<A>(make: impl Fn() -> A, set: impl Fn(&mut A)) -> A {
    let mut v = make();
    set(&mut v);
    v
}

fn peers(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    f: &Fixture,
    alg: Algorithm,
) {
    let rsa = alg == Algorithm::Rs256;
    // jsonwebtoken on aws-lc-rs.
    {
        use jsonwebtoken_aws as jt;
        let key = if rsa {
            jt::DecodingKey::from_rsa_components(&f.member("n"), &f.member("e")).unwrap()
        } else {
            jt::DecodingKey::from_ec_components(&f.member("x"), &f.member("y")).unwrap()
        };
        let a = if rsa {
            jt::Algorithm::RS256
        } else {
            jt::Algorithm::ES256
        };
        let v = jsonwebtoken_validation(
            || jt::Validation::new(a),
            |v| {
                v.set_issuer(&[ISSUER]);
                v.set_audience(&[AUDIENCE]);
            },
        );
        c.bench_function("jsonwebtoken/aws_lc_rs", |b| {
            b.iter(|| {
                black_box(jt::decode::<IdTokenClaims>(black_box(&f.token), &key, &v).unwrap())
            })
        });
    }
    // jsonwebtoken on RustCrypto.
    {
        use jsonwebtoken_rc as jt;
        let key = if rsa {
            jt::DecodingKey::from_rsa_components(&f.member("n"), &f.member("e")).unwrap()
        } else {
            jt::DecodingKey::from_ec_components(&f.member("x"), &f.member("y")).unwrap()
        };
        let a = if rsa {
            jt::Algorithm::RS256
        } else {
            jt::Algorithm::ES256
        };
        let mut v = jt::Validation::new(a);
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[AUDIENCE]);
        c.bench_function("jsonwebtoken/rust_crypto", |b| {
            b.iter(|| {
                black_box(
                    jt::decode::<IdTokenClaims>(black_box(f.token.as_str()), &key, &v).unwrap(),
                )
            })
        });
    }
    // josekit (OpenSSL).
    {
        let jwk =
            josekit::jwk::Jwk::from_bytes(f.key.to_public().unwrap().to_json().as_bytes()).unwrap();
        let verifier: Box<dyn josekit::jws::JwsVerifier> = if rsa {
            Box::new(josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap())
        } else {
            Box::new(josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap())
        };
        let mut validator = josekit::jwt::JwtPayloadValidator::new();
        validator.set_base_time(std::time::SystemTime::now());
        validator.set_issuer(ISSUER);
        validator.set_audience(AUDIENCE);
        c.bench_function("josekit", |b| {
            b.iter(|| {
                let (payload, _) =
                    josekit::jwt::decode_with_verifier(black_box(&f.token), &*verifier).unwrap();
                validator.validate(&payload).unwrap();
                black_box(payload)
            })
        });
    }
    // jwt-simple, pure Rust.
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
            c.bench_function("jwt-simple/pure-rust", |b| {
                b.iter(|| {
                    black_box(
                        pk.verify_token::<Extra>(black_box(&f.token), Some(opts.clone()))
                            .unwrap(),
                    )
                })
            });
        } else {
            let pk = ES256PublicKey::from_bytes(&f.sec1_point()).unwrap();
            c.bench_function("jwt-simple/pure-rust", |b| {
                b.iter(|| {
                    black_box(
                        pk.verify_token::<Extra>(black_box(&f.token), Some(opts.clone()))
                            .unwrap(),
                    )
                })
            });
        }
    }
}

fn verify_es256(c: &mut Criterion) {
    let f = fixture(Algorithm::Es256);
    let mut g = c.benchmark_group("verify_es256");
    portcullis(&mut g, &f, Algorithm::Es256);
    raw(
        &mut g,
        &f,
        f.sec1_point(),
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
        &ring::signature::ECDSA_P256_SHA256_FIXED,
    );
    peers(&mut g, &f, Algorithm::Es256);
    g.finish();
}

fn verify_rs256(c: &mut Criterion) {
    let f = fixture(Algorithm::Rs256);
    let mut g = c.benchmark_group("verify_rs256");
    portcullis(&mut g, &f, Algorithm::Rs256);
    raw(
        &mut g,
        &f,
        f.rsa_pkcs1_der(),
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
    );
    peers(&mut g, &f, Algorithm::Rs256);
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(60)
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = verify_es256, verify_rs256 }
criterion_main!(benches);
