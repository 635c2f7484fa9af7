//! An example authenticating website for the Portcullis login bridge (`docs/federation.md`): a site with its own
//! small user table and password form, that lets the provider issue identities for its users.
//!
//! - `GET /verify`: where the provider sends the browser. The request is remembered; a user already signed in
//!   here (and no `prompt=login`) sees nothing at all, anyone else the password form.
//! - `POST /login`: the password form (with a CSRF token, double-submitted in a cookie). On success the site
//!   posts the answer to the provider's postback URL (with its API key) and, once the provider said 200, sends
//!   the browser to the return URL with the one-time `code` the provider answered with: only this browser, the
//!   one the site signed in, can complete the sign-in.
//!
//! The postback and return URLs are the site's own configuration ([`Site::provider`]): a forged verify link must
//! not make the site post its users' data, or its API key, elsewhere. The requests it remembers are bounded
//! ([`MAX_PENDING`]).
//!
//! Must not: be taken for a production login (the users live in memory; it shows the protocol, not a product).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// A user of the site.
pub struct User {
    /// Login name, also the identifier the provider sees.
    pub username: String,
    /// Argon2 hash of the password.
    password_hash: String,
    /// What the site knows of the user, released as claims when asked for.
    pub claims: Map<String, Value>,
}

impl User {
    /// A user with `password` (hashed here) and `claims`.
    pub fn new(username: &str, password: &str, claims: Value) -> User {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("salt");
        let password_hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .expect("hash")
            .to_string();
        User {
            username: username.into(),
            password_hash,
            claims: claims.as_object().cloned().unwrap_or_default(),
        }
    }
}

/// The site's configuration.
pub struct Site {
    /// The provider's issuer URL: the postback and return URLs are `{provider}/bridge/postback` and
    /// `{provider}/bridge/return`.
    pub provider: String,
    /// The API key the provider gave this site.
    pub api_key: String,
    /// Whether to ask the provider to skip its consent page (honoured only if the provider trusts the site).
    pub no_prompt: bool,
    /// The users.
    pub users: Vec<User>,
}

/// The most provider requests remembered at once (the oldest are forgotten first).
pub const MAX_PENDING: usize = 10_000;

/// A request from the provider, remembered between the verify page and the login form.
#[derive(Clone)]
struct Pending {
    claims: Vec<String>,
}

#[derive(Default)]
struct Memory {
    /// The provider's requests by request id.
    pending: HashMap<String, Pending>,
    /// Their ids, oldest first.
    order: std::collections::VecDeque<String>,
    /// The site's own sessions: cookie value → username.
    sessions: HashMap<String, String>,
}

struct App {
    site: Site,
    memory: Mutex<Memory>,
    http: reqwest::Client,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).expect("random");
    b
}

fn token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The site's routes.
pub fn router(site: Site) -> Router {
    let app = Arc::new(App {
        site,
        memory: Mutex::new(Memory::default()),
        http: reqwest::Client::new(),
    });
    Router::new()
        .route("/verify", get(verify))
        .route("/login", post(login))
        .with_state(app)
}

#[derive(Deserialize)]
struct VerifyQuery {
    request_id: String,
    #[serde(default)]
    claims: String,
    #[serde(default)]
    client_name: String,
    #[serde(default)]
    prompt: String,
}

fn signed_in_user(app: &App, headers: &HeaderMap) -> Option<String> {
    let value = cookie(headers, "site_session")?;
    app.memory.lock().ok()?.sessions.get(value).cloned()
}

async fn verify(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<VerifyQuery>,
) -> Response {
    let pending = Pending {
        claims: q.claims.split(' ').map(str::to_owned).collect(),
    };
    if q.request_id.len() > 128 {
        return (StatusCode::BAD_REQUEST, "malformed request").into_response();
    }
    if let Ok(mut m) = app.memory.lock() {
        if m.pending
            .insert(q.request_id.clone(), pending.clone())
            .is_none()
        {
            m.order.push_back(q.request_id.clone());
        }
        while m.order.len() > MAX_PENDING {
            if let Some(old) = m.order.pop_front() {
                m.pending.remove(&old);
            }
        }
    }
    // Already signed in here, and no fresh sign-in asked for: no UI at all. (The provider completes the sign-in
    // only in this browser, which gets the code.)
    if let Some(user) = signed_in_user(&app, &headers).filter(|_| q.prompt != "login") {
        return vouch(&app, &q.request_id, &user, &pending, None).await;
    }
    form(&q.request_id, &q.client_name, None)
}

