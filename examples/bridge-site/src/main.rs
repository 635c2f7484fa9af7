//! The example authenticating website, on its own: `cargo run -p portcullis-bridge-site` with
//! `BRIDGE_API_KEY` (from `portcullis-provider site add`), and optionally `PORTCULLIS_ISSUER`
//! (default `http://127.0.0.1:8080`) and `BRIDGE_LISTEN` (default `127.0.0.1:9000`). Its one user is
//! `shopper` / `shopper-password`.
//!
//! Must not: hold the site's logic (the library does).

use portcullis_bridge_site::{Site, User, router};

#[tokio::main]
async fn main() -> Result<(), String> {
    let api_key = std::env::var("BRIDGE_API_KEY").map_err(|_| {
        "set BRIDGE_API_KEY to the key `portcullis-provider site add` printed".to_owned()
    })?;
    let provider =
        std::env::var("PORTCULLIS_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let listen = std::env::var("BRIDGE_LISTEN").unwrap_or_else(|_| "127.0.0.1:9000".into());
    let site = Site {
        provider,
        api_key,
        no_prompt: false,
        users: vec![User::new(
            "shopper",
            "shopper-password",
            serde_json::json!({"name": "Sam Shopper", "email": "sam@shop.example", "email_verified": true}),
        )],
    };
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("{listen}: {e}"))?;
    println!("example site on http://{listen}/verify");
    axum::serve(listener, router(site))
        .await
        .map_err(|e| e.to_string())
}
