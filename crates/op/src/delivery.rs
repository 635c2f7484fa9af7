//! Sending one-time codes to users: e-mail through SMTP ([`Smtp`], lettre), SMS through a small sender trait
//! with an HTTP-webhook sender ([`Webhook`]), and — with neither configured, as on a first run — the development
//! [`Outbox`]: a file in the data directory (0600) and the log, so the demo shows where each code went.
//!
//! Must not: choose codes or decide who gets one (`crate::authn::factors` does), or keep what it sent.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_core::future::BoxFuture;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message as Email, Tokio1Executor};

use crate::config::Config;

/// How long one delivery may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// One message to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The e-mail address or phone number.
    pub to: String,
    /// The subject (e-mail only).
    pub subject: String,
    /// The text.
    pub body: String,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The address or number is not one this sender can send to.
    #[error("invalid recipient")]
    Recipient,
    /// The server or service refused it, or could not be reached in time.
    #[error("delivery failed: {0}")]
    Failed(String),
}

/// A way to send messages (SMTP, a webhook, the outbox; or one of the application's own).
pub trait Sender: Send + Sync {
    /// Sends `m`.
    fn send<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<(), DeliveryError>>;
    /// What it is, for the log and the start-up message (no secrets).
    fn describe(&self) -> String;
}

/// The senders of the provider: one for e-mail, one for SMS.
#[derive(Clone)]
pub struct Delivery {
    /// E-mail.
    pub mail: Arc<dyn Sender>,
    /// SMS.
    pub sms: Arc<dyn Sender>,
}

impl Delivery {
    /// The senders the configuration names: `smtp_url` (with `smtp_from`) for e-mail and `sms_webhook_url`
    /// for SMS; each channel without one writes to the development outbox.
    pub fn from_config(cfg: &Config) -> Result<Delivery, String> {
        let outbox = cfg
            .outbox
            .clone()
            .unwrap_or_else(|| cfg.data_dir.join("outbox.log"));
        // Codes are written to the log only while developing (an http issuer, which is loopback only); a
        // deployment without SMTP or a webhook still gets the file, never its codes in the log.
        let log_codes = url::Url::parse(&cfg.issuer).is_ok_and(|u| u.scheme() == "http");
        let mail: Arc<dyn Sender> = match &cfg.smtp_url {
            Some(url) => Arc::new(Smtp::new(url, &smtp_from(cfg))?),
            None => Arc::new(Outbox::new(outbox.clone(), "email").logging_codes(log_codes)),
        };
        let sms: Arc<dyn Sender> = match &cfg.sms_webhook_url {
            Some(url) => Arc::new(Webhook::new(url)?),
            None => Arc::new(Outbox::new(outbox, "sms").logging_codes(log_codes)),
        };
        Ok(Delivery { mail, sms })
    }
}

/// The sender address: `smtp_from`, or `Portcullis <no-reply@issuer-host>`.
fn smtp_from(cfg: &Config) -> String {
    cfg.smtp_from.clone().unwrap_or_else(|| {
        let host = url::Url::parse(&cfg.issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "localhost".into());
        format!("Portcullis <no-reply@{host}>")
    })
}

/// E-mail through an SMTP server. `smtp_url` is lettre's form: `smtp://host:port` (plain, for a relay on
/// loopback), `smtp://host?tls=required` (STARTTLS), `smtps://host` (TLS), with `user:password@` when the
/// server wants a login.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    server: String,
}

impl Smtp {
    /// A sender through `url`, from `from` (`Name <address>` or an address).
    pub fn new(url: &str, from: &str) -> Result<Smtp, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("smtp_url: {e}"))?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| format!("smtp_from: {e}"))?;
        let server = url::Url::parse(url)
            .map(|u| {
                format!(
                    "{}://{}:{}",
                    u.scheme(),
                    u.host_str().unwrap_or(""),
                    u.port().unwrap_or(0)
                )
            })
            .unwrap_or_default();
        Ok(Smtp {
            transport,
            from,
            server,
        })
    }
}

impl Sender for Smtp {
    fn send<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let to =
                m.to.parse::<Mailbox>()
                    .map_err(|_| DeliveryError::Recipient)?;
            let email = Email::builder()
                .from(self.from.clone())
                .to(to)
                .subject(m.subject.clone())
                .body(m.body.clone())
                .map_err(|e| DeliveryError::Failed(e.to_string()))?;
            self.transport
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| DeliveryError::Failed(e.to_string()))
        })
    }

    fn describe(&self) -> String {
        format!("SMTP {}", self.server)
    }
}

/// SMS through an HTTP webhook: `POST` of `{"to": "+15551234567", "message": "..."}` as JSON; any 2xx answer is
/// success. The gateway in between (an SMS provider's API) is the deployment's.
pub struct Webhook {
    client: reqwest::Client,
    url: String,
}

impl Webhook {
    /// A sender posting to `url` (https, or http on loopback).
    pub fn new(url: &str) -> Result<Webhook, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("sms_webhook_url: {e}"))?;
        let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
            return Err("sms_webhook_url must be https (http only on loopback)".into());
        }
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Webhook {
            client,
            url: url.to_owned(),
        })
    }
}

impl Sender for Webhook {
    fn send<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let body = serde_json::json!({ "to": m.to, "message": m.body }).to_string();
            let resp = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| DeliveryError::Failed(e.to_string()))?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(DeliveryError::Failed(format!(
                    "webhook answered {}",
                    resp.status()
                )))
            }
        })
    }

    fn describe(&self) -> String {
        let host = url::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        format!("SMS webhook at {host}")
    }
}

/// The development outbox: each message appended as one JSON line to a file (created 0600), and logged while
/// developing (an http issuer). For a first run and demos only: whoever reads the file reads the codes.
pub struct Outbox {
    path: PathBuf,
    channel: &'static str,
    log_codes: bool,
}

impl Outbox {
    /// An outbox for `channel` (`email` or `sms`) writing to `path` (and the message to the log).
    pub fn new(path: PathBuf, channel: &'static str) -> Outbox {
        Outbox {
            path,
            channel,
            log_codes: true,
        }
    }

    /// Whether the message itself goes to the log too (without it, only that one was written to the file).
    pub fn logging_codes(mut self, yes: bool) -> Outbox {
        self.log_codes = yes;
        self
    }
}

impl Sender for Outbox {
    fn send<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let line = serde_json::json!({
                "at": crate::now(),
                "channel": self.channel,
                "to": m.to,
                "subject": m.subject,
                "body": m.body,
            })
            .to_string();
            if self.log_codes {
                tracing::info!(
                    "development outbox ({}): to {}: {}",
                    self.channel,
                    m.to,
                    m.body
                );
            } else {
                tracing::warn!(
                    "a {} message was written to the development outbox {} (configure smtp_url / sms_webhook_url)",
                    self.channel,
                    self.path.display()
                );
            }
            let path = self.path.clone();
            tokio::task::spawn_blocking(move || append_private(&path, &line))
                .await
                .map_err(|e| DeliveryError::Failed(e.to_string()))?
                .map_err(|e| DeliveryError::Failed(e.to_string()))
        })
    }

    fn describe(&self) -> String {
        format!("the development outbox {}", self.path.display())
    }
}

/// Appends `line` to `path`, creating it readable by its owner only.
fn append_private(path: &std::path::Path, line: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    writeln!(f, "{line}")
}
