//! Mutual-TLS client authentication and certificate-bound tokens (RFC 8705), sans-IO: the provider's TLS
//! stack hands over the DER certificate the client presented; this module decides whether it authenticates a
//! client and computes the `cnf` / `x5t#S256` binding.
//!
//! The TLS layer must already have checked that the client holds the certificate's private key (the
//! handshake does that). For `tls_client_auth` the TLS layer must also have validated the chain to a trusted
//! CA; this module then matches the one registered subject DN or SAN (RFC 8705 §2.1.2). For
//! `self_signed_tls_client_auth` no chain is needed: the certificate's public key must be one of the keys the
//! client registered in its JWK Set (RFC 8705 §2.2).
//!
//! Must not: validate the certificate chain or the client's possession of its key (the TLS layer does), or let a
//! certificate-bound token through without the certificate it is bound to.

use std::net::IpAddr;

use portcullis_jose::{Backend, HashAlg, Jwk, JwkSet, base64url};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;
use x509_parser::prelude::*;

use crate::{ClientMetadata, OidcError};

/// Largest certificate accepted, in bytes.
pub const MAX_CERTIFICATE_LEN: usize = 16 * 1024;

/// Why a presented certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MtlsError {
    /// Larger than [`MAX_CERTIFICATE_LEN`].
    #[error("certificate too large")]
    TooLarge,
    /// Not one DER X.509 certificate (trailing bytes, bad encoding).
    #[error("malformed certificate")]
    Malformed,
    /// The subject or a SAN uses an encoding this module does not compare (not a string).
    #[error("unsupported name encoding")]
    UnsupportedName,
    /// The certificate's public key is not a kind of key JOSE can express (RSA, EC P-256/384, Ed25519).
    #[error("unsupported public key")]
    UnsupportedKey,
    /// The certificate does not match the client's registration.
    #[error("certificate does not match the client")]
    Mismatch,
}

impl MtlsError {
    /// Token-endpoint answer: always `invalid_client` (RFC 8705 §2).
    pub fn code(&self) -> crate::ErrorCode {
        crate::ErrorCode::InvalidClient
    }
}

/// One attribute of a distinguished name: its type (as an OID in dotted form) and its string value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attribute {
    oid: String,
    value: String,
}

/// A distinguished name as a sequence of RDNs (each a set of attributes), in DER order (most significant
/// first). Compared with `caseIgnoreMatch` semantics: attribute types by OID, values case-insensitively with
/// leading, trailing and repeated inner spaces insignificant; multi-valued RDNs as sets.
#[derive(Debug, Clone)]
pub struct DistinguishedName(Vec<Vec<Attribute>>);

const SHORT_NAMES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("STREET", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
];

