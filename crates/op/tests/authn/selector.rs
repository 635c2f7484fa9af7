//! Issue 25, part 3: the identity-provider selector (`/select-accounts`, seed 002). The page lists the upstream
//! banks (their own issuers) and the login-bridge sites (the hub's issuer, with `idp_id`); a choice sends the
//! browser to the client's `initiate_login_uri` with `iss` and `idp_id`, and is remembered for that client,
//! visitor and browser; the hub's `/authorize` with a site's `idp_id` goes straight to the site. And what it
//! refuses.
//!
//! Must not: stand in for the relying party's checks (`federation` tests those with `portcullis-rp`).

use reqwest::StatusCode;

use super::federation_support::*;
use crate::common::*;

/// A browser as the selector sees it: its selector cookie (`name=value`), if it has one.
#[derive(Clone, Default)]
struct Visitor(Option<String>);

/// `GET {path_and_query}` at the hub from `v` (with `site` as `Sec-Fetch-Site`): the status, `Location` and body;
/// a selector cookie it sets is kept.
async fn get(
    f: &Federation,
    v: &mut Visitor,
    path_and_query: &str,
    site: &str,
) -> (StatusCode, String, String) {
    let mut r = f
        .hub
        .http
        .get(format!("{}{path_and_query}", f.hub.base))
        .header("sec-fetch-site", site);
    if let Some(c) = &v.0 {
        r = r.header("cookie", c);
    }
    let resp = r.send().await.unwrap();
    for c in resp.headers().get_all("set-cookie") {
        let c = c.to_str().unwrap();
        if c.starts_with("portcullis_selector=") {
            v.0 = Some(c.split(';').next().unwrap().to_owned());
        }
    }
    let status = resp.status();
    let location = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, location, resp.text().await.unwrap())
}

/// `GET /select-accounts?{query}` from `v`.
async fn select(f: &Federation, v: &mut Visitor, query: &str) -> (StatusCode, String, String) {
    get(f, v, &format!("/select-accounts?{query}"), "none").await
}

/// The link of the page that chooses `idp`.
fn link(page: &str, idp: &str) -> String {
    let end = page
        .find(&format!("\" id=\"idp-{idp}\""))
        .unwrap_or_else(|| panic!("no link for {idp}: {page}"));
    let start = page[..end].rfind("href=\"").unwrap() + 6;
    page[start..end].replace("&amp;", "&")
}

#[tokio::test]
async fn the_selector_lists_providers_remembers_a_choice_and_sends_it_to_the_client() {
    let f = Federation::start().await;
    portcullis_op::bridge_sites::add(
        &f.hub.provider.store,
        portcullis_op::store::BridgeSiteRow {
            id: "shop".into(),
            name: "Example Shop".into(),
            verify_url: "https://shop.example/verify".into(),
            home_url: None,
            api_key_hash: String::new(),
            trusted: false,
            signing_key: None,
            ..Default::default()
        },
        portcullis_op::now(),
    )
    .await
    .unwrap();
    let mut b = Visitor::default();
    let q = "client_id=selector-rp&visitor_id=visitor-1";
    let (status, _, page) = select(&f, &mut b, q).await;
    assert_eq!(status, StatusCode::OK);
    for (id, name) in [
        ("bank-a", "Bank A"),
        ("bank-b", "Bank B"),
        ("shop", "Example Shop"),
    ] {
        assert!(page.contains(&format!("id=\"idp-{id}\">{name}<")), "{page}");
        assert!(
            link(&page, id).starts_with(&format!(
                "/select-accounts?client_id=selector-rp&visitor_id=visitor-1&idp_id={id}&t="
            )),
            "{page}"
        );
    }
    let (status, to, _) = get(&f, &mut b, &link(&page, "bank-a"), "same-origin").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let p = params_of(&to);
    assert!(to.starts_with(&format!("{RP_INITIATE}?")), "{to}");
    assert_eq!(p["iss"], f.bank_a.base);
    assert_eq!(p["idp_id"], "bank-a");
    // The same visitor in the same browser: chosen at once.
    let (status, again, _) = select(&f, &mut b, q).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(again, to);
    // ... unless asked to choose again; another visitor id or another browser chooses afresh.
    for (visitor, query) in [
        (b.clone(), format!("{q}&prompt=select_account")),
        (
            b.clone(),
            "client_id=selector-rp&visitor_id=visitor-2".into(),
        ),
        (Visitor::default(), q.to_owned()),
    ] {
        let mut visitor = visitor;
        let (status, _, _) = select(&f, &mut visitor, &query).await;
        assert_eq!(status, StatusCode::OK, "{query}");
    }
    // A login-bridge site: the hub is the issuer, and the site's idp_id takes the hub's login straight to it.
    let (_, to, _) = get(&f, &mut b, &link(&page, "shop"), "same-origin").await;
    assert_eq!(params_of(&to)["iss"], f.hub.base);
    let req = AuthReq::new("public", "code", "openid").set("idp_id", "shop");
    let step = Browser::default().authorize(&f.hub, &req.query()).await;
    assert!(
        step.location()
            .starts_with("https://shop.example/verify?request_id="),
        "{step:?}"
    );
    // An upstream's idp_id at the hub's /authorize goes straight to that bank.
    let req = AuthReq::new("public", "code", "openid").set("idp_id", "bank-b");
    let step = Browser::default().authorize(&f.hub, &req.query()).await;
    assert!(step.location().starts_with(&f.bank_b.base), "{step:?}");
    // An unknown one is ignored: the login page.
    let req = AuthReq::new("public", "code", "openid").set("idp_id", "nope");
    let step = Browser::default().authorize(&f.hub, &req.query()).await;
    assert!(matches!(step, Step::Login(_)), "{step:?}");
}

