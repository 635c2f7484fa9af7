//! Sector identifiers (OIDC Core §8.1) and `sector_identifier_uri` documents.
//!
//! Must not: fetch the document (the caller does), or accept a non-https `sector_identifier_uri`, or redirect URIs on
//! several hosts without one.

use url::Url;

use crate::PairwiseError;

/// Largest sector identifier document accepted (64 KiB).
pub const MAX_SECTOR_DOCUMENT_LEN: usize = 64 * 1024;

/// The host that pairwise subjects are computed for: lower-case, IDNs in punycode (A-labels), no port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SectorIdentifier(String);

fn host_of(uri: &str) -> Result<(Url, String), PairwiseError> {
    let bad = || PairwiseError::InvalidUrl(uri.chars().take(200).collect());
    let url = Url::parse(uri).map_err(|_| bad())?;
    // The WHATWG parser lower-cases, converts IDNs to punycode and drops default ports for special schemes.
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(bad)?
        .to_owned();
    Ok((url, host))
}

impl SectorIdentifier {
    /// The sector of a client: the host of `sector_identifier_uri` when one is registered (it must be https),
    /// else the single host shared by every redirect URI.
    pub fn from_redirect_uris(
        redirect_uris: &[&str],
        sector_identifier_uri: Option<&str>,
    ) -> Result<SectorIdentifier, PairwiseError> {
        if let Some(uri) = sector_identifier_uri {
            let (url, host) = host_of(uri)?;
            if url.scheme() != "https" {
                return Err(PairwiseError::SectorUriNotHttps);
            }
            return Ok(SectorIdentifier(host));
        }
        let mut hosts = redirect_uris.iter().map(|u| host_of(u).map(|(_, h)| h));
        let first = hosts.next().ok_or(PairwiseError::NoRedirectUris)??;
        for host in hosts {
            if host? != first {
                return Err(PairwiseError::MultipleHosts);
            }
        }
        Ok(SectorIdentifier(first))
    }

    /// The sector of a URL's host (for a `sector_identifier_uri`, use [`SectorIdentifier::from_redirect_uris`],
    /// which also checks the scheme).
    pub fn from_url(uri: &str) -> Result<SectorIdentifier, PairwiseError> {
        host_of(uri).map(|(_, h)| SectorIdentifier(h))
    }

    /// The normalised host.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a fetched `sector_identifier_uri` document (sans-IO: the caller fetches `document` from `uri`).
///
/// The URI must be https; the document a JSON array of strings of at most [`MAX_SECTOR_DOCUMENT_LEN`] bytes; and
/// every registered redirect URI must appear in it, compared as exact strings.
pub fn validate_sector_document(
    uri: &str,
    document: &[u8],
    redirect_uris: &[&str],
) -> Result<(), PairwiseError> {
    let (url, _) = host_of(uri)?;
    if url.scheme() != "https" {
        return Err(PairwiseError::SectorUriNotHttps);
    }
    if document.len() > MAX_SECTOR_DOCUMENT_LEN {
        return Err(PairwiseError::DocumentTooLarge);
    }
    let listed: Vec<String> =
        serde_json::from_slice(document).map_err(|_| PairwiseError::InvalidDocument)?;
    if redirect_uris.is_empty() {
        return Err(PairwiseError::NoRedirectUris);
    }
    for r in redirect_uris {
        if !listed.iter().any(|l| l == r) {
            return Err(PairwiseError::RedirectUriNotListed((*r).to_owned()));
        }
    }
    Ok(())
}
