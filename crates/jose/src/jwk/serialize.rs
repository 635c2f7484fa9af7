//! Writing a JWK back to JSON (private members included when present; unknown members kept for round trips).
//! Must not parse or validate: what is written was validated when the [`Jwk`] was built.

use serde_json::{Map, Value};

use super::{Jwk, JwkAlgorithm, Material};
use crate::b64;

impl Jwk {
    /// The JSON object (including private members, if any).
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let s = |v: &[u8]| Value::String(b64::encode(v));
        m.insert("kty".into(), self.kty().into());
        match &self.material {
            Material::Ec { curve, x, y, d } => {
                m.insert("crv".into(), curve.name().into());
                m.insert("x".into(), s(x));
                m.insert("y".into(), s(y));
                if let Some(d) = d {
                    m.insert("d".into(), s(d));
                }
            }
            Material::Rsa { n, e, private } => {
                m.insert("n".into(), s(n));
                m.insert("e".into(), s(e));
                if let Some(p) = private {
                    for (name, v) in [
                        ("d", &p.d),
                        ("p", &p.p),
                        ("q", &p.q),
                        ("dp", &p.dp),
                        ("dq", &p.dq),
                        ("qi", &p.qi),
                    ] {
                        m.insert(name.into(), s(v));
                    }
                }
            }
            Material::Ed25519 { x, d } => {
                m.insert("crv".into(), "Ed25519".into());
                m.insert("x".into(), s(x));
                if let Some(d) = d {
                    m.insert("d".into(), s(d));
                }
            }
            Material::Oct { k } => {
                m.insert("k".into(), s(k));
            }
        }
        if let Some(kid) = &self.kid {
            m.insert("kid".into(), kid.clone().into());
        }
        if let Some(u) = &self.key_use {
            m.insert("use".into(), u.as_str().into());
        }
        if let Some(ops) = &self.key_ops {
            m.insert(
                "key_ops".into(),
                ops.iter().map(|o| Value::from(o.as_str())).collect(),
            );
        }
        match &self.alg {
            Some(JwkAlgorithm::Jws(a)) => {
                m.insert("alg".into(), a.as_str().into());
            }
            Some(JwkAlgorithm::Other(a)) => {
                m.insert("alg".into(), a.clone().into());
            }
            None => {}
        }
        for (k, v) in &self.extra {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
        m
    }

    /// Compact JSON text (including private members, if any).
    pub fn to_json(&self) -> String {
        Value::Object(self.to_map()).to_string()
    }
}

impl serde::Serialize for Jwk {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}