fn normalize(v: &str) -> String {
    v.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn unescape(v: &str) -> Result<String, OidcError> {
    let bad = || OidcError::InvalidParameter("tls_client_auth_subject_dn");
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let next = *bytes.get(i + 1).ok_or_else(bad)?;
            if b"\"+,;<>\\ #=".contains(&next) {
                out.push(next);
                i += 2;
            } else {
                let hex = v.get(i + 1..i + 3).ok_or_else(bad)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// Splits at `sep` bytes that are not escaped with a backslash.
fn split_unescaped(s: &str, sep: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == sep {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

impl DistinguishedName {
    /// Parses the RFC 4514 string form (`CN=client,O=Example\, Inc.,C=DE`): attribute types by the usual short
    /// names or dotted OIDs, values with `\`-escapes; `#`-hex (BER) values are refused, as are empty names.
    pub fn parse_rfc4514(s: &str) -> Result<DistinguishedName, OidcError> {
        let bad = || OidcError::InvalidParameter("tls_client_auth_subject_dn");
        if s.trim().is_empty() || s.len() > 4096 {
            return Err(bad());
        }
        let mut rdns = Vec::new();
        for rdn in split_unescaped(s, b',') {
            let mut attrs = Vec::new();
            for atv in split_unescaped(rdn, b'+') {
                let (ty, value) = atv.split_once('=').ok_or_else(bad)?;
                let ty = ty.trim();
                let oid = if ty.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !ty.is_empty() {
                    ty.to_owned()
                } else {
                    let upper = ty.to_ascii_uppercase();
                    SHORT_NAMES
                        .iter()
                        .find(|(n, _)| *n == upper)
                        .map(|(_, o)| (*o).to_owned())
                        .ok_or_else(bad)?
                };
                let value = value.trim_start();
                if value.starts_with('#') {
                    return Err(bad());
                }
                attrs.push(Attribute {
                    oid,
                    value: normalize(&unescape(value)?),
                });
            }
            rdns.push(attrs);
        }
        // The string form lists the last RDN first (RFC 4514 §2.1).
        rdns.reverse();
        Ok(DistinguishedName(rdns))
    }

    fn from_x509(name: &X509Name<'_>) -> Result<DistinguishedName, MtlsError> {
        let mut rdns = Vec::new();
        for rdn in name.iter() {
            let mut attrs = Vec::new();
            for atv in rdn.iter() {
                let value = atv.as_str().map_err(|_| MtlsError::UnsupportedName)?;
                attrs.push(Attribute {
                    oid: atv.attr_type().to_id_string(),
                    value: normalize(value),
                });
            }
            rdns.push(attrs);
        }
        Ok(DistinguishedName(rdns))
    }

    /// Whether two names are equal under the comparison rules above.
    pub fn matches(&self, other: &DistinguishedName) -> bool {
        self.0.len() == other.0.len()
            && self.0.iter().zip(&other.0).all(|(a, b)| {
                a.len() == b.len()
                    && a.iter().all(|x| b.contains(x))
                    && b.iter().all(|x| a.contains(x))
            })
    }
}

/// The certificate a client presented in the TLS handshake, with what RFC 8705 matches on.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    der: Vec<u8>,
    subject: DistinguishedName,
    san_dns: Vec<String>,
    san_uri: Vec<String>,
    san_ip: Vec<IpAddr>,
    san_email: Vec<String>,
    public_key: Option<Jwk>,
}

fn spki_to_jwk(spki: &SubjectPublicKeyInfo<'_>) -> Option<Jwk> {
    let alg = spki.algorithm.algorithm.to_id_string();
    let key = &spki.subject_public_key.data;
    let map: Map<String, Value> = match alg.as_str() {
        // rsaEncryption
        "1.2.840.113549.1.1.1" => match spki.parsed().ok()? {
            x509_parser::public_key::PublicKey::RSA(rsa) => {
                let trim = |b: &[u8]| {
                    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
                    b[i..].to_vec()
                };
                json!({"kty": "RSA", "n": base64url::encode(&trim(rsa.modulus)),
                       "e": base64url::encode(&trim(rsa.exponent))})
                .as_object()?
                .clone()
            }
            _ => return None,
        },
        // id-ecPublicKey
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()?
                .as_oid()
                .ok()?
                .to_id_string();
            let (crv, len) = match curve.as_str() {
                "1.2.840.10045.3.1.7" => ("P-256", 32),
                "1.3.132.0.34" => ("P-384", 48),
                _ => return None,
            };
            if key.len() != 1 + 2 * len || key[0] != 4 {
                return None;
            }
            json!({"kty": "EC", "crv": crv, "x": base64url::encode(&key[1..1 + len]),
                   "y": base64url::encode(&key[1 + len..])})
            .as_object()?
            .clone()
        }
        // id-Ed25519
        "1.3.101.112" if key.len() == 32 => json!({"kty": "OKP", "crv": "Ed25519",
                                                     "x": base64url::encode(key)})
        .as_object()?
        .clone(),
        _ => return None,
    };
    Jwk::from_map(&map).ok()
}

impl ClientCertificate {
    /// Parses the DER certificate from the TLS layer (one certificate, no trailing bytes, at most
    /// [`MAX_CERTIFICATE_LEN`]).
    pub fn from_der(der: &[u8]) -> Result<ClientCertificate, MtlsError> {
        if der.len() > MAX_CERTIFICATE_LEN {
            return Err(MtlsError::TooLarge);
        }
        let (rest, cert) = X509Certificate::from_der(der).map_err(|_| MtlsError::Malformed)?;
        if !rest.is_empty() {
            return Err(MtlsError::Malformed);
        }
        let subject = DistinguishedName::from_x509(cert.subject())?;
        let mut out = ClientCertificate {
            der: der.to_vec(),
            subject,
            san_dns: Vec::new(),
            san_uri: Vec::new(),
            san_ip: Vec::new(),
            san_email: Vec::new(),
            public_key: spki_to_jwk(cert.public_key()),
        };
        let san = cert
            .subject_alternative_name()
            .map_err(|_| MtlsError::Malformed)?;
        if let Some(san) = san {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => out.san_dns.push(d.to_ascii_lowercase()),
                    GeneralName::URI(u) => out.san_uri.push((*u).to_owned()),
                    GeneralName::RFC822Name(e) => out.san_email.push((*e).to_owned()),
                    GeneralName::IPAddress(ip) => match ip.len() {
                        4 => out
                            .san_ip
                            .push(IpAddr::from(<[u8; 4]>::try_from(*ip).expect("len 4"))),
                        16 => out
                            .san_ip
                            .push(IpAddr::from(<[u8; 16]>::try_from(*ip).expect("len 16"))),
                        _ => return Err(MtlsError::Malformed),
                    },
                    _ => {}
                }
            }
        }
        Ok(out)
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The public key as a JWK, when it is one JOSE can express.
    pub fn public_key(&self) -> Option<&Jwk> {
        self.public_key.as_ref()
    }

    /// The `x5t#S256` confirmation value binding tokens to this certificate (RFC 8705 §3.1): base64url of the
    /// SHA-256 of the DER.
    pub fn thumbprint_s256(&self) -> String {
        certificate_thumbprint_s256(&self.der)
    }
}

/// `x5t#S256` of a DER certificate.
pub fn certificate_thumbprint_s256(der: &[u8]) -> String {
    base64url::encode(&Backend::default().digest(HashAlg::Sha256, der))
}

/// Whether a token's `cnf` claim binds it to the certificate presented with it (RFC 8705 §3): the
/// `x5t#S256` member must equal the certificate's thumbprint (constant-time). A token with no `cnf` is not
/// certificate-bound and passes only if `required` is false.
pub fn check_certificate_binding(
    cnf: Option<&Value>,
    presented: Option<&[u8]>,
    required: bool,
) -> bool {
    match (cnf.and_then(|c| c.get("x5t#S256")), presented) {
        (Some(Value::String(expected)), Some(der)) => bool::from(
            certificate_thumbprint_s256(der)
                .as_bytes()
                .ct_eq(expected.as_bytes()),
        ),
        // Bound, but no certificate or a malformed binding: refuse.
        (Some(_), _) => false,
        (None, _) => !required && cnf.is_none(),
    }
}

/// How a `tls_client_auth` client is recognized (RFC 8705 §2.1.2): exactly one of these is registered.
#[derive(Debug, Clone)]
pub enum TlsClientAuthRule {
    /// `tls_client_auth_subject_dn`
    SubjectDn(DistinguishedName),
    /// `tls_client_auth_san_dns` (compared case-insensitively)
    SanDns(String),
    /// `tls_client_auth_san_uri` (exact)
    SanUri(String),
    /// `tls_client_auth_san_ip`
    SanIp(IpAddr),
    /// `tls_client_auth_san_email` (exact)
    SanEmail(String),
}

impl TlsClientAuthRule {
    /// The rule a client registered; errors when none or several are registered, or the value is malformed.
    pub fn from_metadata(m: &ClientMetadata) -> Result<TlsClientAuthRule, OidcError> {
        let mut rules = Vec::new();
        if let Some(dn) = &m.tls_client_auth_subject_dn {
            rules.push(TlsClientAuthRule::SubjectDn(
                DistinguishedName::parse_rfc4514(dn)?,
            ));
        }
        if let Some(d) = &m.tls_client_auth_san_dns {
            rules.push(TlsClientAuthRule::SanDns(d.to_ascii_lowercase()));
        }
        if let Some(u) = &m.tls_client_auth_san_uri {
            rules.push(TlsClientAuthRule::SanUri(u.clone()));
        }
        if let Some(ip) = &m.tls_client_auth_san_ip {
            rules.push(TlsClientAuthRule::SanIp(ip.parse().map_err(|_| {
                OidcError::InvalidParameter("tls_client_auth_san_ip")
            })?));
        }
        if let Some(e) = &m.tls_client_auth_san_email {
            rules.push(TlsClientAuthRule::SanEmail(e.clone()));
        }
        match rules.len() {
            0 => Err(OidcError::MissingParameter("tls_client_auth_subject_dn")),
            1 => Ok(rules.pop().expect("one rule")),
            _ => Err(OidcError::InvalidParameter("tls_client_auth_subject_dn")),
        }
    }

    /// Checks a certificate (already chain-validated by the TLS layer) against the rule.
    pub fn check(&self, cert: &ClientCertificate) -> Result<(), MtlsError> {
        let ok = match self {
            TlsClientAuthRule::SubjectDn(dn) => dn.matches(&cert.subject),
            TlsClientAuthRule::SanDns(d) => cert.san_dns.iter().any(|x| x == d),
            TlsClientAuthRule::SanUri(u) => cert.san_uri.iter().any(|x| x == u),
            TlsClientAuthRule::SanIp(ip) => cert.san_ip.contains(ip),
            TlsClientAuthRule::SanEmail(e) => cert.san_email.iter().any(|x| x == e),
        };
        if ok { Ok(()) } else { Err(MtlsError::Mismatch) }
    }
}

/// `self_signed_tls_client_auth` (RFC 8705 §2.2): the certificate's public key must be one the client
/// registered (compared by RFC 7638 thumbprint, so `kid`, `use` and `alg` do not matter).
pub fn check_self_signed(cert: &ClientCertificate, registered: &JwkSet) -> Result<(), MtlsError> {
    let key = cert.public_key().ok_or(MtlsError::UnsupportedKey)?;
    let t = key.thumbprint();
    if registered
        .keys()
        .iter()
        .filter_map(Jwk::to_public)
        .any(|k| k.thumbprint() == t)
    {
        Ok(())
    } else {
        Err(MtlsError::Mismatch)
    }
}
