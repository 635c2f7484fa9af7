//! # portcullis-op
//!
//! The Portcullis OpenID Provider as a library: an axum router over hyper/tokio serving discovery, JWKS,
//! authorization (code, implicit, hybrid; query, fragment, form_post and JARM), PAR, token (authorization
//! code with PKCE, refresh with rotation and reuse detection, client credentials), UserInfo, revocation,
//! introspection and RP-initiated logout, with login and consent pages; storage in SQLite or PostgreSQL
//! ([`store::Store`]). The protocol rules come from `portcullis-oidc`; this crate adds state and HTTP.
//!
//! The `portcullis-provider` binary is a thin `main.rs` over [`start`] and the [`admin`] operations.
//!
//! Must not: hold endpoint logic (that is [`endpoints`]) or storage queries (that is [`store`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod audit;
pub mod authn;
pub mod bridge_sites;
pub mod clients;
pub mod config;
pub mod data_dir;
pub mod delivery;
pub mod endpoints;
pub mod factor_pages;
pub mod http;
mod id_token;
pub mod keys;
pub mod metrics;
pub mod pages;
pub mod provider;
pub mod sealing;
pub mod sector;
pub mod store;
pub mod templates;
pub mod tls;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use config::{Config, ConfigError};
pub use provider::{Provider, router};
pub use store::{Store, StoreError};

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// 32 random bytes, base64url (43 characters): codes, tokens, ids.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    portcullis_jose::Backend::default()
        .fill_random(&mut b)
        .expect("the system CSPRNG is available");
    portcullis_jose::base64url::encode(&b)
}

pub(crate) fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A fresh bearer secret for an authorization code, access token or refresh token: 32 bytes, base64url — the
/// issue time (Unix milliseconds, 6 bytes big-endian) followed by 26 random bytes (208 bits of entropy).
///
/// The time leads so that the row it is stored under ([`store::TokenKey`]) sorts by issue time: inserts land
/// at the end of the index instead of on a random page, which cuts the pages each commit writes (and the
/// provider's write volume) by about two thirds under load. The time is not a secret; the random part is.
pub fn new_token() -> String {
    new_token_at(unix_millis())
}

