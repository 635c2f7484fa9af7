//! Strict `application/x-www-form-urlencoded` parsing: size limit, valid percent-encoding and UTF-8, every
//! parameter at most once (RFC 6749 §3.1), empty values treated as absent (RFC 6749 §3.1).

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
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
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
            c => {
                out.push(c);
                i += 1;
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

    /// Serializes back to a form body.
    pub fn to_form(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.map {
            s.append_pair(k, v);
        }
        s.finish()
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
