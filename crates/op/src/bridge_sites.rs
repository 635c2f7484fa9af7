//! The login bridge's sites as configured: what makes a site valid, its API key (generated, shown once, kept as
//! its SHA-256), the sites of the TOML configuration written to the database at startup, and the admin
//! operations (add, list, rotate the key, remove).
//!
//! Must not: keep an API key anywhere but in the value returned to the administrator (only its hash is stored).

use serde::{Deserialize, Serialize};

use crate::store::{BridgeSiteRow, Store, StoreError};
use crate::{hash, random_token};

/// A site in the TOML configuration (`[[bridge_sites]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Its id, also its `idp_id` (1 to 32 of `a-z`, `0-9`, `-`, `_`).
    pub id: String,
    /// The name users see ("Continue with ...").
    pub name: String,
    /// Where the browser is sent to sign in: https (http only on loopback), no fragment.
    pub verify_url: String,
    /// Its home page.
    #[serde(default)]
    pub home_url: Option<String>,
    /// The SHA-256 of its API key, base64url without padding (what `portcullis-provider site add` prints
    /// next to the key, or `printf %s "$KEY" | openssl dgst -sha256 -binary | basenc --base64url | tr -d =`).
    pub api_key_sha256: String,
    /// Whether its `no_prompt` is honoured (users skip the consent page). Default false.
    #[serde(default)]
    pub trusted: bool,
    /// Its public signing key (a JWK, JSON text): its postbacks must then be signed with it (a JWS,
    /// `typ` [`POSTBACK_TYP`]), on top of the API key.
    #[serde(default)]
    pub signing_key: Option<String>,
    /// The claims it may release (default: the standard claims of OIDC Core §5.1; list the provider's own,
    /// such as `avatar`, to allow them).
    #[serde(default)]
    pub claims: Vec<String>,
    /// Whether its `email_verified` and `phone_number_verified` are believed (default false: they are dropped,
    /// so that a site cannot vouch for an address it does not control).
    #[serde(default)]
    pub trust_verified: bool,
}

/// The `typ` of a signed postback.
pub const POSTBACK_TYP: &str = "bridge-postback+jwt";

/// Why a site is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiteError {
    /// The id.
    #[error("site id must be 1-32 characters of a-z, 0-9, '-', '_'")]
    Id,
    /// The name.
    #[error("site name must be 1-100 characters without control characters")]
    Name,
    /// A URL.
    #[error("{0} must be an https URL (http only on loopback) without a fragment or credentials")]
    Url(&'static str),
    /// The key hash.
    #[error("api_key_sha256 must be a SHA-256 in base64url (43 characters)")]
    KeyHash,
    /// The signing key.
    #[error("signing_key must be a public EC, RSA or OKP JWK (no private part)")]
    SigningKey,
    /// The claim list.
    #[error("claims must be claim names (a-z, 0-9, '_')")]
    Claims,
}

/// An https URL (http on loopback), without fragment or credentials.
fn usable_url(u: &str) -> bool {
    let Ok(url) = url::Url::parse(u) else {
        return false;
    };
    let loopback = matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    scheme_ok
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && u.len() <= 2000
}

/// Checks a site's values.
pub fn check(site: &BridgeSiteRow) -> Result<(), SiteError> {
    let id_ok = (1..=32).contains(&site.id.len())
        && site
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(SiteError::Id);
    }
    if site.name.trim().is_empty()
        || site.name.len() > 100
        || site.name.chars().any(char::is_control)
    {
        return Err(SiteError::Name);
    }
    if !usable_url(&site.verify_url) {
        return Err(SiteError::Url("verify_url"));
    }
    if site.home_url.as_deref().is_some_and(|u| !usable_url(u)) {
        return Err(SiteError::Url("home_url"));
    }
    let hash_ok = site.api_key_hash.len() == 43
        && site
            .api_key_hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !hash_ok {
        return Err(SiteError::KeyHash);
    }
    if let Some(k) = &site.signing_key
        && signing_key(k).is_none()
    {
        return Err(SiteError::SigningKey);
    }
    let claim_ok = |c: &str| {
        (1..=64).contains(&c.len())
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if !site.claims.split_whitespace().all(claim_ok) {
        return Err(SiteError::Claims);
    }
    Ok(())
}

/// The claims `site` may release: its list, or the standard claims (OIDC Core §5.1).
pub fn allowed_claims(site: &BridgeSiteRow) -> Vec<String> {
    if site.claims.trim().is_empty() {
        portcullis_oidc::STANDARD_CLAIMS
            .iter()
            .map(|c| (*c).to_owned())
            .collect()
    } else {
        site.claims.split_whitespace().map(str::to_owned).collect()
    }
}

