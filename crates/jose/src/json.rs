//! Strict JSON objects: duplicate member names are refused at every depth (RFC 7515 §5.2, RFC 8725 §3.8-ish
//! hardening), nesting is bounded by serde_json's recursion limit.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Error, Part};

/// A JSON value parsed without accepting duplicate member names.
struct Strict(Value);

/// Marker in the serde error message so that a duplicate can be told apart from a syntax error.
const DUP: &str = "\u{0}duplicate:";

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(Strict(x)) = seq.next_element()? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(de::Error::custom(format_args!("{DUP}{k}")));
            }
            let Strict(v) = map.next_value()?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

/// Parses `bytes` as one JSON object with unique member names at every depth.
pub(crate) fn parse_object(bytes: &[u8], part: Part) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice::<Strict>(bytes) {
        Ok(Strict(Value::Object(m))) => Ok(m),
        Ok(Strict(_)) => Err(Error::NotAnObject(part)),
        Err(e) => {
            let msg = e.to_string();
            match msg.find(DUP) {
                Some(i) => {
                    let rest = &msg[i + DUP.len()..];
                    // serde_json appends " at line L column C".
                    let name = rest.rsplit_once(" at line ").map_or(rest, |(n, _)| n);
                    Err(Error::DuplicateMember {
                        part,
                        name: name.chars().take(64).collect(),
                    })
                }
                None => Err(Error::InvalidJson(part)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_duplicate_members_at_any_depth() {
        assert_eq!(
            parse_object(br#"{"a":1,"a":2}"#, Part::Payload),
            Err(Error::DuplicateMember { part: Part::Payload, name: "a".into() })
        );
        assert_eq!(
            parse_object(br#"{"x":{"b":1,"b":1}}"#, Part::Header),
            Err(Error::DuplicateMember { part: Part::Header, name: "b".into() })
        );
        assert_eq!(
            parse_object(br#"{"x":[{"c":1,"c":1}]}"#, Part::Header),
            Err(Error::DuplicateMember { part: Part::Header, name: "c".into() })
        );
    }

    #[test]
    fn escaped_duplicate_names_are_duplicates() {
        assert!(matches!(
            parse_object(br#"{"alg":1,"\u0061lg":2}"#, Part::Header),
            Err(Error::DuplicateMember { .. })
        ));
    }

    #[test]
    fn rejects_non_objects_and_garbage() {
        assert_eq!(parse_object(b"[1]", Part::Payload), Err(Error::NotAnObject(Part::Payload)));
        assert_eq!(parse_object(b"\"s\"", Part::Payload), Err(Error::NotAnObject(Part::Payload)));
        assert_eq!(parse_object(b"{", Part::Payload), Err(Error::InvalidJson(Part::Payload)));
        assert_eq!(parse_object(b"{} x", Part::Payload), Err(Error::InvalidJson(Part::Payload)));
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(parse_object(deep.as_bytes(), Part::Payload), Err(Error::InvalidJson(Part::Payload)));
    }

    #[test]
    fn accepts_plain_objects() {
        let m = parse_object(br#"{"a":1,"b":{"a":2},"c":[1.5,null,true]}"#, Part::Payload).unwrap();
        assert_eq!(m.len(), 3);
    }
}
