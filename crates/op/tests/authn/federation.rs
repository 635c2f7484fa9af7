//! Issue 25, part 2: brokering. Two Portcullis instances play the banks; the hub signs their users in through
//! `portcullis-rp` (PKCE, state, nonce, JARM, `private_key_jwt`), links each bank subject to a local account
//! (a new one, or the user signed in at the hub), and issues its own tokens. And what it refuses: a callback in
//! another browser or twice, an answer from the wrong bank (mix-up), the bank's refusal, an upstream that sends
//! a bad ID token — each a clean error page, never a 500.
//!
//! Must not: sign in at a bank without going through its pages (the banks are real providers).

use reqwest::StatusCode;
use serde_json::json;

use super::federation_support::*;
use super::support::id_token;
use crate::common::*;

/// Redeems the hub's code for `req` (consenting first when asked): the ID token claims and the access token.
async fn hub_tokens(
    f: &Federation,
    b: &mut Browser,
    req: &AuthReq,
    step: Step,
) -> (serde_json::Map<String, serde_json::Value>, String) {
    let step = match step {
        Step::Consent(page) => {
            b.submit(&f.hub, &page, "/consent", &[("decision", "allow")])
                .await
        }
        other => other,
    };
    let cb = step.redirect();
    let (status, tokens) = redeem(&f.hub, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    (
        id_token(&f.hub, &tokens, &req.nonce).await,
        tokens["access_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_bank_user_signs_in_at_the_hub_through_each_bank() {
    let f = Federation::start().await;
    let mut subs = Vec::new();
    for (id, bank) in [("bank-a", &f.bank_a), ("bank-b", &f.bank_b)] {
        let req = AuthReq::new("public", "code", "openid email profile");
        let mut b = Browser::default();
        let to_bank = f.send_out(&mut b, &req, id).await;
        // The hub asked the bank for a code with PKCE, a JARM answer, a state and a nonce.
        let q = params_of(&to_bank);
        assert!(
            to_bank.starts_with(&format!("{}/authorize?", bank.base)),
            "{to_bank}"
        );
        assert_eq!(q["client_id"], "hub");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["response_mode"], "jwt");
        assert!(!q["state"].is_empty() && !q["nonce"].is_empty());
        let back = f
            .at_bank(bank, &mut Browser::default(), &to_bank, "alice")
            .await;
        assert!(back.contains("/upstream/callback?response="), "{back}");
        let step = b.follow(&f.hub, &back).await;
        let (idt, at) = hub_tokens(&f, &mut b, &req, step).await;
        assert_eq!(idt["iss"], f.hub.base.as_str());
        assert_eq!(idt["amr"], json!(["fed"]));
        assert_eq!(idt["acr"], "urn:portcullis:acr:upstream");
        let (_, info) = userinfo(&f.hub, &at).await;
        assert_eq!(info["email"], "demo@portcullis.example", "{info}");
        subs.push(idt["sub"].as_str().unwrap().to_owned());
    }
    // Two banks' alices are two people here.
    assert_ne!(subs[0], subs[1]);
    // Audited: the bank, the client and the browser's address.
    let events = f
        .hub
        .provider
        .store
        .audit_events(None, 0, 100)
        .await
        .unwrap();
    for bank in ["upstream:bank-a", "upstream:bank-b"] {
        let signed = events
            .iter()
            .find(|e| e.kind == "sign_in" && e.detail == bank)
            .unwrap_or_else(|| panic!("{bank} in {events:?}"));
        assert_eq!(signed.outcome, "success");
        assert_eq!(signed.client_id.as_deref(), Some("public"));
        assert!(signed.address.is_some(), "{signed:?}");
    }
    // Bank A's alice again, in a new browser: the same local account.
    let req = AuthReq::new("public", "code", "openid");
    let mut b = Browser::default();
    let to_bank = f.send_out(&mut b, &req, "bank-a").await;
    let back = f
        .at_bank(&f.bank_a, &mut Browser::default(), &to_bank, "alice")
        .await;
    let step = b.follow(&f.hub, &back).await;
    let (idt, _) = hub_tokens(&f, &mut b, &req, step).await;
    assert_eq!(idt["sub"], subs[0].as_str());
}

/// Bob, signed in at the hub with his password, asks to sign in afresh and picks Bank B, where he is "alice":
/// the bank's answer leads to the link question, not to a link.
async fn bob_back_from_bank_b(f: &Federation) -> (Browser, AuthReq, serde_json::Value, String) {
    let mut b = Browser::default();
    let (req, tokens) = code_flow(&f.hub, &mut b, "bob", "openid").await;
    let bob = id_token(&f.hub, &tokens, &req.nonce).await["sub"].clone();
    let req = AuthReq::new("public", "code", "openid").set("prompt", "login");
    let to_bank = f.send_out(&mut b, &req, "bank-b").await;
    let back = f
        .at_bank(&f.bank_b, &mut Browser::default(), &to_bank, "alice")
        .await;
    let Step::ErrorPage(StatusCode::OK, page) = b.follow(&f.hub, &back).await else {
        panic!("the link question")
    };
    (b, req, bob, page)
}

#[tokio::test]
async fn a_signed_in_user_adds_a_bank_to_their_account_only_when_asked() {
    let f = Federation::start().await;
    let (mut b, req, bob, page) = bob_back_from_bank_b(&f).await;
    assert!(page.contains("Add Bank B to your account?"), "{page}");
    assert!(
        page.contains("<strong id=\"upstream-who\">Dee Mo (demo@portcullis.example)</strong>"),
        "{page}"
    );
    assert!(
        page.contains("<strong id=\"local-who\">Bob</strong>"),
        "{page}"
    );
    let link = [("decision", "link")];
    // Another browser, or the same browser without its session, cannot answer it.
    let signed_out = Browser {
        session: None,
        ..b.clone()
    };
    for mut other in [Browser::default(), signed_out] {
        let step = other.submit(&f.hub, &page, "/upstream/link", &link).await;
        assert!(error_page(&step, StatusCode::FORBIDDEN), "{step:?}");
    }
    let step = b.submit(&f.hub, &page, "/upstream/link", &link).await;
    let (idt, _) = hub_tokens(&f, &mut b, &req, step).await;
    assert_eq!(idt["sub"], bob);
    // Answered once.
    let step = b.submit(&f.hub, &page, "/upstream/link", &link).await;
    assert!(error_page(&step, StatusCode::BAD_REQUEST), "{step:?}");
    // From now on Bank B's alice is bob, in any browser, without a question.
    let req = AuthReq::new("public", "code", "openid");
    let mut fresh = Browser::default();
    let to_bank = f.send_out(&mut fresh, &req, "bank-b").await;
    let back = f
        .at_bank(&f.bank_b, &mut Browser::default(), &to_bank, "alice")
        .await;
    let step = fresh.follow(&f.hub, &back).await;
    let (idt, _) = hub_tokens(&f, &mut fresh, &req, step).await;
    assert_eq!(idt["sub"], bob);
}

#[tokio::test]
async fn a_signed_in_user_may_keep_the_bank_identity_separate() {
    let f = Federation::start().await;
    let (mut b, req, bob, page) = bob_back_from_bank_b(&f).await;
    let step = b
        .submit(&f.hub, &page, "/upstream/link", &[("decision", "separate")])
        .await;
    let (idt, _) = hub_tokens(&f, &mut b, &req, step).await;
    assert_ne!(idt["sub"], bob, "a separate account");
    assert_eq!(idt["amr"], json!(["fed"]));
}

#[tokio::test]
async fn this_isnt_me_changes_nothing() {
    let f = Federation::start().await;
    let (mut b, _, bob, page) = bob_back_from_bank_b(&f).await;
    assert!(page.contains("id=\"cancel\""), "{page}");
    // The bank's identity is shown with its address or account, not only a name it chose.
    assert!(page.contains("Dee Mo (demo@portcullis.example)"), "{page}");
    let step = b
        .submit(&f.hub, &page, "/upstream/link", &[("decision", "cancel")])
        .await;
    let Step::ErrorPage(StatusCode::FORBIDDEN, body) = step else {
        panic!("expected the cancelled page, got {step:?}")
    };
    assert!(body.contains("Nothing was changed"), "{body}");
    // bob is still signed in as himself; Bank B's alice is not linked to him.
    let req = AuthReq::new("public", "code", "openid");
    let step = b.authorize(&f.hub, &req.query()).await;
    let (idt, _) = hub_tokens(&f, &mut b, &req, step).await;
    assert_eq!(idt["sub"], bob);
    let mut fresh = Browser::default();
    let to_bank = f.send_out(&mut fresh, &req, "bank-b").await;
    let back = f
        .at_bank(&f.bank_b, &mut Browser::default(), &to_bank, "alice")
        .await;
    let step = fresh.follow(&f.hub, &back).await;
    let (idt, _) = hub_tokens(&f, &mut fresh, &req, step).await;
    assert_ne!(idt["sub"], bob);
}

/// A relying party's `max_age` holds at the upstream: passed on, the bank asks its user again when its session
/// is older, and the hub's `auth_time` is the bank's.
#[tokio::test]
async fn max_age_is_passed_to_the_bank_and_its_auth_time_kept() {
    let f = Federation::start().await;
    let mut bank_browser = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let to_bank = f.send_out(&mut Browser::default(), &req, "bank-a").await;
    let _ = f
        .at_bank(&f.bank_a, &mut bank_browser, &to_bank, "alice")
        .await;
    let first = portcullis_op::now();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let req = AuthReq::new("public", "code", "openid").set("max_age", "1");
    let mut b = Browser::default();
    let to_bank = f.send_out(&mut b, &req, "bank-a").await;
    assert_eq!(params_of(&to_bank)["max_age"], "1");
    // The bank's session is older than a second: it shows its login page again.
    let step = bank_browser.follow(&f.bank_a, &to_bank).await;
    assert!(matches!(step, Step::Login(_)), "{step:?}");
    let back = match bank_browser.complete(&f.bank_a, step, "alice").await {
        Step::Redirect(to) => to,
        other => panic!("{other:?}"),
    };
    let step = b.follow(&f.hub, &back).await;
    let (idt, _) = hub_tokens(&f, &mut b, &req, step).await;
    let auth_time = idt["auth_time"].as_i64().unwrap();
    assert!(auth_time > first, "{auth_time} after {first}");
}

fn error_page(step: &Step, status: StatusCode) -> bool {
    matches!(step, Step::ErrorPage(s, _) if *s == status)
}

#[tokio::test]
async fn callbacks_in_another_browser_twice_or_from_the_wrong_bank_are_refused() {
    let f = Federation::start().await;
    let req = AuthReq::new("public", "code", "openid");
    let mut b = Browser::default();
    let to_bank = f.send_out(&mut b, &req, "bank-a").await;
    let back = f
        .at_bank(&f.bank_a, &mut Browser::default(), &to_bank, "alice")
        .await;
    // Another browser: refused, and the login stays for its own browser.
    let step = Browser::default().follow(&f.hub, &back).await;
    assert!(error_page(&step, StatusCode::FORBIDDEN), "{step:?}");
    let step = b.follow(&f.hub, &back).await;
    assert!(matches!(step, Step::Consent(_)), "{step:?}");
    // Twice: gone.
    let step = b.follow(&f.hub, &back).await;
    assert!(error_page(&step, StatusCode::BAD_REQUEST), "{step:?}");

    // Mix-up: a login sent to Bank A, answered by Bank B (the attacker's bank, for the same hub). The state
    // finds Bank A's login; Bank B's answer does not verify as Bank A's.
    let req = AuthReq::new("public", "code", "openid");
    let mut b = Browser::default();
    let to_a = f.send_out(&mut b, &req, "bank-a").await;
    let to_b = to_a.replace(&f.bank_a.base, &f.bank_b.base);
    let back_b = f
        .at_bank(&f.bank_b, &mut Browser::default(), &to_b, "alice")
        .await;
    assert!(back_b.contains("/upstream/callback?response="));
    let step = b.follow(&f.hub, &back_b).await;
    assert!(error_page(&step, StatusCode::BAD_GATEWAY), "{step:?}");
    // No state at all, or a made-up one.
    for q in ["", "?state=made-up", "?response=not.a.jwt"] {
        let step = b
            .follow(&f.hub, &format!("{}/upstream/callback{q}", f.hub.base))
            .await;
        assert!(error_page(&step, StatusCode::BAD_REQUEST), "{q}: {step:?}");
    }
}

#[tokio::test]
async fn the_banks_refusal_is_a_clean_error_page() {
    let f = Federation::start().await;
    let req = AuthReq::new("public", "code", "openid");
    let mut b = Browser::default();
    let to_bank = f.send_out(&mut b, &req, "bank-a").await;
    let mut bb = Browser::default();
    let Step::Login(page) = bb.follow(&f.bank_a, &to_bank).await else {
        panic!("bank login")
    };
    let Step::Consent(page) = bb.login(&f.bank_a, &page, "alice").await else {
        panic!("bank consent")
    };
    let back = bb
        .submit(&f.bank_a, &page, "/consent", &[("decision", "deny")])
        .await;
    let step = b.follow(&f.hub, back.location()).await;
    let Step::ErrorPage(status, body) = step else {
        panic!("expected an error page")
    };
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("Bank A did not sign you in"), "{body}");
}

#[tokio::test]
async fn a_relying_party_refuses_an_unconfigured_issuer_and_a_mixed_up_answer() {
    // The relying party side of the selector: `portcullis-rp` with both banks as issuers.
    let f = Federation::start().await;
    let config = portcullis_rp::ClientConfig::new(
        "rp",
        RP_CALLBACK,
        portcullis_rp::ClientAuth::PrivateKeyJwt(Box::new(f.rp_key.clone())),
    )
    .issuer(&f.bank_a.base)
    .issuer(&f.bank_b.base);
    let rp = portcullis_rp::RelyingParty::new(config).unwrap();
    let opts = portcullis_rp::AuthOptions::default();
    // A forged `iss` naming an issuer the relying party does not know: refused before any request.
    let forged = "iss=https%3A%2F%2Fevil.example&idp_id=bank-a";
    assert!(matches!(
        rp.begin_initiated(forged, &opts).await,
        Err(portcullis_rp::RpError::UnknownIssuer(_))
    ));
    // The selector chose Bank A: the login starts there with JARM and the idp_id.
    let q = format!("iss={}&idp_id=bank-a", urlencode(&f.bank_a.base));
    let (url, session, _) = rp.begin_initiated(&q, &opts).await.unwrap();
    assert!(url.starts_with(&f.bank_a.base));
    assert_eq!(params_of(&url)["response_mode"], "jwt");
    assert_eq!(params_of(&url)["idp_id"], "bank-a");
    // Mix-up: the browser is made to sign in at Bank B instead; Bank B's answer is refused for Bank A's login.
    let at_b = url.replace(&f.bank_a.base, &f.bank_b.base);
    let back = f
        .at_bank(&f.bank_b, &mut Browser::default(), &at_b, "alice")
        .await;
    let cb = portcullis_rp::Callback::from_url(&back).unwrap();
    assert!(rp.complete(&session, &cb).await.is_err());
    // The real thing completes.
    let (url, session, _) = rp.begin_initiated(&q, &opts).await.unwrap();
    let back = f
        .at_bank(&f.bank_a, &mut Browser::default(), &url, "alice")
        .await;
    let login = rp
        .complete(&session, &portcullis_rp::Callback::from_url(&back).unwrap())
        .await
        .unwrap();
    assert!(!login.subject().is_empty());
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
