//! `portcullis-client factor url` and `factor verify` against the real provider binary: a user sets up an
//! authenticator app on the account page, passes a step-up at `/Factor/Authenticate`, and the CLI validates the
//! Auth Token — once (the replay file), for its own client only, with the factors asked.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::*;
use totp_rs::{Algorithm, Secret, TOTP};

const CALLBACK: &str = "https://app.example/cb";
const NONCE: &str = "step-up-7";

fn client(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis-client"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn code(secret: &str, t: u64) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, "test".into()).generate(t)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The text of the element with `id`.
fn text_of(page: &str, id: &str) -> String {
    let at = page.find(&format!("id=\"{id}\"")).expect(id);
    let start = page[at..].find('>').unwrap() + at + 1;
    let end = page[start..].find('<').unwrap() + start;
    page[start..end].to_owned()
}

/// Signs the demo user in, sets up an app, passes a step-up for `cli`: the Auth Token.
async fn auth_token(p: &Provider) -> String {
    let mut b = Browser::new();
    let verifier = portcullis_pkce::CodeVerifier::generate();
    let challenge = portcullis_pkce::CodeChallenge::s256(&verifier);
    let url = format!(
        "{}/authorize?response_type=code&client_id=cli&redirect_uri={}&scope=openid&state=s&nonce=n&code_challenge={}&code_challenge_method=S256",
        p.issuer,
        "https%3A%2F%2Fapp.example%2Fcb",
        challenge.as_str()
    );
    let _ = b.sign_in(&p.issuer, &url, "demo", &p.password).await;
    let http = b.http.clone();
    let (s, _, page) = b
        .send(http.get(format!("{}/account/factors", p.issuer)))
        .await;
    assert_eq!(s, 200, "{page}");
    let post = |path: &str, fields: &[(&str, &str)]| {
        let mut f = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            f.append_pair(k, v);
        }
        http.post(format!("{}{path}", p.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(f.finish())
    };
    let csrf = hidden(&page, "csrf").unwrap();
    let r = post("/account/factors/app", &[("csrf", &csrf)]);
    let (s, _, setup) = b.send(r).await;
    assert_eq!(s, 200, "{setup}");
    let secret = text_of(&setup, "app-secret");
    let t = now();
    let r = post(
        "/account/factors/app/confirm",
        &[
            ("csrf", &hidden(&setup, "csrf").unwrap()),
            ("code", &code(&secret, t)),
        ],
    );
    let (s, _, done) = b.send(r).await;
    assert_eq!(s, 200, "{done}");
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("redirectUrl", &format!("{CALLBACK}?r=/pay"))
        .append_pair("clientId", "cli")
        .append_pair("factors", "mobile_app")
        .append_pair("nonce", NONCE)
        .finish();
    let (s, _, page) = b
        .send(http.get(format!("{}/Factor/Authenticate?{query}", p.issuer)))
        .await;
    assert_eq!(s, 200, "{page}");
    // The confirming code is used: wait for the app's next one.
    while now() / 30 == t / 30 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let r = http
        .post(format!("{}/Factor/step", p.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("pending", &hidden(&page, "pending").unwrap())
                .append_pair("csrf", &hidden(&page, "csrf").unwrap())
                .append_pair("method", "mobile_app")
                .append_pair("username", "demo")
                .append_pair("code", &code(&secret, now()))
                .finish(),
        );
    let (s, location, body) = b.send(r).await;
    assert_eq!(s, 303, "{body}");
    let location = location.unwrap();
    assert!(
        location.starts_with(&format!("{CALLBACK}?r=/pay&auth_token=")),
        "{location}"
    );
    location.rsplit_once("auth_token=").unwrap().1.to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn factor_verify_accepts_a_token_once_for_its_client_and_factors() {
    let (p, _) = Provider::start(&[(
        "cli",
        json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"}),
    )]);
    let (s, out, err) = client(&[
        "factor",
        "url",
        "--issuer",
        &p.issuer,
        "--client-id",
        "cli",
        "--redirect-url",
        CALLBACK,
        "--factors",
        "mobile_app email",
    ]);
    assert_eq!(s, 0, "{err}");
    let printed: Value = serde_json::from_str(&out).unwrap();
    let url = printed["url"].as_str().unwrap();
    let nonce = printed["nonce"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/Factor/Authenticate?redirectUrl=", p.issuer))
            && url.contains("factors=mobile_app+email")
            && url.contains(&format!("nonce={nonce}")),
        "{url}"
    );
    let token = auth_token(&p).await;
    let replay = p.dir.path().join("used.txt");
    let replay = replay.to_str().unwrap();
    // The user's sub, read (unverified) from the token, to pass as the signed-in user's; a wrong one is refused
    // below.
    let (_, decoded, _) = client(&["jwt", "decode", &token]);
    let decoded: Value = serde_json::from_str(&decoded).unwrap();
    let sub = decoded["claims"]["sub"].as_str().unwrap().to_owned();
    // `--sub=VALUE`: a subject may begin with `-` (ids are random base64url), which a separate argument would
    // make look like an option.
    let verify_as = |client_id: &str, factors: &str, token: &str, (nonce, sub): (&str, &str)| {
        let sub = format!("--sub={sub}");
        let nonce = format!("--nonce={nonce}");
        client(&[
            "factor",
            "verify",
            "--issuer",
            &p.issuer,
            "--client-id",
            client_id,
            "--factors",
            factors,
            "--max-age",
            "120",
            "--replay-file",
            replay,
            &nonce,
            &sub,
            token,
        ])
    };
    let verify = |client_id: &str, factors: &str, token: &str| {
        verify_as(client_id, factors, token, (NONCE, &sub))
    };
    // Another step-up's nonce, another user: refused.
    let (s, _, err) = verify_as("cli", "mobile_app", &token, ("other-nonce", &sub));
    assert_eq!((s, err.contains("nonce")), (1, true), "{err}");
    let (s, _, err) = verify_as("cli", "mobile_app", &token, (NONCE, "someone-else"));
    assert_eq!((s, err.contains("sub")), (1, true), "{err}");
    // The library, in process: a token shown with another step-up's nonce is refused without being spent (the
    // right session can still use it), and then only once.
    {
        use portcullis_rp::{
            ClientAuth, ClientConfig, Factor, InMemoryReplayGuard, PendingStepUp, RelyingParty,
            RpError, StepUpPolicy,
        };
        let rp = RelyingParty::new(
            ClientConfig::new("cli", CALLBACK, ClientAuth::None).issuer(&p.issuer),
        )
        .unwrap();
        let policy = StepUpPolicy::new(&[Factor::MobileApp], Some(120));
        let guard = InMemoryReplayGuard::default();
        let other = PendingStepUp {
            nonce: "other".into(),
        };
        let ours = PendingStepUp {
            nonce: NONCE.into(),
        };
        let wrong = rp
            .verify_auth_token(&p.issuer, &token, &policy, (&other, &sub), &guard)
            .await;
        assert!(
            matches!(wrong, Err(RpError::StepUpMismatch("nonce"))),
            "{wrong:?}"
        );
        let stranger = rp
            .verify_auth_token(&p.issuer, &token, &policy, (&ours, "x"), &guard)
            .await;
        assert!(
            matches!(stranger, Err(RpError::StepUpMismatch("sub"))),
            "{stranger:?}"
        );
        let ok = rp
            .verify_auth_token(&p.issuer, &token, &policy, (&ours, &sub), &guard)
            .await;
        assert!(ok.is_ok(), "{ok:?}");
        let again = rp
            .verify_auth_token(&p.issuer, &token, &policy, (&ours, &sub), &guard)
            .await;
        assert!(matches!(again, Err(RpError::AuthToken(_))), "{again:?}");
    }
    // Another client, or a factor the token does not prove: refused (and not recorded as used).
    let (s, _, err) = verify("other", "mobile_app", &token);
    assert_eq!(s, 1, "{err}");
    let (s, _, err) = verify("cli", "sms", &token);
    assert_eq!((s, err.contains("sms")), (1, true), "{err}");
    let (s, _, err) = verify("cli", "mobile_app", "not.a.token");
    assert_eq!(s, 1, "{err}");
    // The right checks: accepted, with the claims.
    let (s, out, err) = verify("cli", "mobile_app", &token);
    assert_eq!(s, 0, "{err}");
    let claims: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(claims["aud"], "cli");
    assert_eq!(claims["auth_factor"], json!(["mobile_app"]));
    // Once.
    let (s, _, err) = verify("cli", "mobile_app", &token);
    assert_eq!(s, 1);
    assert!(err.contains("already used"), "{err}");
    // Unknown factor keys are a usage error.
    let (s, _, _) = verify("cli", "retina", &token);
    assert_eq!(s, 2);
}
