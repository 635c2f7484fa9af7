//! Strict `application/x-www-form-urlencoded` parsing: size limit, valid percent-encoding and UTF-8, every
//! parameter at most once (RFC 6749 §3.1), empty values treated as absent (RFC 6749 §3.1).
//!
//! Must not: keep either value of a repeated parameter, or replace a bad percent-escape or a non-UTF-8 byte (both
//! refuse the whole input).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::OidcError;

/// Largest query string or form body accepted (64 KiB).
pub const MAX_FORM_LEN: usize = 64 * 1024;

/// Parsed parameters, each name once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: BTreeMap<String, String>,
}

/// Decodes one name or value: `+` is a space, `%XX` an octet; a `%` without two hex digits after it, or a result
/// that is not UTF-8, is refused (never replaced).
fn decode(raw: &str) -> Result<String, OidcError> {
    let special = |c: &u8| *c == b'+' || *c == b'%';
    let b = raw.as_bytes();
    // Most values on the hot path (codes, tokens, verifiers, ids) have nothing to decode: one scan and one copy,
    // and no UTF-8 check, since `raw` is already text.
    let Some(first) = b.iter().position(special) else {
        return Ok(raw.to_owned());
    };
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..first]);
    let mut i = first;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    return Err(OidcError::MalformedForm);
                };
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            _ => {
                // A run of plain bytes, copied whole.
                let end = b[i..].iter().position(special).map_or(b.len(), |n| i + n);
                out.extend_from_slice(&b[i..end]);
                i = end;
            }
        }
    }
    String::from_utf8(out).map_err(|_| OidcError::MalformedForm)
}

impl Params {
    /// Parses a query string (without `?`) or form body.
    pub fn parse(input: &str) -> Result<Params, OidcError> {
        if input.len() > MAX_FORM_LEN {
            return Err(OidcError::TooLarge);
        }
        let mut map = BTreeMap::new();
        for pair in input.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(k)?;
            let value = decode(v)?;
            if map.contains_key(&name) {
                return Err(OidcError::RepeatedParameter(
                    name.chars().take(64).collect(),
                ));
            }
            map.insert(name, value);
        }
        Ok(Params { map })
    }

    /// A parameter's value; an empty value counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A required parameter.
    pub fn require(&self, name: &'static str) -> Result<&str, OidcError> {
        self.get(name).ok_or(OidcError::MissingParameter(name))
    }

    /// Every parameter, including unknown ones (kept, never interpreted).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Serializes back to a form body (`application/x-www-form-urlencoded`, byte for byte what
    /// `form_urlencoded::Serializer` writes).
    pub fn to_form(&self) -> String {
        let mut s = String::with_capacity(
            self.map
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>(),
        );
        for (k, v) in &self.map {
            if !s.is_empty() {
                s.push('&');
            }
            push_form_encoded(&mut s, k);
            s.push('=');
            push_form_encoded(&mut s, v);
        }
        s
    }

    /// Builds from pairs (names must be distinct; later ones win).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, Cow<'a, str>)>) -> Params {
        Params {
            map: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.into_owned()))
                .collect(),
        }
    }
}

