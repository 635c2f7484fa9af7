//! The running provider's shared state ([`Provider`]): configuration, storage, signing keys, the sealing keys,
//! the pairwise secret, the login methods, and the small caches of parsed clients and user claims.
//!
//! Must not: handle requests (that is [`crate::endpoints`]) or hold protocol rules.

use std::sync::{Arc, RwLock};

use portcullis_oidc::ScopeClaims;
use portcullis_pairwise::{PairwiseSecret, SubjectType, subject_for};
use portcullis_pkce::Policy;
use serde_json::{Map, Value};

use crate::authn::Methods;
use crate::clients::Client;
use crate::config::Config;
use crate::http::{HttpResult, db};
use crate::keys::KeyRing;
use crate::store::{Store, StoreError, UserRow};
use crate::tls::Tls;
use crate::{now, random_token};

pub use crate::endpoints::router;

/// The PKCE policy of every endpoint: S256 only.
pub(crate) fn pkce_policy() -> Policy {
    Policy::default()
}

/// The running provider's shared state.
pub struct Provider {
    /// Configuration in effect.
    pub cfg: Config,
    /// Storage.
    pub store: Store,
    pub(crate) keys: RwLock<Arc<KeyRing>>,
    pub(crate) scope_claims: ScopeClaims,
    pub(crate) pairwise: PairwiseSecret,
    pub(crate) sealer: crate::sealing::SecretSealer,
    pub(crate) codes: crate::sealing::CodeSealer,
    pub(crate) metadata: String,
    /// Parsed clients, each kept for [`CLIENT_CACHE_SECS`] (registration changes made on another node or by the
    /// admin command reach this node within that time).
    pub(crate) clients: RwLock<ClientCache>,
    /// Parsed user claims by user id, each with the stored text it was parsed from (see
    /// [`Provider::user_claims`]).
    pub(crate) claims: RwLock<ClaimsCache>,
    /// TLS material when serving HTTPS (mutual-TLS client authentication needs it).
    pub tls: Option<Arc<Tls>>,
    /// The login methods.
    pub(crate) methods: Methods,
    /// Sign-in back-off and the login-page rate per address.
    pub(crate) throttle: crate::authn::throttle::Throttle,
    /// Passkey registration (OpenID Connect Prompt Create), when passkeys are among the login methods.
    pub(crate) passkeys: Option<crate::authn::PasskeyLogin>,
    /// Where one-time codes are sent (e-mail, SMS), for the account page's enrolment.
    pub(crate) delivery: crate::delivery::Delivery,
    /// The upstream OpenID Providers, each with its relying party.
    pub(crate) upstreams: crate::upstream::Upstreams,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
}

/// Parsed user claims by user id, with the text each was parsed from.
type ClaimsCache = std::collections::HashMap<String, (String, Arc<Map<String, Value>>)>;

/// Parsed registrations by `client_id`, with when each was read (`None`: no such client).
type ClientCache = std::collections::HashMap<String, (i64, Option<Arc<Client>>)>;

/// How many users' parsed claims [`Provider::user_claims`] keeps.
pub const CLAIMS_CACHE: usize = 4096;

/// How long a parsed client registration is reused.
pub const CLIENT_CACHE_SECS: i64 = 5;

impl Provider {
    /// Opens the store, loads (or creates) keys and the pairwise secret.
    pub async fn new(
        cfg: Config,
        store: Store,
        tls: Option<Arc<Tls>>,
    ) -> Result<Arc<Provider>, StoreError> {
        Self::with_methods(cfg, store, tls, Methods::password()).await
    }

    /// Like [`new`](Self::new) with several login methods, offered on one page.
    pub async fn with_methods(
        cfg: Config,
        store: Store,
        tls: Option<Arc<Tls>>,
        methods: Methods,
    ) -> Result<Arc<Provider>, StoreError> {
        let t = now();
        let keys = KeyRing::load(&store, t, cfg.retired_key_lifetime as i64).await?;
        let secret = store
            .setting_or_insert("pairwise_secret", &random_token())
            .await?;
        let secret = portcullis_jose::base64url::decode(&secret)
            .map_err(|_| StoreError::Corrupt("pairwise secret".into()))?;
        let pairwise = PairwiseSecret::new(1, &secret)
            .map_err(|e| StoreError::Corrupt(format!("pairwise secret: {e}")))?;
        let sealer = crate::sealing::SecretSealer::load(&store).await?;
        let codes = crate::sealing::CodeSealer::load(&store).await?;
        let offers_passkeys = methods.iter().any(|m| m.id() == "passkey");
        let metadata = crate::endpoints::discovery::metadata(
            &cfg,
            tls.is_some(),
            (&methods.acr_values_supported(), &methods.amr_values()),
            offers_passkeys,
        )
        .to_string();
        let throttle = crate::authn::throttle::Throttle::new(
            cfg.login_pages_per_second,
            cfg.login_pages_burst,
        );
        let delivery = crate::delivery::Delivery::from_config(&cfg)
            .map_err(|e| StoreError::Corrupt(format!("code delivery: {e}")))?;
        let passkeys = if offers_passkeys {
            crate::authn::PasskeyLogin::from_config(&cfg).ok()
        } else {
            None
        };
        let upstreams = crate::upstream::Upstreams::from_config(&cfg.issuer, &cfg.upstreams)
            .map_err(|e| StoreError::Corrupt(format!("upstreams: {e}")))?;
        Ok(Arc::new(Provider {
            metrics: crate::metrics::Metrics::default(),
            upstreams,
            scope_claims: cfg.scope_claims(),
            cfg,
            store,
            keys: RwLock::new(Arc::new(keys)),
            pairwise,
            sealer,
            codes,
            metadata,
            clients: RwLock::new(std::collections::HashMap::new()),
            claims: RwLock::new(std::collections::HashMap::new()),
            throttle,
            passkeys,
            delivery,
            tls,
            methods,
        }))
    }

