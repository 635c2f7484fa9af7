//! The steps of one code flow (authorize with the session → token exchange with PKCE → UserInfo) and the one
//! interactive login and consent that gets the session cookie.
//!
//! Must not: count or time anything (the caller does).

use std::net::SocketAddr;

use hyper::Method;
use portcullis_pkce::{CodeChallenge, CodeVerifier};

use crate::*;

/// `GET /authorize` with the session (`prompt=none`): the code and its PKCE verifier.
pub(crate) async fn authorize(c: &mut Conn, cookie: &str) -> Option<(String, CodeVerifier)> {
    let v = CodeVerifier::generate();
    let path = authorize_path(CodeChallenge::s256(&v).as_str(), true);
    let r = c
        .request(Method::GET, &path, &[("cookie", cookie)], None)
        .await?;
    let code = query_param(r.headers.get("location")?.to_str().ok()?, "code")?;
    Some((code, v))
}

/// `POST /token` for a code: the access token.
pub(crate) async fn exchange(c: &mut Conn, code: &str, v: &CodeVerifier) -> Option<String> {
    let body = form_body(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", RP),
        ("client_id", "demo"),
        ("code_verifier", v.as_str()),
    ]);
    let r = c.request(Method::POST, "/token", &[], Some(body)).await?;
    if r.status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    v["access_token"].as_str().map(str::to_owned)
}

/// `GET /userinfo` with the token: whether it answered 200 with a `sub`.
pub(crate) async fn userinfo(c: &mut Conn, at: &str) -> bool {
    let auth = format!("Bearer {at}");
    c.request(Method::GET, "/userinfo", &[("authorization", &auth)], None)
        .await
        .is_some_and(|r| {
            r.status == 200
                && serde_json::from_slice::<serde_json::Value>(&r.body)
                    .is_ok_and(|v| v["sub"].is_string())
        })
}

/// The `name=value` of the cookie `name` a response sets.
pub(crate) fn set_cookie(r: &Resp, name: &str) -> Option<String> {
    r.headers.get_all("set-cookie").iter().find_map(|c| {
        let c = c.to_str().ok()?.split(';').next()?;
        (c.split_once('=')?.0 == name).then(|| c.to_owned())
    })
}

/// One interactive login and consent: the session cookie.
pub(crate) async fn login(addr: SocketAddr, password: &str) -> String {
    let mut c = Conn::new(addr);
    let v = CodeVerifier::generate();
    let page = c
        .request(
            Method::GET,
            &authorize_path(CodeChallenge::s256(&v).as_str(), false),
            &[],
            None,
        )
        .await
        .expect("login page");
    // The login and consent forms are accepted only from the browser the page was shown to.
    let browser = set_cookie(&page, "portcullis_browser").expect("browser binding cookie");
    let page = String::from_utf8_lossy(&page.body).into_owned();
    let form = |page: &str, extra: &[(&str, &str)]| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("pending", &hidden(page, "pending"))
            .append_pair("csrf", &hidden(page, "csrf"));
        for (k, v) in extra {
            s.append_pair(k, v);
        }
        s.finish()
    };
    let r = c
        .request(
            Method::POST,
            "/login",
            &[("cookie", &browser)],
            Some(form(&page, &[("username", "demo"), ("password", password)])),
        )
        .await
        .expect("login");
    let cookie = set_cookie(&r, "portcullis_session").expect("session cookie");
    let consent = String::from_utf8_lossy(&r.body).into_owned();
    let both = format!("{cookie}; {browser}");
    let r = c
        .request(
            Method::POST,
            "/consent",
            &[("cookie", &both)],
            Some(form(&consent, &[("decision", "allow")])),
        )
        .await
        .expect("consent");
    assert_eq!(r.status, 303, "consent");
    cookie
}
