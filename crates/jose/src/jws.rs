//! JWS compact serialization (RFC 7515 §3.1, §7.1): sign and verify.
//!
//! Verification is explicit about trust: the caller names the allowed algorithms ([`VerifyOptions`]) and the
//! trusted keys ([`VerificationKeys`]). The header only selects among them: `jku`, `x5u`, `jwk` and `x5c` are
//! parsed (so a malformed one is an error) but never used to find a key.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::alg::{Algorithm, AlgorithmSet};
use crate::b64;
use crate::error::{Error, Part};
use crate::json;
use crate::key::{JwsSigner, VerificationKeys};

/// Default limit on the length of a compact token: 16 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// Header parameter names registered by RFC 7515/7516; they may not appear in `crit` (RFC 7515 §4.1.11).
const REGISTERED: &[&str] = &[
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit", "enc", "zip",
];

/// A JOSE header (RFC 7515 §4).
///
/// ```
/// use portcullis_jose::{Algorithm, jws::Header};
/// let h = Header::new(Algorithm::Es256).with_kid("k1").with_typ("JWT");
/// assert_eq!(h.kid.as_deref(), Some("k1"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// `alg`: never `none`.
    pub alg: Algorithm,
    /// `kid`: selects a trusted key; never used as a path, URL or query.
    pub kid: Option<String>,
    /// `typ` (explicit typing, RFC 8725 §3.11).
    pub typ: Option<String>,
    /// `cty`.
    pub cty: Option<String>,
    /// `crit`.
    pub crit: Option<Vec<String>>,
    /// `jku` (never fetched).
    pub jku: Option<String>,
    /// `x5u` (never fetched).
    pub x5u: Option<String>,
    /// `jwk` (never trusted).
    pub jwk: Option<Map<String, Value>>,
    /// `x5c` (never trusted).
    pub x5c: Option<Vec<String>>,
    /// `x5t`.
    pub x5t: Option<String>,
    /// `x5t#S256`.
    pub x5t_s256: Option<String>,
    /// Every other parameter.
    pub extra: Map<String, Value>,
}

impl Header {
    /// A header with only `alg`.
    pub fn new(alg: Algorithm) -> Header {
        Header {
            alg,
            kid: None,
            typ: None,
            cty: None,
            crit: None,
            jku: None,
            x5u: None,
            jwk: None,
            x5c: None,
            x5t: None,
            x5t_s256: None,
            extra: Map::new(),
        }
    }