/// A site's signing key as a key set to verify with: a public, asymmetric JWK.
pub fn signing_key(text: &str) -> Option<portcullis_jose::JwkSet> {
    let jwk = portcullis_jose::Jwk::from_json(text.as_bytes()).ok()?;
    let public = !jwk.is_private() && jwk.to_public().is_some();
    public.then(|| portcullis_jose::JwkSet::new(vec![jwk]))
}

impl SiteConfig {
    /// The row it is stored as.
    pub fn row(&self) -> BridgeSiteRow {
        BridgeSiteRow {
            id: self.id.clone(),
            name: self.name.clone(),
            verify_url: self.verify_url.clone(),
            home_url: self.home_url.clone(),
            api_key_hash: self.api_key_sha256.clone(),
            trusted: self.trusted,
            signing_key: self.signing_key.clone(),
            claims: self.claims.join(" "),
            trust_verified: self.trust_verified,
        }
    }
}

/// Writes the configured sites to the database: each one that differs from its stored row (a changed site's
/// requests in flight are dropped; an unchanged one is left alone, so restarting a node disturbs nothing).
pub async fn sync(store: &Store, sites: &[SiteConfig], now: i64) -> Result<(), StoreError> {
    for s in sites {
        let row = s.row();
        if store.bridge_site(&s.id).await?.as_ref() != Some(&row) {
            store.put_bridge_site(&row, now).await?;
        }
    }
    Ok(())
}

/// A new API key (256 bits, base64url) and its stored hash.
pub fn new_api_key() -> (String, String) {
    let key = random_token();
    let h = hash(&key);
    (key, h)
}

/// Adds (or replaces) a site with a fresh API key; the key, to show once.
pub async fn add(
    store: &Store,
    mut site: BridgeSiteRow,
    now: i64,
) -> Result<String, crate::admin::AdminError> {
    let (key, h) = new_api_key();
    site.api_key_hash = h;
    check(&site).map_err(|e| crate::admin::AdminError::Invalid(e.to_string()))?;
    store.put_bridge_site(&site, now).await?;
    Ok(key)
}

/// Gives a site a fresh API key (the old one stops working at once); the key, to show once.
pub async fn rotate_key(
    store: &Store,
    id: &str,
    now: i64,
) -> Result<String, crate::admin::AdminError> {
    let Some(mut site) = store.bridge_site(id).await? else {
        return Err(crate::admin::AdminError::Invalid(format!("no site {id}")));
    };
    let (key, h) = new_api_key();
    site.api_key_hash = h;
    store.put_bridge_site(&site, now).await?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(verify_url: &str) -> BridgeSiteRow {
        BridgeSiteRow {
            id: "shop".into(),
            name: "Shop".into(),
            verify_url: verify_url.into(),
            home_url: None,
            api_key_hash: new_api_key().1,
            trusted: false,
            signing_key: None,
            claims: String::new(),
            trust_verified: false,
        }
    }

    #[test]
    fn verify_urls_must_be_https_or_loopback() {
        assert_eq!(check(&site("https://shop.example/verify?x=1")), Ok(()));
        assert_eq!(check(&site("http://127.0.0.1:9000/verify")), Ok(()));
        for bad in [
            "http://shop.example/verify",
            "https://shop.example/verify#f",
            "https://user:pw@shop.example/verify",
            "javascript:alert(1)",
            "shop.example/verify",
        ] {
            assert_eq!(
                check(&site(bad)),
                Err(SiteError::Url("verify_url")),
                "{bad}"
            );
        }
    }

    #[test]
    fn ids_names_and_hashes_are_checked() {
        let mut s = site("https://shop.example/v");
        s.id = "Shop!".into();
        assert_eq!(check(&s), Err(SiteError::Id));
        let mut s = site("https://shop.example/v");
        s.name = "a\nb".into();
        assert_eq!(check(&s), Err(SiteError::Name));
        let mut s = site("https://shop.example/v");
        s.api_key_hash = "plaintext-key".into();
        assert_eq!(check(&s), Err(SiteError::KeyHash));
        let private = portcullis_jose::Jwk::generate(portcullis_jose::Algorithm::Es256).unwrap();
        let hmac = portcullis_jose::Jwk::generate(portcullis_jose::Algorithm::Hs256).unwrap();
        for bad in [private.to_json(), hmac.to_json(), "{}".into()] {
            let mut s = site("https://shop.example/v");
            s.signing_key = Some(bad);
            assert_eq!(check(&s), Err(SiteError::SigningKey));
        }
        let mut s = site("https://shop.example/v");
        s.signing_key = Some(private.to_public().unwrap().to_json());
        assert_eq!(check(&s), Ok(()));
    }

    #[test]
    fn a_key_is_stored_as_its_hash() {
        let (key, h) = new_api_key();
        assert_eq!(key.len(), 43);
        assert_ne!(key, h);
        assert_eq!(hash(&key), h);
    }
}
