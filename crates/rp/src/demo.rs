//! A demo web relying party: a page with a login button per configured issuer (the account-selector model of
//! seed 002), a "Create an account with a passkey" form when the client has a signing key (a signed
//! registration request, seed 000), and, after login, the user's verified ID token claims and UserInfo, and a
//! "sensitive action" that demands a step-up first (seed 003: `/Factor/Authenticate`, then the `auth_token`
//! validated for this user, these factors, a short window, once). For trying a provider in a browser; it keeps
//! sessions in memory (bounded) and is not meant to be deployed.
//!
//! Must not: write a value into a page unescaped, or accept a cross-origin login post or a callback without its
//! browser's pending login.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::{
    AuthOptions, Callback, ClientAuth, InMemoryReplayGuard, LoginSession, RelyingParty,
    StepUpPolicy, random_token,
};

/// The longest account identifier the demo's registration form takes.
pub const MAX_ACCOUNT: usize = 64;

/// The most sessions kept; the oldest go first.
pub const MAX_SESSIONS: usize = 10_000;
const SESSION_TTL: Duration = Duration::from_secs(3600);
const COOKIE: &str = "portcullis_rp";

/// A signed-in user: issuer, verified ID token claims, UserInfo.
type SignedIn = (String, Map<String, Value>, Option<Map<String, Value>>);

#[derive(Default)]
struct DemoSession {
    pending: Option<LoginSession>,
    user: Option<SignedIn>,
    created: Option<Instant>,
    step_up: Option<crate::PendingStepUp>,
}

struct Demo {
    rp: Arc<RelyingParty>,
    options: AuthOptions,
    sessions: Mutex<HashMap<String, DemoSession>>,
    step_up: StepUpPolicy,
    used_tokens: InMemoryReplayGuard,
    /// An identity-provider selector's URL (`/select-accounts` of a Portcullis provider), when offered.
    selector: Option<String>,
}

/// The step-up the demo's sensitive action demands unless told otherwise: an authenticator-app code, at most two
/// minutes ago.
pub fn default_step_up() -> StepUpPolicy {
    StepUpPolicy::new(&[crate::Factor::MobileApp], Some(120))
}

/// Builds the demo RP's router. `options` are used for every login (response type, mode, extra scope).
pub fn router(rp: Arc<RelyingParty>, options: AuthOptions) -> Router {
    router_with_step_up(rp, options, default_step_up())
}

/// [`router`], with the step-up its sensitive action demands.
pub fn router_with_step_up(
    rp: Arc<RelyingParty>,
    options: AuthOptions,
    step_up: StepUpPolicy,
) -> Router {
    router_with(rp, options, step_up, None)
}

/// [`router`], with an identity-provider selector (seed 002): the page links to `selector` (a Portcullis
/// provider's `/select-accounts`) with this client's id and a visitor id kept in a cookie, and the selector's
/// answer comes back to `/initiate` (register `http://127.0.0.1:PORT/initiate` as the client's
/// `initiate_login_uri`).
pub fn router_with_selector(rp: Arc<RelyingParty>, options: AuthOptions, selector: &str) -> Router {
    router_with(rp, options, default_step_up(), Some(selector.to_owned()))
}

fn router_with(
    rp: Arc<RelyingParty>,
    options: AuthOptions,
    step_up: StepUpPolicy,
    selector: Option<String>,
) -> Router {
    let state = Arc::new(Demo {
        rp,
        options,
        sessions: Mutex::new(HashMap::new()),
        step_up,
        used_tokens: InMemoryReplayGuard::default(),
        selector,
    });
    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/register", post(register))
        .route("/logout", post(logout))
        .route("/choose", get(choose))
        .route("/initiate", get(initiate))
        .route("/sensitive", post(sensitive))
        .route("/callback", get(callback_get).post(callback_post))
        .route("/callback.js", get(script))
        .layer(DefaultBodyLimit::max(portcullis_oidc::MAX_FORM_LEN))
        .with_state(state)
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self' http: https:; base-uri 'none'; frame-ancestors 'none'";

fn headers() -> [(HeaderName, &'static str); 5] {
    [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
        // Not `no-referrer`: browsers then send `Origin: null` on our own form posts, and the login-CSRF check
        // below needs the real origin. `same-origin` still sends nothing to other sites.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
    ]
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{}</title></head><body>\
         <h1>{}</h1>{body}</body></html>",
        escape(title),
        escape(title)
    )
}

fn session_id(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_owned)
        })
        .find(|v| v.len() == 43)
}

fn cookie(sid: &str) -> String {
    format!("{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax")
}

fn error_page(status: StatusCode, reason: &str) -> Response {
    (
        status,
        headers(),
        page(
            "Login failed",
            &format!(
                "<p id=error>{}</p><p><a href=\"/\">Back</a></p>",
                escape(reason)
            ),
        ),
    )
        .into_response()
}