    /// Sets `kid`.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Header {
        self.kid = Some(kid.into());
        self
    }

    /// Sets `typ`.
    pub fn with_typ(mut self, typ: impl Into<String>) -> Header {
        self.typ = Some(typ.into());
        self
    }

    /// The header as a JSON object.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = self.extra.clone();
        m.insert("alg".into(), self.alg.as_str().into());
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), v.clone().into());
            }
        };
        put("kid", &self.kid);
        put("typ", &self.typ);
        put("cty", &self.cty);
        put("jku", &self.jku);
        put("x5u", &self.x5u);
        put("x5t", &self.x5t);
        put("x5t#S256", &self.x5t_s256);
        if let Some(c) = &self.crit {
            m.insert(
                "crit".into(),
                c.iter().map(|s| Value::from(s.as_str())).collect(),
            );
        }
        if let Some(j) = &self.jwk {
            m.insert("jwk".into(), Value::Object(j.clone()));
        }
        if let Some(x) = &self.x5c {
            m.insert(
                "x5c".into(),
                x.iter().map(|s| Value::from(s.as_str())).collect(),
            );
        }
        m
    }

    /// Builds a header from a raw object, parsing each known parameter once into its type.
    pub(crate) fn from_raw(obj: json::RawObject<'_>) -> Result<Header, Error> {
        fn string(raw: &RawValue, name: &'static str) -> Result<Option<String>, Error> {
            serde_json::from_str::<String>(raw.get())
                .map(Some)
                .map_err(|_| Error::InvalidHeader(name))
        }
        fn strings(raw: &RawValue, name: &'static str) -> Result<Option<Vec<String>>, Error> {
            serde_json::from_str::<Vec<String>>(raw.get())
                .map(Some)
                .map_err(|_| Error::InvalidHeader(name))
        }
        let mut alg = None;
        let mut h = Header::new(Algorithm::Es256);
        for (name, raw) in obj.entries {
            match name.as_ref() {
                "alg" => {
                    let s = json::raw_str(raw).ok_or(Error::InvalidHeader("alg"))?;
                    alg = Some(s.parse::<Algorithm>()?);
                }
                "kid" => h.kid = string(raw, "kid")?,
                "typ" => h.typ = string(raw, "typ")?,
                "cty" => h.cty = string(raw, "cty")?,
                "jku" => h.jku = string(raw, "jku")?,
                "x5u" => h.x5u = string(raw, "x5u")?,
                "x5t" => h.x5t = string(raw, "x5t")?,
                "x5t#S256" => h.x5t_s256 = string(raw, "x5t#S256")?,
                "crit" => h.crit = strings(raw, "crit")?,
                "x5c" => h.x5c = strings(raw, "x5c")?,
                "jwk" => match serde_json::from_str::<Value>(raw.get()) {
                    Ok(Value::Object(m)) => h.jwk = Some(m),
                    _ => return Err(Error::InvalidHeader("jwk")),
                },
                _ => {
                    let v = serde_json::from_str::<Value>(raw.get())
                        .map_err(|_| Error::InvalidJson(Part::Header))?;
                    h.extra.insert(name.into_owned(), v);
                }
            }
        }
        h.alg = alg.ok_or(Error::MissingAlgorithm)?;
        Ok(h)
    }

    fn check_crit(&self, understood: &[String]) -> Result<(), Error> {
        let Some(crit) = &self.crit else {
            return Ok(());
        };
        if crit.is_empty() {
            return Err(Error::InvalidHeader("crit"));
        }
        for (i, name) in crit.iter().enumerate() {
            if REGISTERED.contains(&name.as_str()) || crit[..i].contains(name) {
                return Err(Error::InvalidHeader("crit"));
            }
            if !understood.contains(name) {
                return Err(Error::UnsupportedCritical(name.chars().take(64).collect()));
            }
            if !self.extra.contains_key(name) {
                return Err(Error::InvalidHeader("crit"));
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Header {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

/// Compares `typ` values as RFC 7515 §4.1.9 says: ASCII case-insensitive, with an optional `application/` prefix.
pub fn typ_matches(expected: &str, found: &str) -> bool {
    fn strip(s: &str) -> &str {
        match s.get(..12) {
            Some(p) if p.eq_ignore_ascii_case("application/") => &s[12..],
            _ => s,
        }
    }
    strip(expected).eq_ignore_ascii_case(strip(found))
}

/// What a verifier accepts.
///
/// ```
/// use portcullis_jose::{Algorithm, VerifyOptions};
/// let opts = VerifyOptions::new([Algorithm::Es256, Algorithm::Rs256]).typ("at+jwt").max_token_len(8192);
/// ```
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    algorithms: AlgorithmSet,
    typ: Option<String>,
    max_len: usize,
    critical: Vec<String>,
}

impl VerifyOptions {
    /// Accept only these algorithms. An empty set accepts nothing.
    pub fn new(algorithms: impl Into<AlgorithmSet>) -> Self {
        VerifyOptions {
            algorithms: algorithms.into(),
            typ: None,
            max_len: DEFAULT_MAX_TOKEN_LEN,
            critical: Vec::new(),
        }
    }

    /// Require this `typ` (RFC 8725 §3.11); a token without `typ` is then refused.
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// The longest token accepted, in bytes (default 16 KiB).
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.max_len = len;
        self
    }

    /// Declare that the caller understands and checks this `crit` extension.
    pub fn understand_critical(mut self, name: impl Into<String>) -> Self {
        self.critical.push(name.into());
        self
    }

    /// The allowed algorithms.
    pub fn algorithms(&self) -> AlgorithmSet {
        self.algorithms
    }

    /// The longest token accepted, in bytes.
    pub fn token_limit(&self) -> usize {
        self.max_len
    }
}

/// A verified JWS: its header and payload.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The protected header.
    pub header: Header,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

/// A JWS decoded *without* verification (for display only).
#[derive(Debug, Clone)]
pub struct Unverified {
    /// The header.
    pub header: Header,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

/// The three parts of a compact token, split strictly.
pub(crate) struct Parts<'a> {
    pub(crate) header: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) signature: &'a str,
    /// `header.payload`
    pub(crate) signing_input: &'a str,
}

pub(crate) fn split(token: &str, max_len: usize) -> Result<Parts<'_>, Error> {
    if token.len() > max_len {
        return Err(Error::TokenTooLarge {
            len: token.len(),
            limit: max_len,
        });
    }
    let mut it = token.splitn(4, '.');
    let (Some(header), Some(payload), Some(signature), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(Error::WrongPartCount);
    };
    Ok(Parts {
        header,
        payload,
        signature,
        signing_input: &token[..header.len() + 1 + payload.len()],
    })
}

