//! What the step-up factor tests share: a provider offering the standard methods with e-mail going to a real
//! SMTP server on loopback that the test started and reads (`mailin-embedded`), SMS to the development outbox,
//! the factors enrolled directly in the store, and the browser steps of `/Factor/Authenticate`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use crate::common::*;
use mailin_embedded::response::OK;
use mailin_embedded::{Handler, Response, Server, SslConfig};
use portcullis_op::Config;
use portcullis_op::authn::factors::app;
use reqwest::StatusCode;

/// The callback registered for the step-up client.
pub const CALLBACK: &str = "https://app.example/Auth/Callback";

/// Every message the SMTP server received (the DATA of each).
#[derive(Clone, Default)]
pub struct Mailbox {
    pub mails: Arc<Mutex<Vec<String>>>,
    current: Arc<Mutex<Vec<u8>>>,
}

impl Handler for Mailbox {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        self.current.lock().unwrap().clear();
        OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.lock().unwrap().extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        let mail = String::from_utf8_lossy(&self.current.lock().unwrap()).into_owned();
        self.mails.lock().unwrap().push(mail);
        OK
    }
}

/// Starts an SMTP server on a free loopback port (a thread; it lives as long as the test process).
pub fn smtp_server() -> (u16, Mailbox) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mailbox = Mailbox::default();
    let mut server = Server::new(mailbox.clone());
    server
        .with_name("smtp.test")
        .with_ssl(SslConfig::None)
        .unwrap()
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, mailbox)
}

impl Mailbox {
    /// How many messages arrived.
    pub fn count(&self) -> usize {
        self.mails.lock().unwrap().len()
    }

    /// The code in the newest message to `to` (waits up to 5 s for it).
    pub async fn code_for(&self, to: &str) -> String {
        for _ in 0..100 {
            if let Some(m) = self
                .mails
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|m| m.contains(&format!("To: {to}")))
            {
                return code_in(m);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no mail to {to}");
    }
}

/// The 6-digit code in a message ("Your code is 123456").
pub fn code_in(text: &str) -> String {
    let at = text.find("Your code is ").expect("a code") + "Your code is ".len();
    text[at..at + 6].to_owned()
}

/// A provider with the standard methods (password, the step-up factors), e-mail to a loopback SMTP server,
/// and a step-up client `app` whose callback is [`CALLBACK`].
pub async fn op_with_factors(f: impl FnOnce(Config) -> Config) -> (Op, Mailbox) {
    let (smtp, mailbox) = smtp_server();
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        smtp_url: Some(format!("smtp://127.0.0.1:{smtp}")),
        ..f(config(dir.path(), free_port(), None))
    };
    let methods = portcullis_op::standard_methods(&cfg).unwrap();
    let op = Op::start_methods(cfg, dir, methods).await;
    portcullis_op::admin::add_client(
        &op.provider.store,
        "app",
        &serde_json::json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none",
                            "client_name": "Shop", "subject_type": "pairwise"}),
    )
    .await
    .unwrap();
    (op, mailbox)
}

