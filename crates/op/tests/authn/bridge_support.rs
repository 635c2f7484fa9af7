//! The login bridge under test: a provider offering the password and the bridge, with one site (`shop`) in its
//! configuration, and the example authenticating website (`examples/bridge-site`) serving that site on another
//! loopback port. Helpers send a browser out to the site, sign in there, and post answers by hand.
//!
//! Must not: decide whether an answer is right (the tests do).

use portcullis_bridge_site::{Site, User};
use portcullis_op::authn::{BridgeLogin, Methods, PasswordLogin};
use portcullis_op::bridge_sites::SiteConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

/// The site's API key.
pub const SITE_KEY: &str = "shop-api-key-3c9f1b7e2d4a6c8e0f1a3b5c7d9e";
/// The site's user.
pub const SHOPPER: &str = "shopper";
/// Their password at the site.
pub const SHOPPER_PASSWORD: &str = "shopper-password";

pub struct Bridge {
    pub op: Op,
    pub site_base: String,
    /// The return code of each request's last accepted postback made by hand.
    codes: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// The site's HTTP client (no redirects followed; its cookies handled by hand).
    pub site_http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn key_hash(key: &str) -> String {
    portcullis_op::hash(key)
}

impl Bridge {
    /// A provider trusting the site or not, and the site asking for `no_prompt` or not.
    pub async fn start(trusted: bool, no_prompt: bool) -> Bridge {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let site_base = format!("http://{}", listener.local_addr().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let cfg = portcullis_op::Config {
            bridge_sites: vec![SiteConfig {
                id: "shop".into(),
                name: "Example Shop".into(),
                verify_url: format!("{site_base}/verify"),
                home_url: None,
                api_key_sha256: key_hash(SITE_KEY),
                trusted,
                signing_key: None,
                claims: Vec::new(),
                trust_verified: true,
            }],
            ..config(dir.path(), free_port(), None)
        };
        let methods = Methods::new(vec![
            Box::new(PasswordLogin),
            Box::new(BridgeLogin::default()),
        ])
        .unwrap();
        let op = Op::start_methods(cfg, dir, methods).await;
        let site = Site {
            provider: op.base.clone(),
            api_key: SITE_KEY.into(),
            no_prompt,
            users: vec![User::new(
                SHOPPER,
                SHOPPER_PASSWORD,
                json!({"name": "Sam Shopper", "email": "sam@shop.example", "email_verified": true,
                       "phone_number": "+1 555 0100"}),
            )],
        };
        let task = tokio::spawn(async move {
            axum::serve(listener, portcullis_bridge_site::router(site))
                .await
                .unwrap();
        });
        Bridge {
            op,
            site_base,
            codes: Default::default(),
            site_http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            task,
        }
    }

    /// The RP's request reaches the login page, whose bridge button sends the browser out: the verify URL.
    pub async fn send_out(&self, b: &mut Browser, req: &AuthReq) -> String {
        self.send_out_to(b, req, "shop").await
    }

    /// [`send_out`](Self::send_out), to site `site`.
    pub async fn send_out_to(&self, b: &mut Browser, req: &AuthReq, site: &str) -> String {
        let Step::Login(page) = b.authorize(&self.op, &req.query()).await else {
            panic!("the login page")
        };
        assert!(page.contains("formaction=\"/bridge/start\""), "{page}");
        match b
            .submit(&self.op, &page, "/bridge/start", &[("site", site)])
            .await
        {
            Step::Redirect(to) => to,
            other => panic!("expected the site, got {other:?}"),
        }
    }

    /// At the site: the verify page, then the password form (with its CSRF token and cookie). The site's answer
    /// (with its session cookie, if it set one).
    pub async fn sign_in_at_site(&self, verify_url: &str, password: &str) -> reqwest::Response {
        let page = self.site_http.get(verify_url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let csrf_cookie = page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let page = page.text().await.unwrap();
        let request_id = hidden(&page, "request_id").expect("the site's form");
        let csrf = hidden(&page, "csrf").expect("the site's CSRF token");
        self.site_http
            .post(format!("{}/login", self.site_base))
            .header("cookie", csrf_cookie)
            .form(&[
                ("request_id", request_id.as_str()),
                ("csrf", csrf.as_str()),
                ("username", SHOPPER),
                ("password", password),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Sends the browser out, signs in at the site and follows the site back: the provider's next step.
    pub async fn round_trip(&self, b: &mut Browser, req: &AuthReq) -> Step {
        let verify = self.send_out(b, req).await;
        let back = self.sign_in_at_site(&verify, SHOPPER_PASSWORD).await;
        assert_eq!(back.status(), StatusCode::SEE_OTHER);
        let to = back.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            to.starts_with(&format!("{}/bridge/return?", self.op.base)),
            "{to}"
        );
        b.follow(&self.op, &to).await
    }

    /// Posts an answer by hand with `key` (none: no `Authorization`).
    pub async fn postback(&self, key: Option<&str>, body: &Value) -> (StatusCode, String) {
        self.postback_raw(key, "application/json", body.to_string())
            .await
    }

    pub async fn postback_raw(
        &self,
        key: Option<&str>,
        content_type: &str,
        body: String,
    ) -> (StatusCode, String) {
        // The request id the answer is for (inside the JWS, for a signed one).
        let request_id = serde_json::from_str::<Value>(&body)
            .ok()
            .or_else(|| {
                let payload = portcullis_jose::jws::decode_unverified(&body).ok()?.payload;
                serde_json::from_slice(&payload).ok()
            })
            .and_then(|v| v["request_id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut r = self
            .op
            .http
            .post(self.op.url("/bridge/postback"))
            .header("content-type", content_type)
            .body(body);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        let r = r.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        if status == StatusCode::OK {
            let v: Value = serde_json::from_str(&text).expect("a JSON answer");
            let code = v["return_code"].as_str().expect("a return code").to_owned();
            self.codes.lock().unwrap().insert(request_id, code);
        }
        (status, text)
    }

    /// The return URL of `request_id`, with the code of its last accepted postback made by hand, if any.
    pub fn return_url(&self, request_id: &str) -> String {
        match self.codes.lock().unwrap().get(request_id) {
            Some(code) => format!(
                "{}/bridge/return?request_id={request_id}&code={code}",
                self.op.base
            ),
            None => self.return_url_without_code(request_id),
        }
    }

    /// The return URL of `request_id` without a code (as whoever started the request could make it).
    pub fn return_url_without_code(&self, request_id: &str) -> String {
        format!("{}/bridge/return?request_id={request_id}", self.op.base)
    }

    /// Makes a request expire (as if its time had passed).
    pub async fn expire(&self, request_id: &str) {
        let pool = sqlx::SqlitePool::connect(&self.op.provider.cfg.database_url())
            .await
            .unwrap();
        sqlx::query("UPDATE bridge_requests SET expires_at = 1 WHERE id = $1")
            .bind(request_id)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

/// A well-formed answer for `request_id`.
pub fn answer(request_id: &str, identifier: &str, claims: Value) -> Value {
    json!({"request_id": request_id, "identifier": identifier, "no_prompt": false, "claims": claims})
}

/// The request id in a verify URL.
pub fn request_id(verify_url: &str) -> String {
    params_of(verify_url)["request_id"].clone()
}
