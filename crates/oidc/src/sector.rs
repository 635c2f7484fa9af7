//! The document a client's `sector_identifier_uri` serves (OIDC Core §8.1): a JSON array of redirect URIs, which
//! must list every redirect URI the client registers. Fetching it is the provider's business; this is the
//! parsing and the check.
//!
//! Must not: accept anything but an array of at most [`MAX_SECTOR_URIS`] strings within
//! [`MAX_SECTOR_DOCUMENT`] bytes.

use serde_json::Value;

use crate::OidcError;

/// The largest sector document accepted, bytes.
pub const MAX_SECTOR_DOCUMENT: usize = 64 * 1024;
/// The most URIs a sector document may list.
pub const MAX_SECTOR_URIS: usize = 1000;

/// The URIs a sector document lists.
///
/// ```
/// use portcullis_oidc::{parse_sector_document, unlisted_redirect_uri};
/// let listed = parse_sector_document(br#"["https://a.example/cb", "https://b.example/cb"]"#)?;
/// assert_eq!(unlisted_redirect_uri(&listed, &["https://a.example/cb".to_owned()]), None);
/// assert_eq!(
///     unlisted_redirect_uri(&listed, &["https://c.example/cb".to_owned()]),
///     Some("https://c.example/cb")
/// );
/// assert!(parse_sector_document(br#"{"redirect_uris": []}"#).is_err());
/// # Ok::<(), portcullis_oidc::OidcError>(())
/// ```
pub fn parse_sector_document(body: &[u8]) -> Result<Vec<String>, OidcError> {
    let bad = || OidcError::InvalidParameter("sector_identifier_uri");
    if body.len() > MAX_SECTOR_DOCUMENT {
        return Err(bad());
    }
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad());
    };
    if items.len() > MAX_SECTOR_URIS {
        return Err(bad());
    }
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            _ => Err(bad()),
        })
        .collect()
}

/// The first of `redirect_uris` that `listed` does not contain (compared exactly), if any.
pub fn unlisted_redirect_uri<'a>(
    listed: &[String],
    redirect_uris: &'a [String],
) -> Option<&'a str> {
    redirect_uris
        .iter()
        .find(|r| !listed.contains(r))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_arrays_of_strings_within_the_limits() {
        for bad in [&b"{}"[..], b"[1]", b"not json", b"[\"a\",null]", b""] {
            assert!(parse_sector_document(bad).is_err());
        }
        let many = format!("[{}]", vec!["\"x\""; MAX_SECTOR_URIS + 1].join(","));
        assert!(parse_sector_document(many.as_bytes()).is_err());
        let big = format!("[\"{}\"]", "x".repeat(MAX_SECTOR_DOCUMENT));
        assert!(parse_sector_document(big.as_bytes()).is_err());
    }
}