#[tokio::test]
async fn the_selector_refuses_what_it_cannot_vouch_for() {
    let f = Federation::start().await;
    portcullis_op::admin::add_client(
        &f.hub.provider.store,
        "preset",
        &serde_json::json!({"redirect_uris": [RP_CALLBACK], "token_endpoint_auth_method": "none",
                            "initiate_login_uri": "https://rp.example/initiate?iss=https%3A%2F%2Fevil.example"}),
    )
    .await
    .unwrap();
    let mut b = Visitor::default();
    for (query, why) in [
        (
            "client_id=preset&visitor_id=v",
            "an initiate_login_uri with its own iss",
        ),
        ("visitor_id=v", "no client"),
        ("client_id=nobody&visitor_id=v", "unknown client"),
        ("client_id=public&visitor_id=v", "no initiate_login_uri"),
        (
            "client_id=selector-rp&visitor_id=%3Cscript%3E",
            "malformed visitor",
        ),
        (
            "client_id=selector-rp&client_id=public",
            "repeated parameter",
        ),
    ] {
        let (status, location, _) = select(&f, &mut b, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}");
        assert!(location.is_empty(), "{why}: never a redirect");
    }
    // A page, and what may be done with its links.
    let (_, _, page) = select(&f, &mut b, "client_id=selector-rp&visitor_id=v").await;
    let good = link(&page, "bank-b");
    let cases = [
        (
            good.replace("idp_id=bank-b", "idp_id=nope"),
            "same-origin",
            StatusCode::BAD_REQUEST,
            "a provider not on offer",
        ),
        (
            good.replace("&t=", "&t=x"),
            "same-origin",
            StatusCode::FORBIDDEN,
            "a forged token",
        ),
        (
            good.split("&t=").next().unwrap().to_owned(),
            "same-origin",
            StatusCode::FORBIDDEN,
            "no token",
        ),
        // Linked from another site, to plant a remembered choice in the victim's browser.
        (
            good.clone(),
            "cross-site",
            StatusCode::FORBIDDEN,
            "from another site",
        ),
    ];
    for (url, site, status, why) in cases {
        let (s, location, _) = get(&f, &mut b.clone(), &url, site).await;
        assert_eq!(s, status, "{why}");
        assert!(location.is_empty(), "{why}");
    }
    // Another browser's link (the token is bound to the browser's selector cookie).
    let (s, _, _) = get(&f, &mut Visitor::default(), &good, "same-origin").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "another browser");
    let (s, _, _) = get(&f, &mut b, &good, "same-origin").await;
    assert_eq!(s, StatusCode::SEE_OTHER, "the page's own link");
}
