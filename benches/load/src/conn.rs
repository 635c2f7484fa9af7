//! One keep-alive HTTP/1.1 connection to the provider (hyper's client connection: no pool, no redirects) and
//! the request text the flows send (form bodies, the authorization path, reading a form field or a redirect's
//! parameter).
//!
//! Must not: follow redirects or keep cookies (the flows decide what to send).

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

pub(crate) const RP: &str = "http://127.0.0.1:8081/callback";

pub(crate) fn hidden(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle).expect("form field") + needle.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

pub(crate) fn query_param(location: &str, name: &str) -> Option<String> {
    let q = location.split_once('?')?.1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A form body, byte for byte what `form_urlencoded::Serializer` writes; values the encoding leaves as they
/// are (codes, verifiers: base64url) are copied whole, so the generator spends less of the machine it shares
/// with the provider.
pub(crate) fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut s = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (k, v) in pairs {
        if !s.is_empty() {
            s.push('&');
        }
        for (i, part) in [k, v].into_iter().enumerate() {
            if i == 1 {
                s.push('=');
            }
            if part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_'))
            {
                s.push_str(part);
            } else {
                s.extend(form_urlencoded::byte_serialize(part.as_bytes()));
            }
        }
    }
    s
}

pub(crate) fn authorize_path(challenge: &str, prompt_none: bool) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("response_type", "code")
        .append_pair("client_id", "demo")
        .append_pair("redirect_uri", RP)
        .append_pair("scope", "openid profile")
        .append_pair("state", "load")
        .append_pair("nonce", "load")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    if prompt_none {
        s.append_pair("prompt", "none");
    }
    format!("/authorize?{}", s.finish())
}

/// An answer, read to its end.
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// One keep-alive HTTP/1.1 connection to the provider; after an error the next request reconnects.
pub(crate) struct Conn {
    pub(crate) addr: SocketAddr,
    pub(crate) host: String,
    pub(crate) send: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Conn {
            addr,
            host: addr.to_string(),
            send: None,
        }
    }

    pub(crate) async fn connect(addr: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
        let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        tcp.set_nodelay(true).ok()?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .ok()?;
        tokio::spawn(conn);
        Some(send)
    }

    pub(crate) async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Option<Resp> {
        if self.send.as_ref().is_none_or(|s| s.is_closed()) {
            self.send = Some(Self::connect(self.addr).await?);
        }
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if body.is_some() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .ok()?;
        let send = self.send.as_mut()?;
        let answer = match send.ready().await {
            Ok(()) => send.send_request(req).await,
            Err(e) => Err(e),
        };
        let Ok(r) = answer else {
            self.send = None;
            return None;
        };
        let (parts, body) = r.into_parts();
        let Ok(body) = body.collect().await else {
            self.send = None;
            return None;
        };
        Some(Resp {
            status: parts.status,
            headers: parts.headers,
            body: body.to_bytes(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_body_matches_form_urlencoded() {
        let pairs = [
            ("code", "c1.AbC-_09"),
            ("redirect_uri", "http://127.0.0.1:8081/callback"),
            ("x y", "a b+c&d=e~é"),
            ("empty", ""),
        ];
        let mut reference = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            reference.append_pair(k, v);
        }
        assert_eq!(form_body(&pairs), reference.finish());
        assert_eq!(form_body(&[]), "");
    }
}
