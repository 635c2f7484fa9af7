//! Brokering and the selector under test: two Portcullis instances play the banks (127.0.0.2 and 127.0.0.3, so
//! that a browser keeps their cookies apart from the hub's on 127.0.0.1), and the hub has them as upstream
//! providers (`private_key_jwt`), next to the login bridge. Each bank knows the hub as client `hub` and a
//! relying party as client `rp` (for the selector's third-party initiated logins).
//!
//! Must not: decide whether an answer is right (the tests do).

use portcullis_jose::{Algorithm, Jwk, JwkSet};
use portcullis_op::authn::{BridgeLogin, Methods, PasswordLogin};
use portcullis_op::upstream::{UpstreamConfig, UpstreamLogin};
use serde_json::json;

use crate::common::*;

/// The relying party's redirect URI at the banks and the hub (its `initiate_login_uri` is [`RP_INITIATE`]).
pub const RP_CALLBACK: &str = "https://rp.example/cb";
/// Where the selector sends the browser back to.
pub const RP_INITIATE: &str = "https://rp.example/initiate";

pub struct Federation {
    pub hub: Op,
    pub bank_a: Op,
    pub bank_b: Op,
    /// The relying party's key, registered as client `rp` at the banks (`private_key_jwt`).
    pub rp_key: Jwk,
}

/// A provider on `ip` (a loopback address) with the password method.
async fn bank(ip: &str) -> Op {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port_on(ip);
    let cfg = portcullis_op::Config {
        issuer: format!("http://{ip}:{port}"),
        listen: format!("{ip}:{port}"),
        ..config(dir.path(), port, None)
    };
    Op::start_cfg(cfg, dir).await
}

/// A port on `ip` (127.0.0.2 and up, which only these tests use) that no other test of this process is given:
/// taken from a counter below the ephemeral range, so that two tests asking at once cannot both get the port the
/// kernel just freed (as `bind(0)` then close can).
pub fn free_port_on(ip: &str) -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(21_000);
    loop {
        let port = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(port < 32_000, "out of test ports");
        if std::net::TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
}

/// Registers client `id` at `op` with `key` (`private_key_jwt`) and `redirect`.
pub async fn register(op: &Op, id: &str, key: &Jwk, redirect: &str) {
    portcullis_op::admin::add_client(
        &op.provider.store,
        id,
        &json!({"redirect_uris": [redirect], "token_endpoint_auth_method": "private_key_jwt",
                "jwks": JwkSet::new(vec![key.to_public().unwrap()]).to_map(),
                "scope": "openid email profile"}),
    )
    .await
    .unwrap();
}

/// The hub's configuration of an upstream bank.
pub fn upstream(id: &str, name: &str, issuer: &str, key_file: &std::path::Path) -> UpstreamConfig {
    UpstreamConfig {
        id: id.into(),
        name: name.into(),
        issuer: issuer.into(),
        client_id: "hub".into(),
        private_key_file: Some(key_file.to_owned()),
        client_secret_env: None,
        tls_cert: None,
        tls_key: None,
        scope: "openid email profile".into(),
        claims: Default::default(),
        trust_verified: false,
    }
}

impl Federation {
    /// The banks, then the hub with both as upstreams (and `extra` upstreams).
    pub async fn start_with(extra: Vec<UpstreamConfig>) -> Federation {
        let bank_a = bank("127.0.0.2").await;
        let bank_b = bank("127.0.0.3").await;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let hub_issuer = format!("http://127.0.0.1:{port}");
        let hub_key = Jwk::generate(Algorithm::Es256).unwrap();
        let key_file = dir.path().join("hub-key.json");
        std::fs::write(&key_file, hub_key.to_json()).unwrap();
        let rp_key = Jwk::generate(Algorithm::Es256).unwrap();
        for b in [&bank_a, &bank_b] {
            register(
                b,
                "hub",
                &hub_key,
                &format!("{hub_issuer}/upstream/callback"),
            )
            .await;
            register(b, "rp", &rp_key, RP_CALLBACK).await;
        }
        let mut upstreams = vec![
            upstream("bank-a", "Bank A", &bank_a.base, &key_file),
            upstream("bank-b", "Bank B", &bank_b.base, &key_file),
        ];
        upstreams.extend(extra);
        let cfg = portcullis_op::Config {
            upstreams: upstreams.clone(),
            ..config(dir.path(), port, None)
        };
        let methods = Methods::new(vec![
            Box::new(PasswordLogin),
            Box::new(BridgeLogin::default()),
            Box::new(UpstreamLogin::from_config(&upstreams)),
        ])
        .unwrap();
        let hub = Op::start_methods(cfg, dir, methods).await;
        portcullis_op::admin::add_client(
            &hub.provider.store,
            "selector-rp",
            &json!({"redirect_uris": [RP_CALLBACK], "token_endpoint_auth_method": "none",
                    "initiate_login_uri": RP_INITIATE}),
        )
        .await
        .unwrap();
        Federation {
            hub,
            bank_a,
            bank_b,
            rp_key,
        }
    }

    pub async fn start() -> Federation {
        Self::start_with(Vec::new()).await
    }

    /// From the hub's login page to the bank's: the hub's browser `b` presses "Continue with `upstream`";
    /// the URL of the bank's authorization endpoint.
    pub async fn send_out(&self, b: &mut Browser, req: &AuthReq, upstream: &str) -> String {
        let Step::Login(page) = b.authorize(&self.hub, &req.query()).await else {
            panic!("the hub's login page")
        };
        assert!(page.contains(&format!("value=\"{upstream}\"")), "{page}");
        match b
            .submit(
                &self.hub,
                &page,
                "/upstream/start",
                &[("upstream", upstream)],
            )
            .await
        {
            Step::Redirect(to) => to,
            other => panic!("expected the bank, got {other:?}"),
        }
    }

    /// At `bank`, in its own browser `bb`: sign in as `user` and consent; the URL the bank sends the browser back
    /// to (the hub's callback).
    pub async fn at_bank(&self, bank: &Op, bb: &mut Browser, url: &str, user: &str) -> String {
        let step = bb.follow(bank, url).await;
        match bb.complete(bank, step, user).await {
            Step::Redirect(to) => to,
            other => panic!("expected the way back, got {other:?}"),
        }
    }
}