/// The login form, with a fresh CSRF token in a hidden field and a cookie.
fn form(request_id: &str, client_name: &str, error: Option<&str>) -> Response {
    let csrf = token();
    let error = error
        .map(|e| format!("<p role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let mut page = Html(format!(
        "<!doctype html><title>Example Shop: sign in</title><h1>Sign in to Example Shop</h1>\
         <p>{} asks who you are.</p>{error}<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"request_id\" value=\"{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Username <input name=\"username\" id=\"username\" autocomplete=\"username\"></label>\
         <label>Password <input name=\"password\" id=\"password\" type=\"password\"></label>\
         <button type=\"submit\" id=\"shop-signin\">Sign in</button></form>",
        escape(if client_name.is_empty() { "An application" } else { client_name }),
        escape(request_id),
    ))
    .into_response();
    let cookie = format!("site_csrf={csrf}; Path=/; HttpOnly; SameSite=Strict");
    if let Ok(v) = cookie.parse() {
        page.headers_mut().insert(header::SET_COOKIE, v);
    }
    page
}

#[derive(Deserialize)]
struct LoginForm {
    request_id: String,
    csrf: String,
    username: String,
    password: String,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(header::COOKIE)?
        .to_str()
        .ok()?
        .split(';')
        .find_map(|c| c.trim().strip_prefix(name)?.strip_prefix('='))
}

async fn login(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    // Login CSRF: the form must come from this site's own page in this browser.
    if f.csrf.is_empty() || cookie(&headers, "site_csrf") != Some(f.csrf.as_str()) {
        return (StatusCode::FORBIDDEN, "start again from the application").into_response();
    }
    let pending = app
        .memory
        .lock()
        .ok()
        .and_then(|m| m.pending.get(&f.request_id).cloned());
    let Some(pending) = pending else {
        return (StatusCode::BAD_REQUEST, "unknown request; start again").into_response();
    };
    let ok = app.site.users.iter().any(|u| {
        u.username == f.username
            && PasswordHash::new(&u.password_hash).is_ok_and(|h| {
                Argon2::default()
                    .verify_password(f.password.as_bytes(), &h)
                    .is_ok()
            })
    });
    if !ok {
        return form(&f.request_id, "", Some("Wrong username or password."));
    }
    let session = token();
    if let Ok(mut m) = app.memory.lock() {
        m.sessions.insert(session.clone(), f.username.clone());
    }
    vouch(&app, &f.request_id, &f.username, &pending, Some(session)).await
}

/// Posts the answer to the provider; on 200 sends the browser to the return URL.
async fn vouch(
    app: &App,
    request_id: &str,
    username: &str,
    pending: &Pending,
    new_session: Option<String>,
) -> Response {
    let Some(user) = app.site.users.iter().find(|u| u.username == username) else {
        return (StatusCode::BAD_REQUEST, "unknown user").into_response();
    };
    let claims: Map<String, Value> = user
        .claims
        .iter()
        .filter(|(k, _)| pending.claims.iter().any(|c| c == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body = json!({
        "request_id": request_id,
        "identifier": user.username,
        "no_prompt": app.site.no_prompt,
        "claims": claims,
    });
    let answer = app
        .http
        .post(format!("{}/bridge/postback", app.site.provider))
        .bearer_auth(&app.site.api_key)
        .json(&body)
        .send()
        .await;
    let code = match answer {
        Ok(r) if r.status() == StatusCode::OK => r
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v.get("return_code")?.as_str().map(str::to_owned)),
        _ => None,
    };
    match code {
        Some(code) => {
            if let Ok(mut m) = app.memory.lock() {
                m.pending.remove(request_id);
            }
            let mut to = url::Url::parse(&format!("{}/bridge/return", app.site.provider))
                .expect("provider URL");
            to.query_pairs_mut()
                .append_pair("request_id", request_id)
                .append_pair("code", &code);
            let mut resp = Redirect::to(to.as_str()).into_response();
            if let Some(s) = new_session {
                let cookie = format!("site_session={s}; Path=/; HttpOnly; SameSite=Lax");
                if let Ok(v) = cookie.parse() {
                    resp.headers_mut().insert(header::SET_COOKIE, v);
                }
            }
            resp
        }
        // The provider refused (its text says why, for the log); the user is only told it did not complete.
        None => (
            StatusCode::BAD_GATEWAY,
            Html("<p>The sign-in did not complete. Go back to the application and try again.</p>"),
        )
            .into_response(),
    }
}