/// Refuses cross-origin form posts (login CSRF): an `Origin` header, when sent, must be our own host.
fn same_origin(h: &HeaderMap) -> bool {
    match (
        h.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        h.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (None, _) => true,
        (Some(origin), Some(host)) => {
            origin == format!("http://{host}") || origin == format!("https://{host}")
        }
        (Some(_), None) => false,
    }
}

async fn home(State(d): State<Arc<Demo>>, h: HeaderMap) -> Response {
    let sessions = d.sessions.lock().await;
    let user = session_id(&h)
        .and_then(|sid| sessions.get(&sid))
        .and_then(|s| s.user.clone());
    drop(sessions);
    let body = match user {
        Some((issuer, claims, userinfo)) => {
            let who = claims
                .get("name")
                .or_else(|| userinfo.as_ref().and_then(|u| u.get("name")))
                .and_then(Value::as_str)
                .or_else(|| claims.get("sub").and_then(Value::as_str))
                .unwrap_or("");
            let pretty = |m: &Map<String, Value>| {
                escape(&serde_json::to_string_pretty(m).unwrap_or_default())
            };
            format!(
                "<p id=user>Signed in as <strong>{}</strong> at {}</p>\
                 <h2>Verified ID token claims</h2><pre id=claims>{}</pre>\
                 <h2>UserInfo</h2><pre id=userinfo>{}</pre>\
                 <p><a id=account href=\"{}/account\">Your passkeys (your account at the provider)</a></p>\
                 <form method=post action=\"/sensitive\"><button type=submit id=sensitive>Sensitive action \
                 (asks you to confirm it's you)</button></form>\
                 <form method=post action=\"/logout\"><button type=submit>Sign out</button></form>",
                escape(who),
                escape(&issuer),
                pretty(&claims),
                userinfo
                    .as_ref()
                    .map(pretty)
                    .unwrap_or_else(|| "(none)".into()),
                escape(&issuer),
            )
        }
        None => {
            let mut s = String::from("<p>Not signed in.</p>");
            if d.selector.is_some() {
                s.push_str("<p><a id=choose href=\"/choose\">Choose how to sign in</a></p>");
            }
            for issuer in &d.rp.config().issuers {
                s.push_str(&format!(
                    "<form method=post action=\"/login\"><input type=hidden name=issuer value=\"{}\">\
                     <button type=submit id=login>Sign in with {}</button></form>",
                    escape(issuer),
                    escape(issuer)
                ));
            }
            // Registration is started by the relying party's backend, which signs the request: only a
            // client with a key can.
            if matches!(d.rp.config().auth, ClientAuth::PrivateKeyJwt(_)) {
                for issuer in &d.rp.config().issuers {
                    s.push_str(&format!(
                        "<form method=post action=\"/register\"><input type=hidden name=issuer value=\"{}\">\
                         <label>Your e-mail or username here <input name=account id=account required \
                         maxlength={MAX_ACCOUNT}></label> \
                         <button type=submit id=register>Create an account with a passkey</button></form>",
                        escape(issuer)
                    ));
                }
            }
            s
        }
    };
    (headers(), page("Portcullis demo RP", &body)).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    issuer: String,
}

async fn login(State(d): State<Arc<Demo>>, h: HeaderMap, Form(f): Form<LoginForm>) -> Response {
    start(&d, &h, &f.issuer, &d.options).await
}

#[derive(Deserialize)]
struct RegisterForm {
    issuer: String,
    account: String,
}

/// "Create an account with a passkey": a registration request (prompt=create) for the identifier typed,
/// signed with the client's key.
async fn register(
    State(d): State<Arc<Demo>>,
    h: HeaderMap,
    Form(f): Form<RegisterForm>,
) -> Response {
    let account = f.account.trim();
    if account.is_empty()
        || account.chars().count() > MAX_ACCOUNT
        || account.chars().any(char::is_control)
    {
        return error_page(
            StatusCode::BAD_REQUEST,
            "an account identifier is 1 to 64 characters",
        );
    }
    let registration = AuthOptions::registration(account);
    let options = AuthOptions {
        prompt: registration.prompt,
        login_hint: registration.login_hint,
        request_object: true,
        ..d.options.clone()
    };
    start(&d, &h, &f.issuer, &options).await
}

const VISITOR: &str = "portcullis_rp_visitor";

