//! `stub-provider`: the floor under `provider-load`'s figures. It speaks just enough of the provider's
//! protocol for the load script (the start-up lines it reads, one login and consent, then authorize → token →
//! UserInfo) and answers every request with a canned response of the real provider's size and headers, on the
//! same stack (axum on hyper's HTTP/1.1 server connections, tokio's multi-threaded runtime, `TCP_NODELAY`),
//! with no database, no cryptography and no checks. What the load script measures against it is what the
//! machine spends on HTTP over loopback and on the load generator alone: the part of the provider's budget no
//! change to the provider's own work can win back.
//!
//! ```text
//! cargo build --release -p portcullis-load
//! target/release/provider-load --provider target/release/stub-provider --rate 5000 --seconds 13 --warmup 3
//! ```
//!
//! Never deploy it: it hands a fixed token to anyone. It listens on loopback only.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// Length of the real provider's sealed code after its `c1.` prefix (427 characters in all, in a 303's
/// `Location`; measured against `portcullis-provider` with the demo client).
const CODE_LEN: usize = 424;
/// Length of the real provider's token response (an ES256 ID token, access and refresh tokens).
const TOKEN_BODY_LEN: usize = 813;
/// The real provider's UserInfo answer for the demo user (176 bytes).
const USERINFO_BODY: &str = r#"{"family_name":"Mo","given_name":"Dee","name":"Dee Mo","nickname":"dee","picture":"https://avatars.example/demo.png","preferred_username":"demo","sub":"p-w6axPf4owdMH8kYYqG5v"}"#;

/// The login and consent pages, reduced to the two hidden fields the load script reads.
const FORM_PAGE: &str = r#"<!DOCTYPE html><html><body><form method="post"><input type="hidden" name="pending" value="stub"><input type="hidden" name="csrf" value="stub"></form></body></html>"#;

/// The `Location` of a successful authorization: the same length as the real provider's.
fn location(issuer: &str) -> String {
    let code: String = std::iter::repeat_n('A', CODE_LEN).collect();
    format!(
        "http://127.0.0.1:8081/callback?code=c1.{code}&iss={}&state=load",
        form_urlencoded::byte_serialize(issuer.as_bytes()).collect::<String>()
    )
}

/// A token response of the real one's size and shape (`access_token` is what the load script reads).
fn token_body() -> String {
    let head = r#"{"access_token":"01a20ee30909pshv5Gr20_YxXEGMHitmAA.AaIO4wkiIlSDUac7moiNmpAgnBNSxoz37uGmX1ESq5Y","expires_in":600,"id_token":""#;
    let tail = r#"","refresh_token":"AaIO4wkiMWls9qpRK0mjgMrlVnre5ROdvgg5Hh-FCWU","scope":"openid profile","token_type":"Bearer"}"#;
    let filler = TOKEN_BODY_LEN - head.len() - tail.len();
    let mut s = String::with_capacity(TOKEN_BODY_LEN);
    s.push_str(head);
    s.extend(std::iter::repeat_n('x', filler));
    s.push_str(tail);
    s
}

fn json(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn router(issuer: String) -> Router {
    let location: &'static str = Box::leak(location(&issuer).into_boxed_str());
    let token: &'static str = Box::leak(token_body().into_boxed_str());
    Router::new()
        .route(
            "/authorize",
            get(move |headers: HeaderMap| async move {
                if headers.contains_key(header::COOKIE) {
                    (
                        StatusCode::SEE_OTHER,
                        [
                            (header::LOCATION, HeaderValue::from_static(location)),
                            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                        ],
                    )
                        .into_response()
                } else {
                    (
                        [(
                            header::SET_COOKIE,
                            "portcullis_browser=stub; HttpOnly; SameSite=Lax",
                        )],
                        axum::response::Html(FORM_PAGE),
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/login",
            post(|| async {
                (
                    [(
                        header::SET_COOKIE,
                        "portcullis_session=stub; HttpOnly; SameSite=Lax",
                    )],
                    axum::response::Html(FORM_PAGE),
                )
            }),
        )
        .route(
            "/consent",
            post(|| async { (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]) }),
        )
        .route(
            "/token",
            post(move |_body: String| async move { json(token) }),
        )
        .route("/userinfo", get(|| async { json(USERINFO_BODY) }))
}

/// The address to listen on (`PORTCULLIS_LISTEN`, as provider-load sets it): 127.0.0.1:18080 when unset; an
/// address that does not parse, or one off loopback, is refused (the stub hands a fixed token to anyone).
fn listen_addr(value: Option<&str>) -> Result<SocketAddr, String> {
    let listen: SocketAddr = match value {
        None => ([127, 0, 0, 1], 18080).into(),
        Some(v) => v
            .parse()
            .map_err(|_| format!("PORTCULLIS_LISTEN: not an address: {v}"))?,
    };
    if !listen.ip().is_loopback() {
        return Err(format!(
            "stub-provider listens on loopback only, not {listen}"
        ));
    }
    Ok(listen)
}

fn main() {
    let listen = match listen_addr(std::env::var("PORTCULLIS_LISTEN").ok().as_deref()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let issuer = std::env::var("PORTCULLIS_ISSUER").unwrap_or_else(|_| format!("http://{listen}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
        // The two lines provider-load waits for.
        println!("  demo user:   demo / stub");
        println!("  curl -s (stub)");
        let app = router(issuer);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            tokio::spawn(async move {
                let svc = hyper_util::service::TowerToHyperService::new(app);
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_answers_have_the_real_sizes() {
        assert_eq!(token_body().len(), TOKEN_BODY_LEN);
        let v: serde_json::Value = serde_json::from_str(&token_body()).unwrap();
        assert!(v["access_token"].is_string());
        assert_eq!(USERINFO_BODY.len(), 176);
        let l = location("http://127.0.0.1:18080");
        let code = l.split("code=").nth(1).unwrap().split('&').next().unwrap();
        assert_eq!(code.len(), 3 + CODE_LEN);
    }

    #[test]
    fn listens_on_loopback_only() {
        assert_eq!(listen_addr(None).unwrap(), ([127, 0, 0, 1], 18080).into());
        assert_eq!(
            listen_addr(Some("[::1]:9000")).unwrap(),
            "[::1]:9000".parse::<SocketAddr>().unwrap()
        );
        assert!(listen_addr(Some("0.0.0.0:18080")).is_err());
        assert!(listen_addr(Some("192.0.2.1:18080")).is_err());
        assert!(listen_addr(Some("localhost:18080")).is_err());
        assert!(listen_addr(Some("")).is_err());
    }
}
