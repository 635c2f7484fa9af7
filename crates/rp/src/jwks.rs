//! The provider's JWK Set, cached, refetched when a token names a key we do not have — at most once per
//! `min_refetch_interval`, so a stream of tokens with made-up `kid`s cannot make us hammer the provider.
//!
//! Must not: refetch more than once per `min_refetch_interval`, or for a failure other than no key fitting (an unknown
//! `kid`, or none for the algorithm).

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_jose::{Error as JoseError, JwkSet, MAX_JWKS_LEN};
use tokio::sync::Mutex;

use crate::RpError;
use crate::http::{http_error, read_limited};

#[derive(Debug)]
struct Cached {
    set: Arc<JwkSet>,
    fetched_at: Option<Instant>,
}

/// A JWKS cache for one issuer's `jwks_uri`.
#[derive(Debug)]
pub struct JwksCache {
    uri: String,
    min_refetch_interval: Duration,
    state: Mutex<Cached>,
    fetches: std::sync::atomic::AtomicU64,
}

impl JwksCache {
    /// A cache for `uri`, empty until first used.
    pub fn new(uri: &str, min_refetch_interval: Duration) -> JwksCache {
        JwksCache {
            uri: uri.to_owned(),
            min_refetch_interval,
            state: Mutex::new(Cached {
                set: Arc::new(JwkSet::new(Vec::new())),
                fetched_at: None,
            }),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many times the set was fetched (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<JwkSet, RpError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let resp = http
            .get(&self.uri)
            .header("accept", "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| http_error("jwks_uri", e))?;
        if !resp.status().is_success() {
            return Err(RpError::Status {
                endpoint: "jwks_uri",
                status: resp.status().as_u16(),
            });
        }
        let body = read_limited("jwks_uri", resp, MAX_JWKS_LEN).await?;
        JwkSet::from_json(&body).map_err(|e| RpError::Malformed {
            endpoint: "jwks_uri",
            reason: e.to_string(),
        })
    }

    /// The current set, fetching it the first time.
    pub async fn current(&self, http: &reqwest::Client) -> Result<Arc<JwkSet>, RpError> {
        let mut st = self.state.lock().await;
        if st.fetched_at.is_none() {
            let set = self.fetch(http).await?;
            st.set = Arc::new(set);
            st.fetched_at = Some(Instant::now());
        }
        Ok(st.set.clone())
    }

    /// Refetches unless the last fetch was less than `min_refetch_interval` ago; returns the (possibly new) set
    /// and whether it changed.
    pub async fn refresh(&self, http: &reqwest::Client) -> Result<(Arc<JwkSet>, bool), RpError> {
        let mut st = self.state.lock().await;
        if st
            .fetched_at
            .is_some_and(|t| t.elapsed() < self.min_refetch_interval)
        {
            return Ok((st.set.clone(), false));
        }
        let set = self.fetch(http).await?;
        st.set = Arc::new(set);
        st.fetched_at = Some(Instant::now());
        Ok((st.set.clone(), true))
    }

    /// Runs `verify` with the cached keys; when it fails because no key fits (unknown `kid`, or no key of the
    /// algorithm's family), refetches once (rate-limited) and runs it again.
    pub async fn with_keys<T, E>(
        &self,
        http: &reqwest::Client,
        verify: impl Fn(&JwkSet) -> Result<T, E>,
    ) -> Result<Result<T, E>, RpError>
    where
        E: NeedsKeys,
    {
        let keys = self.current(http).await?;
        match verify(&keys) {
            Err(e) if e.needs_keys() => {
                let (keys, changed) = self.refresh(http).await?;
                if changed {
                    Ok(verify(&keys))
                } else {
                    Ok(Err(e))
                }
            }
            other => Ok(other),
        }
    }
}

/// Errors that mean "no key fits": worth one JWKS refetch.
pub trait NeedsKeys {
    /// Whether a refetch might help.
    fn needs_keys(&self) -> bool;
}

impl NeedsKeys for JoseError {
    fn needs_keys(&self) -> bool {
        matches!(self, JoseError::UnknownKeyId | JoseError::NoMatchingKey(_))
    }
}

impl NeedsKeys for portcullis_oidc::IdTokenError {
    fn needs_keys(&self) -> bool {
        matches!(self, portcullis_oidc::IdTokenError::Jwt(e) if e.needs_keys())
    }
}
