//! The address a request comes from, for per-address throttling: the TCP peer the accept loop recorded, or —
//! behind a reverse proxy named by `client_ip_header` — the address that proxy put in its header (the last
//! value of a list, which is the one the proxy appended; with or without a port, bracketed IPv6, or an RFC 7239
//! `Forwarded` element).
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
        .and_then(forwarded_address)
        .unwrap_or(peer)
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:40000`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:40000`, or an RFC 7239 `Forwarded` element (`for=...`, quoted or not).
fn forwarded_address(value: &str) -> Option<IpAddr> {
    let mut v = value.trim();
    if let Some(pair) = v
        .split(';')
        .map(str::trim)
        .find(|p| p.len() > 4 && p[..4].eq_ignore_ascii_case("for="))
    {
        v = pair[4..].trim_matches('"');
    }
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    v.parse::<std::net::SocketAddr>().ok().map(|a| a.ip())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_address_forms_are_understood() {
        for (v, ip) in [
            ("192.0.2.1", "192.0.2.1"),
            (" 192.0.2.1:40000", "192.0.2.1"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            ("For=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
        ] {
            assert_eq!(forwarded_address(v), Some(ip.parse().unwrap()), "{v}");
        }
        for v in ["", "unknown", "for=_hidden", "[::1", "example.com:80"] {
            assert_eq!(forwarded_address(v), None, "{v}");
        }
    }
}