fn parse_header(b64_header: &str) -> Result<Header, Error> {
    let bytes = b64::decode(b64_header.as_bytes(), Part::Header)?;
    Header::from_raw(json::parse_raw_object(&bytes, Part::Header)?)
}

/// Checks header, encoding, key and signature; returns the header and the decoded (not parsed) payload.
pub(crate) fn verify_parts(
    parts: &Parts<'_>,
    keys: &(impl VerificationKeys + ?Sized),
    opts: &VerifyOptions,
) -> Result<(Header, Vec<u8>), Error> {
    let header = parse_header(parts.header)?;
    if !opts.algorithms.contains(header.alg) {
        return Err(Error::AlgorithmNotAllowed(header.alg));
    }
    header.check_crit(&opts.critical)?;
    if let Some(expected) = &opts.typ
        && !header
            .typ
            .as_deref()
            .is_some_and(|t| typ_matches(expected, t))
    {
        return Err(Error::TypeMismatch {
            expected: expected.clone(),
            found: header.typ.clone(),
        });
    }
    let mut sig = Vec::with_capacity(512);
    b64::decode_into(parts.signature.as_bytes(), &mut sig, Part::Signature)?;
    if let Some(expected) = header.alg.fixed_signature_len()
        && sig.len() != expected
    {
        return Err(Error::InvalidSignatureLength {
            expected,
            found: sig.len(),
        });
    }
    // Every part must be canonical base64url before any crypto runs.
    let payload = b64::decode(parts.payload.as_bytes(), Part::Payload)?;
    keys.verify_jws(
        header.alg,
        header.kid.as_deref(),
        parts.signing_input.as_bytes(),
        &sig,
    )?;
    Ok((header, payload))
}

/// Verifies a compact JWS and returns its header and payload.
///
/// Checks, in order: length limit, three parts, header (strict base64url and JSON, known `alg`), the allow-list,
/// `crit`, `typ`, signature encoding and length, payload encoding, key selection and signature.
pub fn verify(
    token: &str,
    keys: &(impl VerificationKeys + ?Sized),
    opts: &VerifyOptions,
) -> Result<Verified, Error> {
    let parts = split(token, opts.token_limit())?;
    let (header, payload) = verify_parts(&parts, keys, opts)?;
    Ok(Verified { header, payload })
}

/// Decodes a compact JWS **without verifying it**: for display and debugging only. Strict parsing still applies.
pub fn decode_unverified(token: &str) -> Result<Unverified, Error> {
    let parts = split(token, DEFAULT_MAX_TOKEN_LEN)?;
    let header = parse_header(parts.header)?;
    let payload = b64::decode(parts.payload.as_bytes(), Part::Payload)?;
    b64::decode(parts.signature.as_bytes(), Part::Signature)?;
    Ok(Unverified { header, payload })
}

/// Signs `payload` into a compact JWS. When the header has no `kid`, the key's `kid` (if any) is used.
pub fn sign(
    header: &Header,
    payload: &[u8],
    key: &(impl JwsSigner + ?Sized),
) -> Result<String, Error> {
    let mut map = header.to_map();
    if header.kid.is_none()
        && let Some(kid) = key.jws_kid()
    {
        map.insert("kid".into(), kid.into());
    }
    let header_json = serde_json::to_vec(&map).map_err(|e| Error::Serialization(e.to_string()))?;
    let mut out = String::with_capacity((header_json.len() + payload.len()) * 4 / 3 + 100);
    b64::encode_to(&header_json, &mut out);
    out.push('.');
    b64::encode_to(payload, &mut out);
    let sig = key.sign_jws(header.alg, out.as_bytes())?;
    out.push('.');
    b64::encode_to(&sig, &mut out);
    Ok(out)
}
