//! # portcullis-pairwise
//!
//! Pairwise subject identifiers (OpenID Connect Core 1.0 §8.1): each sector (a client's host, or the host of its
//! `sector_identifier_uri`) sees a different, stable `sub` for the same user, and nobody without the provider's
//! secret can link them or reverse them.
//!
//! ```
//! use portcullis_pairwise::{PairwiseSecret, SectorIdentifier, derive_subject};
//!
//! let secret = PairwiseSecret::new(1, &[0x42; 32])?;
//! let shop = SectorIdentifier::from_redirect_uris(&["https://shop.example.com/cb"], None)?;
//! let bank = SectorIdentifier::from_redirect_uris(&["https://bank.example.org/oidc/cb"], None)?;
//! assert_eq!(shop.as_str(), "shop.example.com");
//!
//! let a = derive_subject(&secret, &shop, "user-1234");
//! let b = derive_subject(&secret, &bank, "user-1234");
//! assert_ne!(a, b);                                              // unlinkable across sectors
//! assert_eq!(a, derive_subject(&secret, &shop, "user-1234"));    // stable within one
//! # Ok::<(), portcullis_pairwise::PairwiseError>(())
//! ```
//!
//! ## Derivation and secret rotation
//!
//! `sub = base64url(HMAC-SHA-256(secret_v, L("portcullis-pairwise") ‖ u32(v) ‖ L(sector) ‖ L(local_id)))` where
//! `L(x)` is the length of `x` as 8 bytes big-endian followed by `x` (never plain concatenation), so that no two different (sector, user) pairs can produce the same
//! input. The output is stable for a given secret *version*. A provider keeps every version it ever used
//! (they are small), records with each (user, sector) pair the version its `sub` was first derived with, and
//! derives new pairs with the newest version. Rotating the secret then never changes an existing `sub`; retiring
//! a leaked version means re-deriving those pairs deliberately (and telling the affected clients).
//!
//! Must not: accept a secret shorter than 32 bytes or show one in `Debug`, or do I/O (the caller fetches sector
//! documents).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use portcullis_jose::{Algorithm, HmacKey, base64url};

mod sector;

pub use sector::{MAX_SECTOR_DOCUMENT_LEN, SectorIdentifier, validate_sector_document};

/// Why a sector or subject could not be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairwiseError {
    /// Not an absolute URL with a host.
    #[error("invalid URL {0:?}")]
    InvalidUrl(String),
    /// `sector_identifier_uri` must use https.
    #[error("sector_identifier_uri must use https")]
    SectorUriNotHttps,
    /// No redirect URI was registered.
    #[error("no redirect URIs")]
    NoRedirectUris,
    /// The redirect URIs span several hosts and no `sector_identifier_uri` was registered.
    #[error("redirect URIs on several hosts need a sector_identifier_uri")]
    MultipleHosts,
    /// The sector document is larger than [`MAX_SECTOR_DOCUMENT_LEN`].
    #[error("sector identifier document too large")]
    DocumentTooLarge,
    /// The sector document is not a JSON array of strings.
    #[error("sector identifier document is not a JSON array of strings")]
    InvalidDocument,
    /// A registered redirect URI is missing from the sector document.
    #[error("redirect URI {0:?} is not listed in the sector identifier document")]
    RedirectUriNotListed(String),
    /// The secret is shorter than 32 bytes.
    #[error("pairwise secret must be at least 32 bytes")]
    SecretTooShort,
}

/// A versioned provider secret for pairwise subjects (at least 32 bytes).
#[derive(Clone)]
pub struct PairwiseSecret {
    version: u32,
    key: HmacKey,
}

impl std::fmt::Debug for PairwiseSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairwiseSecret")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl PairwiseSecret {
    /// A secret of a given version.
    pub fn new(version: u32, secret: &[u8]) -> Result<PairwiseSecret, PairwiseError> {
        if secret.len() < 32 {
            return Err(PairwiseError::SecretTooShort);
        }
        let key = HmacKey::new(secret).map_err(|_| PairwiseError::SecretTooShort)?;
        Ok(PairwiseSecret { version, key })
    }

    /// The version.
    pub fn version(&self) -> u32 {
        self.version
    }
}

/// The `subject_type` of a client (OIDC Core §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectType {
    /// `public`: the same `sub` for every client (the local account id).
    Public,
    /// `pairwise`: a different `sub` per sector.
    Pairwise,
}

impl SubjectType {
    /// Parses the registered value.
    pub fn parse(s: &str) -> Option<SubjectType> {
        match s {
            "public" => Some(SubjectType::Public),
            "pairwise" => Some(SubjectType::Pairwise),
            _ => None,
        }
    }
}

fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u64).to_be_bytes());
    out.extend_from_slice(field);
}

/// The pairwise `sub` of `local_account_id` for `sector` (base64url, 43 characters).
pub fn derive_subject(
    secret: &PairwiseSecret,
    sector: &SectorIdentifier,
    local_account_id: &str,
) -> String {
    let mut input = Vec::with_capacity(64 + sector.as_str().len() + local_account_id.len());
    push_field(&mut input, b"portcullis-pairwise");
    input.extend_from_slice(&secret.version.to_be_bytes());
    push_field(&mut input, sector.as_str().as_bytes());
    push_field(&mut input, local_account_id.as_bytes());
    let mac = secret
        .key
        .sign(Algorithm::Hs256, &input)
        .expect("a pairwise secret is at least 32 bytes, enough for HS256");
    base64url::encode(&mac)
}

/// The `sub` for a client: the local id for `public`, the derived one for `pairwise`.
pub fn subject_for(
    subject_type: SubjectType,
    secret: &PairwiseSecret,
    sector: &SectorIdentifier,
    local_account_id: &str,
) -> String {
    match subject_type {
        SubjectType::Public => local_account_id.to_owned(),
        SubjectType::Pairwise => derive_subject(secret, sector, local_account_id),
    }
}
