//! Strict JSON objects: duplicate member names are refused at every depth (RFC 7515 §5.2, RFC 8725 §3.8-ish
//! hardening), nesting is bounded by serde_json's recursion limit.
//!
//! Must not: keep either of two members with the same name (a duplicate at any depth refuses the whole document).

use std::borrow::Cow;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
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
        // serde_json appends " at line L column C" to the duplicate marker; classify() strips it.
        Err(e) => Err(classify(e, part)),
    }
}

/// A JSON object parsed in one pass into its members, each value kept as borrowed raw JSON.
///
/// Member names are unique (checked), nested objects and arrays are checked for duplicates too, and nothing
/// else is allocated: typed consumers parse each raw value once.
pub(crate) struct RawObject<'a> {
    pub(crate) entries: Vec<(Cow<'a, str>, &'a RawValue)>,
}

/// A member name, borrowed from the input unless it contains escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Collects the members of the top-level object; anything else sets `not_object`.
struct RawSeed<'s> {
    not_object: &'s mut bool,
}

impl<'de> DeserializeSeed<'de> for RawSeed<'_> {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RawSeed<'_> {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(16);
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            entries.push((k, map.next_value::<&'de RawValue>()?));
        }
        Ok(entries)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        *self.not_object = true;
        Err(de::Error::custom("not an object"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        *self.not_object = true;
        Err(E::custom("not an object"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        *self.not_object = true;
        Err(E::custom("not an object"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        *self.not_object = true;
        Err(E::custom("not an object"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        *self.not_object = true;
        Err(E::custom("not an object"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        *self.not_object = true;
        Err(E::custom("not an object"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        *self.not_object = true;
        Err(E::custom("not an object"))
    }
}

/// Parses `bytes` as one JSON object: unique member names at every depth, values kept raw.
pub(crate) fn parse_raw_object(bytes: &[u8], part: Part) -> Result<RawObject<'_>, Error> {
    let mut not_object = false;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let entries = match (RawSeed {
        not_object: &mut not_object,
    })
    .deserialize(&mut de)
    {
        Ok(e) => e,
        Err(_) if not_object => return Err(Error::NotAnObject(part)),
        Err(_) => return Err(Error::InvalidJson(part)),
    };
    de.end().map_err(|_| Error::InvalidJson(part))?;
    // Duplicate names at the top level: pairwise for the usual handful of members (no allocation), sorted
    // references beyond that.
    let duplicate = if entries.len() <= 32 {
        entries
            .iter()
            .enumerate()
            .find(|(i, (k, _))| entries[..*i].iter().any(|(prev, _)| prev == k))
            .map(|(_, (k, _))| k.as_ref())
    } else {
        let mut names: Vec<&str> = entries.iter().map(|(k, _)| k.as_ref()).collect();
        names.sort_unstable();
        names.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
    };
    if let Some(name) = duplicate {
        return Err(Error::DuplicateMember {
            part,
            name: name.chars().take(64).collect(),
        });
    }
    // Nested containers are rare in tokens; check them with the strict parser.
    for (_, raw) in &entries {
        if matches!(raw.get().as_bytes().first(), Some(b'{' | b'[')) {
            check_nested(raw.get().as_bytes(), part)?;
        }
    }
    Ok(RawObject { entries })
}

fn check_nested(bytes: &[u8], part: Part) -> Result<(), Error> {
    match serde_json::from_slice::<Strict>(bytes) {
        Ok(_) => Ok(()),
        Err(e) => Err(classify(e, part)),
    }
}

fn classify(e: serde_json::Error, part: Part) -> Error {
    let msg = e.to_string();
    match msg.find(DUP) {
        Some(i) => {
            let rest = &msg[i + DUP.len()..];
            let name = rest.rsplit_once(" at line ").map_or(rest, |(n, _)| n);
            Error::DuplicateMember {
                part,
                name: name.chars().take(64).collect(),
            }
        }
        None => Error::InvalidJson(part),
    }
}

/// A raw JSON string value, borrowed when it has no escapes.
pub(crate) fn raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    match serde_json::from_str::<&str>(raw.get()) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(raw.get())
            .ok()
            .map(Cow::Owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_duplicate_members_at_any_depth() {
        assert_eq!(
            parse_object(br#"{"a":1,"a":2}"#, Part::Payload),
            Err(Error::DuplicateMember {
                part: Part::Payload,
                name: "a".into()
            })
        );
        assert_eq!(
            parse_object(br#"{"x":{"b":1,"b":1}}"#, Part::Header),
            Err(Error::DuplicateMember {
                part: Part::Header,
                name: "b".into()
            })
        );
        assert_eq!(
            parse_object(br#"{"x":[{"c":1,"c":1}]}"#, Part::Header),
            Err(Error::DuplicateMember {
                part: Part::Header,
                name: "c".into()
            })
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
        assert_eq!(
            parse_object(b"[1]", Part::Payload),
            Err(Error::NotAnObject(Part::Payload))
        );
        assert_eq!(
            parse_object(b"\"s\"", Part::Payload),
            Err(Error::NotAnObject(Part::Payload))
        );
        assert_eq!(
            parse_object(b"{", Part::Payload),
            Err(Error::InvalidJson(Part::Payload))
        );
        assert_eq!(
            parse_object(b"{} x", Part::Payload),
            Err(Error::InvalidJson(Part::Payload))
        );
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(
            parse_object(deep.as_bytes(), Part::Payload),
            Err(Error::InvalidJson(Part::Payload))
        );
    }

    #[test]
    fn raw_objects_are_as_strict_as_parsed_ones() {
        let cases: [&[u8]; 8] = [
            br#"{"a":1,"a":2}"#,
            br#"{"x":{"b":1,"b":1}}"#,
            br#"{"x":[{"c":1,"c":1}]}"#,
            br#"{"alg":1,"\u0061lg":2}"#,
            b"[1]",
            b"\"s\"",
            b"{",
            b"{} x",
        ];
        for c in cases {
            let a = parse_object(c, Part::Payload).map(|_| ());
            let b = parse_raw_object(c, Part::Payload).map(|_| ());
            assert_eq!(a, b, "{}", String::from_utf8_lossy(c));
            assert!(a.is_err());
        }
        let many: String = (0..40).map(|i| format!("\"k{i}\":{i},")).collect();
        let dup = format!("{{{many}\"k7\":0}}");
        assert_eq!(
            parse_raw_object(dup.as_bytes(), Part::Payload).map(|_| ()),
            Err(Error::DuplicateMember {
                part: Part::Payload,
                name: "k7".into()
            })
        );
        let o = parse_raw_object(
            br#"{"a":"x\u0041","b":[1,{"c":2}],"d":null}"#,
            Part::Payload,
        )
        .unwrap();
        assert_eq!(o.entries.len(), 3);
        assert_eq!(raw_str(o.entries[0].1).as_deref(), Some("xA"));
    }

    #[test]
    fn accepts_plain_objects() {
        let m = parse_object(br#"{"a":1,"b":{"a":2},"c":[1.5,null,true]}"#, Part::Payload).unwrap();
        assert_eq!(m.len(), 3);
    }
}