/// The id of `username`.
pub async fn user_id(op: &Op, username: &str) -> String {
    op.provider
        .store
        .user_by_name(username)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// Enrols an authenticator app for `username` (as the account page's confirmed set-up leaves it); its seed.
pub async fn enrol_app(op: &Op, username: &str) -> String {
    let id = user_id(op, username).await;
    let seed = app::new_seed().unwrap();
    let store = &op.provider.store;
    store
        .put_factor(&id, "mobile_app-setup", &seed, portcullis_op::now())
        .await
        .unwrap();
    assert!(
        store
            .confirm_app_setup(&id, &seed, 0, portcullis_op::now())
            .await
            .unwrap()
    );
    seed
}

/// The authenticator app's code for `seed` now.
pub fn app_code(seed: &str) -> String {
    app::code_at(seed, portcullis_op::now() as u64).unwrap()
}

/// Enrols a verified address or number (`kind` `email` or `sms`) for `username`.
pub async fn enrol(op: &Op, username: &str, kind: &str, destination: &str) {
    let id = user_id(op, username).await;
    op.provider
        .store
        .put_factor(&id, kind, destination, portcullis_op::now())
        .await
        .unwrap();
}

/// Signs `b` in as `username` with the password (an ordinary code flow for the `public` client).
pub async fn sign_in(op: &Op, b: &mut Browser, username: &str) {
    code_flow(op, b, username, "openid").await;
    assert!(b.session.is_some());
}

/// What the provider answered a step-up request or step.
#[derive(Debug)]
pub enum Answer {
    /// A page (the step-up page, or an error page) with its status.
    Page(StatusCode, String),
    /// A 303 to the callback, with its parameters.
    Back(String),
}

impl Answer {
    pub fn page(&self) -> &str {
        match self {
            Answer::Page(StatusCode::OK, p) => p,
            other => panic!("expected a page, got {other:?}"),
        }
    }
    pub fn back(&self) -> std::collections::HashMap<String, String> {
        match self {
            Answer::Back(l) => params_of(l),
            other => panic!("expected a redirect, got {other:?}"),
        }
    }
    pub fn status(&self) -> StatusCode {
        match self {
            Answer::Page(s, _) => *s,
            Answer::Back(_) => StatusCode::SEE_OTHER,
        }
    }
}

async fn answer(b: &mut Browser, resp: reqwest::Response) -> Answer {
    match b.step(resp).await {
        Step::Redirect(l) => Answer::Back(l),
        // The step-up pages post to /Factor/step: the browser helper files them with error pages.
        Step::ErrorPage(s, body) => Answer::Page(s, body),
        other => panic!("unexpected {other:?}"),
    }
}

/// The query of a step-up request of `app` for `factors`, back to `callback`.
pub fn factor_query(client: &str, callback: &str, factors: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("redirectUrl", callback)
        .append_pair("clientId", client)
        .append_pair("factors", factors)
        .finish()
}

/// `GET /Factor/Authenticate?query` from `b`.
pub async fn ask(b: &mut Browser, op: &impl Target, query: &str) -> Answer {
    let mut r = op
        .http()
        .get(op.url(&format!("/Factor/Authenticate?{query}")));
    if let Some(c) = b.cookie_header() {
        r = r.header("cookie", c);
    }
    answer(b, r.send().await.unwrap()).await
}

/// Posts the form of `page` to `/Factor/step` with `fields`.
pub async fn post_step(
    b: &mut Browser,
    op: &impl Target,
    page: &str,
    fields: &[(&str, &str)],
) -> Answer {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("pending", &hidden(page, "pending").unwrap());
    form.append_pair("csrf", &hidden(page, "csrf").unwrap());
    for (k, v) in fields {
        form.append_pair(k, v);
    }
    let mut r = op
        .http()
        .post(op.url("/Factor/step"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish());
    if let Some(c) = b.cookie_header() {
        r = r.header("cookie", c);
    }
    answer(b, r.send().await.unwrap()).await
}

/// The ceremony id on a page showing a code method's second step.
pub fn ceremony_of(page: &str) -> String {
    hidden(page, "ceremony").expect("a ceremony")
}

/// The account page's confirmation page (`/account/factors/confirm`) for `b`'s session.
pub async fn confirm_page(op: &Op, b: &mut Browser) -> String {
    let resp = op
        .http
        .get(op.url("/account/factors/confirm"))
        .header("cookie", b.cookie_header().unwrap())
        .send()
        .await
        .unwrap();
    let Step::ErrorPage(StatusCode::OK, page) = b.step(resp).await else {
        panic!("the confirm page")
    };
    page
}

/// Passes the account page's confirmation with the authenticator app of `seed`.
pub async fn confirm_with_app(op: &Op, b: &mut Browser, seed: &str) {
    let page = confirm_page(op, b).await;
    assert!(page.contains("id=\"app-code\""), "{page}");
    let back = post_step(
        b,
        op,
        &page,
        &[("method", "mobile_app"), ("code", &app_code(seed))],
    )
    .await;
    assert!(back.back().is_empty(), "back to the account page, no token");
}
