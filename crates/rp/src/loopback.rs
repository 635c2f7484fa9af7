//! The loopback redirect listener of native apps (RFC 8252 §7.3): listens on `127.0.0.1`, takes exactly one
//! callback, and stops. Query and `form_post` responses arrive directly; for fragment responses the page posts
//! the fragment back with a same-origin script (no inline script, so the page's CSP stays strict).
//!
//! Must not: listen beyond `127.0.0.1` or take more than one callback, or judge the callback (`RelyingParty::complete`
//! does).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::Callback;

/// Why no callback was received.
#[derive(Debug, thiserror::Error)]
pub enum LoopbackError {
    /// The port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port.
        port: u16,
        /// The cause.
        source: std::io::Error,
    },
    /// Nothing arrived in time.
    #[error("no callback within {0:?}")]
    Timeout(Duration),
    /// The callback's parameters were malformed (duplicates, too long, bad encoding).
    #[error("malformed callback: {0}")]
    Malformed(portcullis_oidc::OidcError),
}

type Slot = Arc<Mutex<Option<oneshot::Sender<Result<Callback, LoopbackError>>>>>;

/// A bound loopback listener.
pub struct LoopbackListener {
    listener: TcpListener,
    addr: SocketAddr,
}

const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
];

const DONE_PAGE: &str = "<!doctype html><meta charset=utf-8><title>Signed in</title>\
<p>The login response reached the command line. You can close this window.</p>";

const FRAGMENT_PAGE: &str = "<!doctype html><meta charset=utf-8><title>Completing login</title>\
<p>Completing login…</p><script src=\"/callback.js\"></script>";

/// Posts the fragment back to the listener (fragments never reach a server otherwise).
const FRAGMENT_SCRIPT: &str = "(function(){var f=location.hash.slice(1);history.replaceState(null,'',location.pathname);\
fetch('/callback',{method:'POST',headers:{'content-type':'application/x-www-form-urlencoded'},body:f})\
.then(function(){document.body.textContent='The login response reached the command line. You can close this window.';});})();";

fn deliver(slot: &Slot, encoded: &str) -> impl IntoResponse + use<> {
    let cb = Callback::parse(encoded).map_err(LoopbackError::Malformed);
    let ok = cb.is_ok();
    if let Some(tx) = slot.lock().ok().and_then(|mut s| s.take()) {
        let _ = tx.send(cb);
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (
        status,
        SECURITY_HEADERS,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        DONE_PAGE,
    )
}

async fn callback_get(State(slot): State<Slot>, RawQuery(q): RawQuery) -> axum::response::Response {
    match q.filter(|q| !q.is_empty()) {
        Some(q) => deliver(&slot, &q).into_response(),
        None => (
            SECURITY_HEADERS,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            FRAGMENT_PAGE,
        )
            .into_response(),
    }
}

async fn callback_post(State(slot): State<Slot>, body: String) -> axum::response::Response {
    deliver(&slot, &body).into_response()
}

async fn script() -> impl IntoResponse {
    (
        SECURITY_HEADERS,
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        FRAGMENT_SCRIPT,
    )
}

impl LoopbackListener {
    /// Binds `127.0.0.1:port` (`0` picks a free port).
    pub async fn bind(port: u16) -> Result<LoopbackListener, LoopbackError> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| LoopbackError::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| LoopbackError::Bind { port, source })?;
        Ok(LoopbackListener { listener, addr })
    }

    /// The redirect URI to register and send: `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.addr.port())
    }

    /// Serves until one callback arrives (or `timeout`), then stops listening.
    pub async fn wait(self, timeout: Duration) -> Result<Callback, LoopbackError> {
        let (tx, rx) = oneshot::channel();
        let slot: Slot = Arc::new(Mutex::new(Some(tx)));
        let app = Router::new()
            .route("/callback", get(callback_get).post(callback_post))
            .route("/callback.js", get(script))
            .layer(DefaultBodyLimit::max(portcullis_oidc::MAX_FORM_LEN))
            .with_state(slot);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(self.listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await;
        });
        let result = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) | Err(_) => Err(LoopbackError::Timeout(timeout)),
        };
        // Let the browser receive its page, then stop.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = stop_tx.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        result
    }
}
