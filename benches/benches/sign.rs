//! Signing one realistic ID token (claims serialization included) in Portcullis on each backend, and in
//! jsonwebtoken (aws-lc, rust_crypto), josekit and jwt-simple. Run: `cargo bench -p portcullis-benches --bench sign`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_benches::{Fixture, fixture};
use portcullis_jose::{Algorithm, Backend, jws, jwt};
use serde_json::{Map, Value};

fn bench(c: &mut Criterion, alg: Algorithm, name: &str) {
    let f: Fixture = fixture(alg);
    let rsa = alg == Algorithm::Rs256;
    let claims: Map<String, Value> = f.claims.as_object().unwrap().clone();
    let mut g = c.benchmark_group(name);
    for &b in Backend::enabled() {
        let key = f.key.signing_key_with(b).unwrap();
        let header = jws::Header::new(alg).with_typ("JWT");
        g.bench_function(format!("portcullis/{}", b.name()), |bench| {
            bench.iter(|| black_box(jwt::encode_value(&header, black_box(&claims), &key).unwrap()))
        });
    }
    let pem = f.key.to_pkcs8_pem().unwrap();
    {
        use jsonwebtoken_aws as jt;
        let key = if rsa {
            jt::EncodingKey::from_rsa_pem(pem.as_bytes())
        } else {
            jt::EncodingKey::from_ec_pem(pem.as_bytes())
        }
        .unwrap();
        let header = jt::Header::new(if rsa {
            jt::Algorithm::RS256
        } else {
            jt::Algorithm::ES256
        });
        g.bench_function("jsonwebtoken/aws_lc_rs", |b| {
            b.iter(|| black_box(jt::encode(&header, black_box(&claims), &key).unwrap()))
        });
    }
    {
        use jsonwebtoken_rc as jt;
        let key = if rsa {
            jt::EncodingKey::from_rsa_pem(pem.as_bytes())
        } else {
            jt::EncodingKey::from_ec_pem(pem.as_bytes())
        }
        .unwrap();
        let header = jt::Header::new(if rsa {
            jt::Algorithm::RS256
        } else {
            jt::Algorithm::ES256
        });
        g.bench_function("jsonwebtoken/rust_crypto", |b| {
            b.iter(|| black_box(jt::encode(&header, black_box(&claims), &key).unwrap()))
        });
    }
    {
        let signer: Box<dyn josekit::jws::JwsSigner> = if rsa {
            Box::new(josekit::jws::RS256.signer_from_pem(pem.as_bytes()).unwrap())
        } else {
            Box::new(josekit::jws::ES256.signer_from_pem(pem.as_bytes()).unwrap())
        };
        let mut header = josekit::jws::JwsHeader::new();
        header.set_token_type("JWT");
        g.bench_function("josekit", |b| {
            b.iter(|| {
                let payload = josekit::jwt::JwtPayload::from_map(claims.clone()).unwrap();
                black_box(josekit::jwt::encode_with_signer(&payload, &header, &*signer).unwrap())
            })
        });
    }
    {
        use jwt_simple::prelude::*;
        let custom: Map<String, Value> = claims.clone();
        if rsa {
            let kp = RS256KeyPair::from_pem(&pem).unwrap();
            g.bench_function("jwt-simple/pure-rust", |b| {
                b.iter(|| {
                    black_box(
                        kp.sign(Claims::with_custom_claims(
                            custom.clone(),
                            Duration::from_secs(3600),
                        ))
                        .unwrap(),
                    )
                })
            });
        } else {
            let kp = ES256KeyPair::from_pem(&pem).unwrap();
            g.bench_function("jwt-simple/pure-rust", |b| {
                b.iter(|| {
                    black_box(
                        kp.sign(Claims::with_custom_claims(
                            custom.clone(),
                            Duration::from_secs(3600),
                        ))
                        .unwrap(),
                    )
                })
            });
        }
    }
    g.finish();
}

fn sign_es256(c: &mut Criterion) {
    bench(c, Algorithm::Es256, "sign_es256");
}

fn sign_rs256(c: &mut Criterion) {
    bench(c, Algorithm::Rs256, "sign_rs256");
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = sign_es256, sign_rs256 }
criterion_main!(benches);
