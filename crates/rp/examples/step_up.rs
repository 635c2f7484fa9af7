//! The relying party's side of step-up, runnable against the demo provider:
//!
//! ```sh
//! cargo run --release -p portcullis-provider        # in one terminal; sign in once at the demo RP or any client
//! cargo run -p portcullis-rp --example step_up -- http://127.0.0.1:8080 demo http://127.0.0.1:8081/callback SUB
//! ```
//!
//! It prints the `/Factor/Authenticate` URL asking for an authenticator-app code (set one up first at
//! `http://127.0.0.1:8080/account/factors`); open it in the browser where you are signed in, pass the step, and
//! paste the URL the browser lands on (the callback with `auth_token=...`). It then validates the token as a
//! payment would: this client, the app code, at most two minutes old, this step-up's nonce, the user `SUB` (the
//! `sub` of your ID token), once.

use portcullis_rp::{
    ClientAuth, ClientConfig, Factor, InMemoryReplayGuard, RelyingParty, StepUpPolicy,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [issuer, client_id, callback, sub] = args.as_slice() else {
        eprintln!("usage: step_up ISSUER CLIENT_ID CALLBACK SUB");
        std::process::exit(2);
    };
    let rp =
        RelyingParty::new(ClientConfig::new(client_id, callback, ClientAuth::None).issuer(issuer))?;
    let payment = StepUpPolicy::new(&[Factor::MobileApp], Some(120));
    let (url, pending) = rp
        .factor_url(issuer, &format!("{callback}?r=/pay"), &payment.factors)
        .await?;
    println!("Open this in the browser where you are signed in:\n  {url}\n");
    println!("Then paste the address the browser lands on:");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let token = line
        .trim()
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("auth_token="))
        .ok_or("no auth_token in that address")?;
    let used = InMemoryReplayGuard::default();
    let claims = rp
        .verify_auth_token(issuer, token, &payment, (&pending, sub), &used)
        .await?;
    println!(
        "Accepted: {} passed {:?} at {}; the payment may go ahead.",
        claims.sub, claims.auth_factor, claims.iat
    );
    // The same token a second time: refused.
    let again = rp
        .verify_auth_token(issuer, token, &payment, (&pending, sub), &used)
        .await;
    println!(
        "Replayed: {}",
        again.err().map(|e| e.to_string()).unwrap_or_default()
    );
    Ok(())
}