/// [`new_token`] carrying another issue time (Unix milliseconds): for tests and imports of tokens issued
/// elsewhere. Only the 6 low bytes of `millis` are kept.
pub fn new_token_at(millis: u64) -> String {
    let mut b = [0u8; 32];
    b[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    portcullis_jose::Backend::default()
        .fill_random(&mut b[6..])
        .expect("the system CSPRNG is available");
    portcullis_jose::base64url::encode(&b)
}

/// An internal row id that sorts by creation time (grants): 12 hex digits of Unix milliseconds, then 16
/// random bytes.
pub fn time_ordered_id() -> String {
    time_ordered_id_at(unix_millis())
}

/// [`time_ordered_id`] with another creation time (Unix milliseconds): for tests and imports.
pub fn time_ordered_id_at(millis: u64) -> String {
    let mut b = [0u8; 16];
    portcullis_jose::Backend::default()
        .fill_random(&mut b)
        .expect("the system CSPRNG is available");
    format!(
        "{:012x}{}",
        millis & 0xffff_ffff_ffff,
        portcullis_jose::base64url::encode(&b)
    )
}

/// SHA-256, base64url: how secrets are stored.
pub fn hash(s: &str) -> String {
    portcullis_jose::base64url::encode(
        &portcullis_jose::Backend::default().digest(portcullis_jose::HashAlg::Sha256, s.as_bytes()),
    )
}

/// Opens the configured store: the data directory 0700 and the SQLite files 0600 (see [`data_dir`]), then the
/// secrets at rest unlocked with the configured key-encryption key.
pub async fn open_store(cfg: &Config) -> Result<Store, String> {
    let url = cfg.database_url();
    let db_file = data_dir::sqlite_file(&url);
    if cfg.database_url.is_none() {
        data_dir::prepare_data_dir(&cfg.data_dir)?;
    }
    if let Some(f) = &db_file {
        data_dir::secure_sqlite_files(f)?;
    }
    let store = Store::open(&url).await.map_err(|e| e.to_string())?;
    if let Some(f) = &db_file {
        data_dir::secure_sqlite_files(f)?;
    }
    data_dir::unlock(cfg, store).await
}

/// A bound, ready provider: call [`Running::run`] to serve.
pub struct Running {
    /// The provider state.
    pub provider: Arc<Provider>,
    listener: tokio::net::TcpListener,
    /// The bound address.
    pub addr: SocketAddr,
    /// What first-run set-up created (demo credentials), if anything.
    pub first_run: Option<admin::DemoSetup>,
}

/// Opens storage, runs first-run set-up, loads keys and binds the listener: username + password login, and
/// passkeys too when the configuration says `passkeys = true`.
pub async fn start(cfg: Config) -> Result<Running, String> {
    let methods = standard_methods(&cfg)?;
    start_with_methods(cfg, methods).await
}

/// The methods a configuration offers: passwords; passkeys when `passkeys = true` (on the same page, and
/// relying-party registration, prompt=create); the step-up factors (authenticator app, e-mailed and texted
/// codes, second password: [`authn::factors`], never a first factor); and the configured `acr_levels`.
pub fn standard_methods(cfg: &Config) -> Result<authn::Methods, String> {
    let mut list: Vec<Box<dyn authn::LoginMethod>> = vec![Box::new(authn::PasswordLogin)];
    if cfg.passkeys {
        list.push(Box::new(authn::PasskeyLogin::from_config(cfg)?));
    }
    list.extend(authn::factors::step_up_methods(
        &delivery::Delivery::from_config(cfg)?,
    ));
    list.push(Box::new(authn::BridgeLogin::default()));
    list.push(Box::new(upstream::UpstreamLogin::from_config(
        &cfg.upstreams,
    )));
    authn::Methods::new(list)?.with_levels(&cfg.acr_levels)
}

/// Like [`start`], with another login method.
pub async fn start_with_login(
    cfg: Config,
    login: Box<dyn authn::LoginMethod>,
) -> Result<Running, String> {
    start_with_methods(cfg, authn::Methods::single(login)?).await
}

/// Like [`start`], with several login methods offered on one page (see [`authn::Methods`]).
pub async fn start_with_methods(cfg: Config, methods: authn::Methods) -> Result<Running, String> {
    cfg.check().map_err(|e| e.to_string())?;
    let store = open_store(&cfg).await?;
    bridge_sites::sync(&store, &cfg.bridge_sites, now())
        .await
        .map_err(|e| e.to_string())?;
    let first_run = if cfg.demo {
        admin::ensure_demo(&store)
            .await
            .map_err(|e| e.to_string())?
    } else {
        None
    };
    let tls = match &cfg.tls {
        Some(t) => Some(Arc::new(tls::Tls::load(
            &t.cert,
            &t.key,
            t.client_ca.as_deref(),
        )?)),
        None => None,
    };
    let provider = Provider::with_methods(cfg.clone(), store, tls, methods)
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    Ok(Running {
        provider,
        listener,
        addr,
        first_run,
    })
}

impl Running {
    /// Serves until the process ends. Each connection is HTTP/1.1 with the header block limited to the
    /// configured request size (larger gets 431 from hyper) and read within [`http::READ_TIMEOUT`], as is the
    /// wait for a kept-alive connection's next request; a peer that stops reading is dropped after
    /// [`http::deadline::WRITE_TIMEOUT`]; at most `max_connections` are open at once. Keys are
    /// reloaded every 30 s so that a rotation on any node reaches every node.
    pub async fn run(self) -> Result<(), String> {
        self.run_until(std::future::pending()).await
    }

    /// [`Running::run`] until `stop` completes (see [`stop_signal`]), then drains: no new connection is
    /// accepted, every request in flight is answered, idle kept-alive connections are closed, and this returns
    /// once all connections have ended — or after [`DRAIN_TIMEOUT`], cutting what is left.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), String> {
        let provider = self.provider.clone();
        let reload = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                if let Err(e) = provider.reload_keys().await {
                    tracing::warn!("key reload failed: {e}");
                }
            }
        });
        // Expired codes, tokens, sessions and pending requests are deleted every minute (on every node of a
        // shared database: deleting is idempotent).
        let provider = self.provider.clone();
        let purge = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                match provider
                    .store
                    .purge_expired(now(), &provider.purge_ages())
                    .await
                {
                    Ok(c) => tracing::debug!("purged {c:?}"),
                    Err(e) => tracing::warn!("purge failed: {e}"),
                }
                let kept = i64::try_from(provider.cfg.audit_retention_days)
                    .unwrap_or(i64::MAX / 86_400)
                    .saturating_mul(86_400);
                if let Err(e) = provider.store.purge_audit(now().saturating_sub(kept)).await {
                    tracing::warn!("audit purge failed: {e}");
                }
            }
        });
        let mut loops = vec![
            reload,
            purge,
            tokio::spawn(metrics::sample(self.provider.clone())),
        ];
        if let Some(addr) = &self.provider.cfg.metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("metrics_listen {addr}: {e}"))?;
            loops.push(tokio::spawn(metrics::serve(
                self.provider.clone(),
                listener,
            )));
        }
        // The background loops end with the server: when `run` ends or its task is aborted, they are aborted too,
        // so nothing keeps the provider (and its database connections) alive after it stopped serving.
        let _loops = AbortOnDrop(loops);
        let app = router(self.provider.clone());
        let max = self.provider.cfg.max_request_bytes.max(8192);
        // At most `max_connections` open at once: the next client waits in the listen backlog until one closes.
        let slots = Arc::new(tokio::sync::Semaphore::new(
            self.provider.cfg.max_connections,
        ));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut stop = std::pin::pin!(stop);
        loop {
            let accepted = tokio::select! {
                biased;
                () = &mut stop => break,
                a = accept(&self.listener, &slots) => a,
            };
            let Some((stream, peer_addr, slot)) = accepted else {
                continue;
            };
            let watcher = graceful.watcher();
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            let tls = self.provider.tls.clone();
            let peer_addr = http::client_addr::PeerAddr(peer_addr.ip());
            tokio::spawn(async move {
                let _slot = slot;
                // The header block (and, on a kept-alive connection, the wait for the next request) within
                // READ_TIMEOUT; bodies are read within it too (`http::read_body`).
                let builder = || {
                    let mut b = hyper::server::conn::http1::Builder::new();
                    b.max_buf_size(max)
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(http::READ_TIMEOUT);
                    b
                };
                match tls {
                    None => {
                        let svc = tower::ServiceExt::map_request(
                            app,
                            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                                req.extensions_mut().insert(peer_addr);
                                req
                            },
                        );
                        let svc = hyper_util::service::TowerToHyperService::new(svc);
                        let io = hyper_util::rt::TokioIo::new(http::deadline::WriteDeadline::new(
                            stream,
                        ));
                        let _ = watcher.watch(builder().serve_connection(io, svc)).await;
                    }
                    Some(tls) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server.clone());
                        let stream = http::deadline::WriteDeadline::new(stream);
                        let accepted =
                            tokio::time::timeout(http::READ_TIMEOUT, acceptor.accept(stream)).await;
                        let Ok(Ok(stream)) = accepted else { return };
                        // The client certificate of this connection travels with each request.
                        let peer = tls::PeerCertificate(
                            stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| Arc::new(c.to_vec())),
                        );
                        let svc = tower::ServiceExt::map_request(
                            app,
                            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                                req.extensions_mut().insert(peer.clone());
                                req.extensions_mut().insert(peer_addr);
                                req
                            },
                        );
                        let svc = hyper_util::service::TowerToHyperService::new(svc);
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = watcher.watch(builder().serve_connection(io, svc)).await;
                    }
                }
            });
        }
        // Draining: the listener closes (new connections are refused), the open ones finish what they are
        // answering and close.
        drop(self.listener);
        let open = graceful.count();
        tracing::info!("stopping: draining {open} open connections");
        match tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await {
            Ok(()) => tracing::info!("stopped: every connection drained"),
            Err(_) => tracing::warn!(
                "stopped: connections still open after {} s were cut",
                DRAIN_TIMEOUT.as_secs()
            ),
        }
        Ok(())
    }
}

/// How long a stopping provider waits for its open connections to finish (below the 30 s a process manager
/// such as Kubernetes or systemd commonly allows between SIGTERM and SIGKILL).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// The next connection and its slot; `None` after a failed accept (logged, and retried after a pause).
async fn accept(
    listener: &tokio::net::TcpListener,
    slots: &Arc<tokio::sync::Semaphore>,
) -> Option<(
    tokio::net::TcpStream,
    SocketAddr,
    tokio::sync::OwnedSemaphorePermit,
)> {
    let slot = slots.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, addr)) => Some((stream, addr, slot)),
        Err(e) => {
            tracing::warn!("accept: {e}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// Completes at the first SIGTERM or SIGINT (Ctrl-C): what [`Running::run_until`] stops on in the provider
/// binary; a second one exits the process at once (status 1). If the handlers cannot be installed it never
/// completes (and the signals keep their default).
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot handle SIGTERM/SIGINT: stopping will not drain");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
    // A second signal while draining (Ctrl-C twice) stops at once.
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second signal: stopping without draining");
        std::process::exit(1);
    });
}

/// Aborts its tasks when dropped.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}
