//! Metrics in the Prometheus text format, through `prometheus-client`: requests and latency per endpoint and
//! status, sign-ins by method and outcome, tokens issued by grant type, refresh token reuse, database latency and
//! the verification queue. Served at `/metrics` on `metrics_listen` only (a separate address, so that it need not
//! be public).
//!
//! Labels are bounded: an endpoint is its route pattern (or `other`), a method a login method id, a grant type one
//! of the provider's.
//!
//! Must not: label by anything a client chooses freely (a path, a client id, a user), or block a request.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::provider::Provider;

/// An endpoint and the status it answered.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern (`/token`, `/account/factors/{channel}`), or `other`.
    pub endpoint: String,
    /// The HTTP status.
    pub status: u16,
}

/// An endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The route pattern, or `other`.
    pub endpoint: String,
}

/// A sign-in's method and outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignInLabels {
    /// The login method (`password`, `passkey`, `mobile_app`, `bridge`, `upstream`, ...).
    pub method: String,
    /// `success` or `failure`.
    pub outcome: String,
}

/// A grant type.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrantLabels {
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_type: String,
}

/// The provider's metrics.
pub struct Metrics {
    registry: Registry,
    /// Requests by endpoint and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency by endpoint, in seconds.
    pub latency: Family<EndpointLabels, Histogram>,
    /// Sign-ins (and step-up factors) by method and outcome.
    pub sign_ins: Family<SignInLabels, Counter>,
    /// Tokens issued by the token endpoint, by grant type.
    pub tokens: Family<GrantLabels, Counter>,
    /// Reuses of a rotated refresh token detected (each revoked its grant).
    pub refresh_reuse: Counter,
    /// Database round trip, in seconds (sampled).
    pub db_latency: Histogram,
    /// Sign-in verifications running or waiting.
    pub verification_queue: Gauge,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("portcullis");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by endpoint and status",
            requests.clone(),
        );
        let latency = Family::<EndpointLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by endpoint",
            latency.clone(),
        );
        let sign_ins = Family::<SignInLabels, Counter>::default();
        registry.register(
            "sign_ins",
            "Sign-ins and step-up factors by method and outcome",
            sign_ins.clone(),
        );
        let tokens = Family::<GrantLabels, Counter>::default();
        registry.register(
            "tokens_issued",
            "Token responses by grant type",
            tokens.clone(),
        );
        let refresh_reuse = Counter::default();
        registry.register(
            "refresh_token_reuse",
            "Reuses of a rotated refresh token (each revoked its grant)",
            refresh_reuse.clone(),
        );
        let db_latency = latency_histogram();
        registry.register(
            "database_roundtrip_seconds",
            "Database round trip, sampled every 15 seconds",
            db_latency.clone(),
        );
        let verification_queue = Gauge::default();
        registry.register(
            "verification_queue",
            "Sign-in verifications running or waiting",
            verification_queue.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            sign_ins,
            tokens,
            refresh_reuse,
            db_latency,
            verification_queue,
        }
    }
}

impl Metrics {
    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts a sign-in (or a step-up factor) by method and outcome.
    pub fn sign_in(&self, method: &str, success: bool) {
        self.sign_ins
            .get_or_create(&SignInLabels {
                method: method.to_owned(),
                outcome: if success { "success" } else { "failure" }.to_owned(),
            })
            .inc();
    }
}

/// The middleware that counts and times every routed request.
pub async fn track(State(p): State<Arc<Provider>>, req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", |m| m.as_str())
        .to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    let m = &p.metrics;
    m.latency
        .get_or_create(&EndpointLabels {
            endpoint: endpoint.clone(),
        })
        .observe(start.elapsed().as_secs_f64());
    m.requests
        .get_or_create(&RequestLabels {
            endpoint,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}

/// Samples the database round trip and the verification queue, every 15 seconds, until the provider stops.
pub async fn sample(p: Arc<Provider>) {
    loop {
        let start = Instant::now();
        if p.store.ping().await.is_ok() {
            p.metrics.db_latency.observe(start.elapsed().as_secs_f64());
        }
        p.metrics
            .verification_queue
            .set(i64::try_from(p.throttle.in_flight()).unwrap_or(i64::MAX));
        tokio::time::sleep(std::time::Duration::from_secs(15)).await;
    }
}

/// Serves `/metrics` on `listener` until the provider stops.
pub async fn serve(p: Arc<Provider>, listener: tokio::net::TcpListener) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let p = p.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    p.metrics.render(),
                )
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!("metrics listener: {e}");
    }
}