/// Appends `v` form-encoded. Codes, tokens and states are base64url, which the encoding leaves as it is: those
/// are copied whole after one quick scan instead of going through the encoder chunk by chunk.
fn push_form_encoded(s: &mut String, v: &str) {
    if v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_'))
    {
        s.push_str(v);
    } else {
        s.extend(form_urlencoded::byte_serialize(v.as_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `form_urlencoded` writes for the same parameters, in the same order.
    fn reference(pairs: &[(String, String)]) -> String {
        let params = Params::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str()))),
        );
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params.iter() {
            s.append_pair(k, v);
        }
        s.finish()
    }

    fn ours(pairs: &[(String, String)]) -> String {
        Params::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str()))),
        )
        .to_form()
    }

    #[test]
    fn to_form_matches_form_urlencoded() {
        let tricky = [
            "",
            "plain",
            "c1.AbC-_09xyz",
            "a b",
            "~tilde",
            "plus+sign",
            "a&b=c",
            "100%",
            "*-._",
            "é漢🙂",
            "line\nbreak\t\0",
            "http://127.0.0.1:8081/callback?x=1#f",
        ];
        for k in ["code", "a b", "é", ""] {
            for v in tricky {
                let pairs = vec![(k.to_owned(), v.to_owned()), ("state".into(), v.to_owned())];
                assert_eq!(ours(&pairs), reference(&pairs), "{k:?} {v:?}");
            }
        }
    }

    /// An independent reference for `decode`, written differently on purpose (byte at a time, escapes read by
    /// `u8::from_str_radix` after a hex-digit check): the same answers, `Ok` and `Err`, for any input.
    fn decode_bytewise(raw: &str) -> Result<String, OidcError> {
        let mut out = Vec::new();
        let mut rest = raw.as_bytes();
        while let Some((&c, tail)) = rest.split_first() {
            rest = tail;
            match c {
                b'+' => out.push(b' '),
                b'%' => {
                    let digits = rest
                        .get(..2)
                        .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                        .ok_or(OidcError::MalformedForm)?;
                    let hex = std::str::from_utf8(digits).map_err(|_| OidcError::MalformedForm)?;
                    out.push(u8::from_str_radix(hex, 16).map_err(|_| OidcError::MalformedForm)?);
                    rest = &rest[2..];
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| OidcError::MalformedForm)
    }

    #[test]
    fn decode_accepts_and_refuses_like_the_bytewise_decoder() {
        let cases = [
            ("", Ok("")),
            ("c1.AbC-_09xyz", Ok("c1.AbC-_09xyz")),
            ("a+b", Ok("a b")),
            ("+", Ok(" ")),
            ("openid%20profile", Ok("openid profile")),
            (
                "http%3A%2F%2F127.0.0.1%3a8081%2Fcb",
                Ok("http://127.0.0.1:8081/cb"),
            ),
            ("%C3%A9+%E6%BC%A2", Ok("é 漢")),
            ("é", Ok("é")),
            ("%2B", Ok("+")),
            ("%25", Ok("%")),
            ("%", Err(())),
            ("ab%", Err(())),
            ("%4", Err(())),
            ("%4g", Err(())),
            ("%+1", Err(())), // a sign is not a hex digit
            ("%%41", Err(())),
            ("a+%zz", Err(())),
            ("%C3", Err(())),       // half a character
            ("%FF%FE", Err(())),    // not UTF-8
            ("%ED%A0%80", Err(())), // a surrogate
            ("ok+%C0%AF", Err(())), // an overlong '/'
        ];
        for (raw, want) in cases {
            let got = decode(raw);
            assert_eq!(got.as_deref().map_err(|_| ()), want, "{raw:?}");
            assert_eq!(got, decode_bytewise(raw), "{raw:?}");
            if want.is_err() {
                assert_eq!(decode(raw), Err(OidcError::MalformedForm), "{raw:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn decode_matches_the_bytewise_decoder(raw in "([A-Za-z0-9._~+-]|%[0-9A-Fa-f]{0,2}|%[C-Fc-f][0-9A-Fa-f]|\\PC){0,40}") {
            prop_assert_eq!(decode(&raw), decode_bytewise(&raw));
        }

        #[test]
        fn decode_inverts_form_urlencoded(text in "\\PC{0,40}") {
            let encoded: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
            prop_assert_eq!(decode(&encoded), Ok(text));
        }
    }

    proptest! {
        #[test]
        fn to_form_matches_form_urlencoded_for_any_text(
            pairs in proptest::collection::btree_map("\\PC{0,12}", "\\PC{0,40}|[A-Za-z0-9*._~+ -]{0,40}", 0..6)
        ) {
            let pairs: Vec<(String, String)> = pairs.into_iter().collect();
            prop_assert_eq!(ours(&pairs), reference(&pairs));
        }
    }
}
