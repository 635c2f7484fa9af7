//! The loopback redirect listener of native apps (RFC 8252 §7.3): listens on `127.0.0.1`, takes exactly one
//! callback — the one carrying the `state` of the login in progress — and stops. Query and `form_post`
//! responses arrive directly; for fragment responses the page posts the fragment back with a same-origin script
//! (no inline script, so the page's CSP stays strict).
//!
//! Any other request to the callback (another `state`, none, a malformed query: a port scanner, another tab, a
//! local attacker) is answered 400 and ignored: the listener keeps waiting until its timeout, so a stray
//! request cannot abort the login.
//!
//! Must not: listen beyond `127.0.0.1`, take more than one callback or one with another `state`, or judge the
//! callback beyond routing it (`RelyingParty::complete` does).

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
}

/// Where the awaited callback goes, and the `state` it must carry.
#[derive(Clone)]
struct Slot {
    tx: Arc<Mutex<Option<oneshot::Sender<Callback>>>>,
    state: Arc<str>,
}

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

const STRAY_PAGE: &str = "<!doctype html><meta charset=utf-8><title>Not this login</title>\
<p>This response is not for the login in progress; it was ignored.</p>";

/// The `state` a callback carries: its `state` parameter, or for a JARM response the `state` claim of the
/// `response` JWT (read without verification, only to route it: `RelyingParty::complete` verifies it).
fn callback_state(cb: &Callback) -> Option<String> {
    if let Some(s) = cb.params().get("state") {
        return Some(s.to_owned());
    }
    let jwt = cb.params().get("response")?;
    let payload = portcullis_jose::jws::decode_unverified(jwt).ok()?.payload;
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&payload).ok()?;
    claims.get("state")?.as_str().map(str::to_owned)
}

fn deliver(slot: &Slot, encoded: &str) -> axum::response::Response {
    let page = |status, body| {
        (
            status,
            SECURITY_HEADERS,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response()
    };
    let Ok(cb) = Callback::parse(encoded) else {
        return page(StatusCode::BAD_REQUEST, STRAY_PAGE);
    };
    let ours = callback_state(&cb).is_some_and(|s| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            s.as_bytes(),
            slot.state.as_bytes(),
        ))
    });
    if !ours {
        return page(StatusCode::BAD_REQUEST, STRAY_PAGE);
    }
    if let Some(tx) = slot.tx.lock().ok().and_then(|mut s| s.take()) {
        let _ = tx.send(cb);
    }
    page(StatusCode::OK, DONE_PAGE)
}

async fn callback_get(State(slot): State<Slot>, RawQuery(q): RawQuery) -> axum::response::Response {
    match q.filter(|q| !q.is_empty()) {
        Some(q) => deliver(&slot, &q),
        None => (
            SECURITY_HEADERS,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            FRAGMENT_PAGE,
        )
            .into_response(),
    }
}

async fn callback_post(State(slot): State<Slot>, body: String) -> axum::response::Response {
    deliver(&slot, &body)
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

    /// Serves until the callback carrying `state` (the login's, [`crate::LoginSession::state`]) arrives, or
    /// `timeout`; then stops listening. Other requests are answered 400 and ignored.
    pub async fn wait(self, timeout: Duration, state: &str) -> Result<Callback, LoopbackError> {
        let (tx, rx) = oneshot::channel();
        let slot = Slot {
            tx: Arc::new(Mutex::new(Some(tx))),
            state: Arc::from(state),
        };
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
            Ok(Ok(cb)) => Ok(cb),
            Ok(Err(_)) | Err(_) => Err(LoopbackError::Timeout(timeout)),
        };
        // Let the browser receive its page, then stop.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = stop_tx.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        result
    }
}