    /// The grant id a sealed authorization code carries, if `code` is one this provider issued (it opens
    /// under this database's code key): the grant is stored under that id when the code is redeemed.
    pub fn sealed_code_grant(&self, code: &str) -> Option<String> {
        self.codes.open(code).map(|c| c.grant_id)
    }

    /// A user's claims, parsed (a claims text that is not a JSON object counts as no claims). Parsed once per
    /// distinct text: the cache entry is used only while the row read for this request carries exactly the
    /// text it was parsed from, so a change made anywhere is seen at once. At most [`CLAIMS_CACHE`] users are
    /// kept; the cache starts over when full.
    pub(crate) fn user_claims(&self, user: &UserRow) -> Arc<Map<String, Value>> {
        if let Some((text, parsed)) = self
            .claims
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user.id)
            && *text == user.claims
        {
            return parsed.clone();
        }
        let parsed: Arc<Map<String, Value>> =
            Arc::new(serde_json::from_str(&user.claims).unwrap_or_default());
        let mut cache = self.claims.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CLAIMS_CACHE {
            cache.clear();
        }
        cache.insert(user.id.clone(), (user.claims.clone(), parsed.clone()));
        parsed
    }

    /// Reloads signing keys from the store (after `keys rotate` on any node).
    pub async fn reload_keys(&self) -> Result<(), StoreError> {
        let ring = KeyRing::from_rows(
            &self.store.keys().await?,
            now(),
            self.cfg.retired_key_lifetime as i64,
        )?;
        *self.keys.write().expect("key lock") = Arc::new(ring);
        Ok(())
    }

    pub(crate) fn keys(&self) -> Arc<KeyRing> {
        self.keys.read().expect("key lock").clone()
    }

    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.issuer)
    }

    pub(crate) async fn client(&self, id: &str) -> HttpResult<Option<Arc<Client>>> {
        let t = now();
        if let Some((at, c)) = self.clients.read().expect("client cache").get(id)
            && t - at < CLIENT_CACHE_SECS
        {
            return Ok(c.clone());
        }
        let c = self.load_client(id).await?;
        let mut cache = self.clients.write().expect("client cache");
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(id.to_owned(), (t, c.clone()));
        Ok(c)
    }

    pub(crate) async fn load_client(&self, id: &str) -> HttpResult<Option<Arc<Client>>> {
        match self.store.client(id).await.map_err(db)? {
            None => Ok(None),
            Some(row) => match Client::from_row(&row) {
                Ok(c) => Ok(Some(Arc::new(c))),
                Err(e) => {
                    tracing::warn!("client {id} has unusable metadata: {e}");
                    Ok(None)
                }
            },
        }
    }

    pub(crate) fn subject(&self, client: &Client, user_id: &str) -> String {
        match (&client.sector, client.subject_type) {
            (Some(sector), SubjectType::Pairwise) => {
                subject_for(SubjectType::Pairwise, &self.pairwise, sector, user_id)
            }
            _ => user_id.to_owned(),
        }
    }

    /// The issuer's origin (`scheme://host[:port]`), which the provider's own forms are posted from.
    pub(crate) fn issuer_origin(&self) -> String {
        url::Url::parse(&self.cfg.issuer)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    pub(crate) fn secure_cookies(&self) -> bool {
        self.cfg.issuer.starts_with("https://")
    }
}

impl Provider {
    /// What the background purge ([`Store::purge_expired`]) waits for: the configured lifetimes, and an hour
    /// for grants left without tokens.
    pub fn purge_ages(&self) -> crate::store::PurgeAges {
        let secs = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        crate::store::PurgeAges {
            code: secs(self.cfg.code_lifetime),
            access_token: secs(self.cfg.access_token_lifetime),
            refresh_token: secs(self.cfg.refresh_token_lifetime),
            grant: 3600,
        }
    }
}
