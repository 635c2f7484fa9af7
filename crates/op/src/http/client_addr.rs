//! The address a request comes from, for per-address throttling: the TCP peer the accept loop recorded, or —
//! behind a reverse proxy named by `client_ip_header` — the address that proxy put in its header (the last
//! value of a list, which is the one the proxy appended).
//!
//! Must not: trust a forwarding header the configuration does not name.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::provider::Provider;

/// The TCP peer's address, set on every request by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub IpAddr);

/// The client's address as [`client_ip`] works it out (an extractor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The client's address: from the configured proxy header when set and well-formed, else the TCP peer (else
/// the unspecified address, for requests that did not come through a socket).
pub fn client_ip(p: &Provider, parts: &Parts) -> IpAddr {
    let peer = parts
        .extensions
        .get::<PeerAddr>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.0);
    let Some(name) = &p.cfg.client_ip_header else {
        return peer;
    };
    parts
        .headers
        .get_all(name.as_str())
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}

impl FromRequestParts<Arc<Provider>> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        p: &Arc<Provider>,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(p, parts)))
    }
}
