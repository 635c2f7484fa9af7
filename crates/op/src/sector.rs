//! A client's `sector_identifier_uri`, fetched when the client is registered (OIDC Core §8.1): the document
//! must be a JSON array of URIs that lists every one of the client's `redirect_uris`. Otherwise a client could
//! name another client's sector and receive the same pairwise `sub` for each user.
//!
//! The fetch is bounded: https only, [`FETCH_TIMEOUT`] for the whole exchange, at most [`MAX_DOCUMENT`]
//! bytes, at most [`MAX_ENTRIES`] entries, no redirects followed, and only a 200 answer counts.
//!
//! Must not: accept a document that does not list every redirect URI, or follow a redirect.

use std::time::Duration;

use serde_json::Value;

/// The longest a fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest document accepted, bytes.
pub const MAX_DOCUMENT: usize = 64 * 1024;
/// The most URIs a document may list.
pub const MAX_ENTRIES: usize = 1000;

/// Why a sector document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SectorError {
    /// The URI is not an https URL.
    #[error("sector_identifier_uri must be an https URL")]
    NotHttps,
    /// The fetch failed, timed out or did not answer 200.
    #[error("sector_identifier_uri could not be fetched: {0}")]
    Fetch(String),
    /// Larger than [`MAX_DOCUMENT`].
    #[error("the sector_identifier_uri document is larger than {MAX_DOCUMENT} bytes")]
    TooLarge,
    /// Not a JSON array of at most [`MAX_ENTRIES`] strings.
    #[error("the sector_identifier_uri document is not a JSON array of URIs")]
    Malformed,
    /// A redirect URI the document does not list.
    #[error("the sector_identifier_uri document does not list the redirect URI {0}")]
    Unlisted(String),
}

/// Fetches sector documents.
#[derive(Debug, Clone)]
pub struct SectorFetcher {
    http: reqwest::Client,
}

impl SectorFetcher {
    /// A fetcher trusting the public web PKI.
    pub fn new() -> Result<SectorFetcher, SectorError> {
        Self::build(reqwest::Client::builder())
    }

    /// A fetcher that also trusts `ca_pem` (a private PKI, or a test's own CA).
    pub fn with_root_certificate(ca_pem: &[u8]) -> Result<SectorFetcher, SectorError> {
        let ca = reqwest::Certificate::from_pem(ca_pem)
            .map_err(|e| SectorError::Fetch(format!("CA certificate: {e}")))?;
        Self::build(reqwest::Client::builder().add_root_certificate(ca))
    }

    fn build(b: reqwest::ClientBuilder) -> Result<SectorFetcher, SectorError> {
        let http = b
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| SectorError::Fetch(e.to_string()))?;
        Ok(SectorFetcher { http })
    }

    /// Fetches `uri` and checks that it lists every one of `redirect_uris` (compared exactly).
    pub async fn check(&self, uri: &str, redirect_uris: &[String]) -> Result<(), SectorError> {
        let url = url::Url::parse(uri).map_err(|_| SectorError::NotHttps)?;
        if url.scheme() != "https" {
            return Err(SectorError::NotHttps);
        }
        let mut resp = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| SectorError::Fetch(e.without_url().to_string()))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(SectorError::Fetch(format!("status {}", resp.status())));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT as u64)
        {
            return Err(SectorError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| SectorError::Fetch(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(SectorError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let listed = parse(&body)?;
        match redirect_uris.iter().find(|r| !listed.contains(r)) {
            Some(missing) => Err(SectorError::Unlisted(missing.clone())),
            None => Ok(()),
        }
    }
}

/// The URIs a sector document lists.
fn parse(body: &[u8]) -> Result<Vec<String>, SectorError> {
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
        return Err(SectorError::Malformed);
    };
    if items.len() > MAX_ENTRIES {
        return Err(SectorError::Malformed);
    }
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            _ => Err(SectorError::Malformed),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_arrays_of_strings() {
        assert_eq!(
            parse(br#"["https://a.example/cb","https://b.example/cb"]"#).unwrap(),
            ["https://a.example/cb", "https://b.example/cb"]
        );
        for bad in [&b"{}"[..], b"[1]", b"not json", b"[\"a\",null]", b""] {
            assert_eq!(parse(bad), Err(SectorError::Malformed));
        }
        let many = format!("[{}]", vec!["\"x\""; MAX_ENTRIES + 1].join(","));
        assert_eq!(parse(many.as_bytes()), Err(SectorError::Malformed));
    }
}
