//! The non-crypto cost of a verification: HS256 (a cheap MAC) through each layer. `jws_verify` minus `raw_mac` is
//! the header/encoding overhead; `jwt_decode_*` adds claims parsing and validation.
//! Run: `cargo bench -p portcullis-benches --bench overhead`.
use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_benches::{AUDIENCE, Extra, ISSUER, id_token_claims};
use portcullis_jose::{Algorithm, HmacKey, Validation, VerifyOptions, jws, jwt};
use serde_json::{Map, Value};
use std::hint::black_box;

fn overhead(c: &mut Criterion) {
    let key = HmacKey::new(&[1; 32]).unwrap();
    let token = jwt::encode_value(
        &jws::Header::new(Algorithm::Hs256)
            .with_typ("JWT")
            .with_kid("k"),
        &id_token_claims(),
        &key,
    )
    .unwrap();
    let v = Validation::new(Algorithm::Hs256)
        .issuer(ISSUER)
        .audience(AUDIENCE);
    c.bench_function("hs256/jwt_decode_map", |b| {
        b.iter(|| {
            black_box(jwt::decode::<Map<String, Value>>(black_box(&token), &key, &v).unwrap())
        })
    });
    c.bench_function("hs256/jwt_decode_typed", |b| {
        b.iter(|| black_box(jwt::decode::<Extra>(black_box(&token), &key, &v).unwrap()))
    });
    c.bench_function("hs256/jwt_decode_unit", |b| {
        b.iter(|| {
            black_box(jwt::decode::<serde::de::IgnoredAny>(black_box(&token), &key, &v).unwrap())
        })
    });
    let o = VerifyOptions::new(Algorithm::Hs256);
    c.bench_function("hs256/jws_verify", |b| {
        b.iter(|| black_box(jws::verify(black_box(&token), &key, &o).unwrap()))
    });
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = portcullis_jose::base64url::decode(sig).unwrap();
    c.bench_function("hs256/raw_mac", |b| {
        b.iter(|| {
            key.verify(
                Algorithm::Hs256,
                black_box(input.as_bytes()),
                black_box(&sig),
            )
            .unwrap()
        })
    });
}
criterion_group!(benches, overhead);
criterion_main!(benches);