/// "Choose how to sign in": to the selector, with this client's id and the browser's visitor id (a random
/// value kept in a cookie: the selector remembers the choice under it).
async fn choose(State(d): State<Arc<Demo>>, h: HeaderMap) -> Response {
    let Some(selector) = &d.selector else {
        return error_page(StatusCode::NOT_FOUND, "no selector configured");
    };
    let visitor = h
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{VISITOR}="))
                .map(str::to_owned)
        })
        .filter(|v| v.len() == 43)
        .unwrap_or_else(random_token);
    let mut url = match url::Url::parse(selector) {
        Ok(u) => u,
        Err(_) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "selector URL"),
    };
    url.query_pairs_mut()
        .append_pair("client_id", &d.rp.config().client_id)
        .append_pair("visitor_id", &visitor);
    let cookie = format!("{VISITOR}={visitor}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000");
    ([(header::SET_COOKIE, cookie)], Redirect::to(url.as_str())).into_response()
}

/// The selector's answer (third-party initiated login, OIDC Core §4): the login starts at the chosen `iss`, if
/// configured, with JARM; the callback then accepts only that issuer's answer.
async fn initiate(State(d): State<Arc<Demo>>, h: HeaderMap, RawQuery(q): RawQuery) -> Response {
    match d
        .rp
        .begin_initiated(q.as_deref().unwrap_or(""), &d.options)
        .await
    {
        Ok((url, pending, _)) => {
            // Any site can send a browser here: a signed-in user stays signed in until the new login completes
            // (the login waits in the session; the callback moves it to a fresh id).
            let sid = session_id(&h);
            let mut sessions = d.sessions.lock().await;
            if let Some(s) = sid.as_ref().and_then(|sid| sessions.get_mut(sid))
                && s.user.is_some()
            {
                s.pending = Some(pending);
                return Redirect::to(&url).into_response();
            }
            drop(sessions);
            keep(&d, &h, url, pending).await
        }
        Err(e) => error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// Begins a login with `options` and sends the browser to the provider.
async fn start(d: &Demo, h: &HeaderMap, issuer: &str, options: &AuthOptions) -> Response {
    if !same_origin(h) {
        return error_page(StatusCode::FORBIDDEN, "cross-origin login request refused");
    }
    let (url, pending) = match d.rp.begin(issuer, options).await {
        Ok(x) => x,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    keep(d, h, url, pending).await
}

/// Keeps a begun login under a fresh session id and sends the browser to the provider.
async fn keep(d: &Demo, h: &HeaderMap, url: String, pending: LoginSession) -> Response {
    // A fresh session id for every login: an id the browser brought (perhaps planted by someone else: session
    // fixation) is dropped, never reused.
    let sid = random_token();
    let mut sessions = d.sessions.lock().await;
    if let Some(old) = session_id(h) {
        sessions.remove(&old);
    }
    sessions.retain(|_, s| s.created.is_some_and(|c| c.elapsed() < SESSION_TTL));
    if sessions.len() >= MAX_SESSIONS
        && let Some(oldest) = sessions
            .iter()
            .min_by_key(|(_, s)| s.created)
            .map(|(k, _)| k.clone())
    {
        sessions.remove(&oldest);
    }
    let s = sessions.entry(sid.clone()).or_default();
    s.pending = Some(pending);
    s.created = Some(Instant::now());
    drop(sessions);
    ([(header::SET_COOKIE, cookie(&sid))], Redirect::to(&url)).into_response()
}

async fn logout(State(d): State<Arc<Demo>>, h: HeaderMap) -> Response {
    if let Some(sid) = session_id(&h) {
        d.sessions.lock().await.remove(&sid);
    }
    Redirect::to("/").into_response()
}

async fn finish(d: &Demo, h: &HeaderMap, encoded: &str) -> Response {
    let Some(sid) = session_id(h) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "no login in progress (cookie missing)",
        );
    };
    let pending = d
        .sessions
        .lock()
        .await
        .get_mut(&sid)
        .and_then(|s| s.pending.take());
    let Some(pending) = pending else {
        return error_page(StatusCode::BAD_REQUEST, "no login in progress");
    };
    let cb = match Callback::parse(encoded) {
        Ok(cb) => cb,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let login = match d.rp.complete(&pending, &cb).await {
        Ok(l) => l,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let userinfo = if login.access_token.is_some()
        && d.rp
            .provider(&pending.issuer)
            .await
            .is_ok_and(|p| p.metadata.userinfo_endpoint.is_some())
    {
        match d.rp.userinfo(&pending.issuer, &login).await {
            Ok(u) => Some(u),
            Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    } else {
        None
    };
    // Signed in: the session moves to yet another fresh id (the id changes whenever privilege does).
    let fresh = random_token();
    let mut sessions = d.sessions.lock().await;
    let Some(mut session) = sessions.remove(&sid) else {
        return error_page(StatusCode::BAD_REQUEST, "no login in progress");
    };
    session.user = Some((pending.issuer.clone(), login.claims(), userinfo));
    session.created = Some(Instant::now());
    sessions.insert(fresh.clone(), session);
    drop(sessions);
    ([(header::SET_COOKIE, cookie(&fresh))], Redirect::to("/")).into_response()
}

/// The marker a step-up's return to the callback carries (the callback URL's own parameter, kept by the
/// provider), so it is told apart from a login's answer.
const STEP_UP_MARK: &str = "stepup=sensitive";

/// "Sensitive action": the browser goes to the provider's `/Factor/Authenticate` for the demo's factors, back
/// to the registered callback (with the demo's own marker).
async fn sensitive(State(d): State<Arc<Demo>>, h: HeaderMap) -> Response {
    if !same_origin(&h) {
        return error_page(StatusCode::FORBIDDEN, "cross-origin request refused");
    }
    let sid = session_id(&h);
    let user = {
        let sessions = d.sessions.lock().await;
        sid.as_ref()
            .and_then(|sid| sessions.get(sid))
            .and_then(|s| s.user.clone())
    };
    let (Some(sid), Some((issuer, _, _))) = (sid, user) else {
        return error_page(StatusCode::UNAUTHORIZED, "sign in first");
    };
    let back = format!("{}?{STEP_UP_MARK}", d.rp.config().redirect_uri);
    match d.rp.factor_url(&issuer, &back, &d.step_up.factors).await {
        Ok((url, pending)) => {
            // Kept with this session: only the step-up this session started completes the action.
            if let Some(s) = d.sessions.lock().await.get_mut(&sid) {
                s.step_up = Some(pending);
            }
            Redirect::to(&url).into_response()
        }
        Err(e) => error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// The step-up's return: the `auth_token` validated for the step-up this session started (`nonce`) and its
/// signed-in user (`sub`), the demo's factors and window, once; then the sensitive action "happens".
async fn stepped_up(d: &Demo, h: &HeaderMap, query: &str) -> Response {
    // The step-up this session started, taken (used once).
    let (user, pending) = {
        let mut sessions = d.sessions.lock().await;
        match session_id(h).and_then(|sid| sessions.get_mut(&sid)) {
            Some(s) => (s.user.clone(), s.step_up.take()),
            None => (None, None),
        }
    };
    let Some((issuer, claims, _)) = user else {
        return error_page(StatusCode::UNAUTHORIZED, "sign in first");
    };
    let Some(pending) = pending else {
        return error_page(StatusCode::BAD_REQUEST, "no step-up in progress");
    };
    let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if let Some(e) = params.get("error") {
        return error_page(
            StatusCode::FORBIDDEN,
            &format!("step-up not completed: {e}"),
        );
    }
    let Some(token) = params.get("auth_token") else {
        return error_page(StatusCode::BAD_REQUEST, "no auth_token");
    };
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let verified =
        d.rp.verify_auth_token(&issuer, token, &d.step_up, (&pending, sub), &d.used_tokens)
            .await;
    let factor = match verified {
        Ok(c) => c,
        Err(e) => return error_page(StatusCode::FORBIDDEN, &e.to_string()),
    };
    let passed: Vec<&str> = factor.auth_factor.iter().map(|f| f.key()).collect();
    let body = format!(
        "<p id=done>Sensitive action done: you confirmed it with {}.</p><p><a href=\"/\">Back</a></p>",
        escape(&passed.join(", "))
    );
    (headers(), page("Sensitive action", &body)).into_response()
}

async fn callback_get(State(d): State<Arc<Demo>>, h: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Some(q) = q.as_deref()
        && (q == STEP_UP_MARK || q.starts_with(&format!("{STEP_UP_MARK}&")))
    {
        return stepped_up(&d, &h, q).await;
    }
    match q.filter(|q| !q.is_empty()) {
        Some(q) => finish(&d, &h, &q).await,
        // A fragment response: the script posts it back.
        None => (
            headers(),
            "<!doctype html><meta charset=utf-8><title>Completing login</title><p>Completing login…</p>\
             <script src=\"/callback.js\"></script>",
        )
            .into_response(),
    }
}

async fn callback_post(State(d): State<Arc<Demo>>, h: HeaderMap, body: String) -> Response {
    // Our fragment script posts here. A `form_post` response from the provider would be a cross-site POST, which
    // does not carry this demo's SameSite=Lax cookie: the demo supports the query and fragment modes (and their
    // JARM variants); `portcullis-client login` supports form_post too.
    finish(&d, &h, &body).await
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        "(function(){var f=location.hash.slice(1);history.replaceState(null,'',location.pathname);\
         var x=new XMLHttpRequest();x.open('POST','/callback');\
         x.setRequestHeader('content-type','application/x-www-form-urlencoded');\
         x.onload=function(){location.replace('/');};x.send(f);})();",
    )
}
