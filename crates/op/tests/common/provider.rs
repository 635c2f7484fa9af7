//! The provider under test, in process: started on a free loopback port over SQLite or PostgreSQL, seeded
//! with the clients and users the tests name, stopped when dropped. It must not drive any flow: that is
//! `browser` and `flows`.

use std::sync::Arc;

use portcullis_jose::JwkSet;
use portcullis_op::{Config, Provider, admin};
use serde_json::json;

use super::{PASSWORD, RP, Target, config, free_port};

impl Target for Op {
    fn base(&self) -> &str {
        &self.base
    }
    fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

pub struct Op {
    pub base: String,
    pub provider: Arc<Provider>,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Op {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Op {
    pub async fn sqlite() -> Op {
        Self::start_with(|c| c).await
    }

    pub async fn start_with(f: impl FnOnce(Config) -> Config) -> Op {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = f(config(dir.path(), port, None));
        Self::start_cfg(cfg, dir).await
    }

    pub async fn start_cfg(cfg: Config, dir: tempfile::TempDir) -> Op {
        Self::start_login(cfg, dir, Box::new(portcullis_op::authn::PasswordLogin)).await
    }

    pub async fn start_login(
        cfg: Config,
        dir: tempfile::TempDir,
        login: Box<dyn portcullis_op::authn::LoginMethod>,
    ) -> Op {
        let op = Self::start_unseeded(cfg, dir, login).await;
        op.seed().await;
        op
    }

    /// A provider offering several login methods, seeded.
    pub async fn start_methods(
        cfg: Config,
        dir: tempfile::TempDir,
        methods: portcullis_op::authn::Methods,
    ) -> Op {
        let op = Self::start_methods_unseeded(cfg, dir, methods).await;
        op.seed().await;
        op
    }

    /// A provider on an existing database (another node of the same deployment): no seeding.
    pub async fn start_unseeded(
        cfg: Config,
        dir: tempfile::TempDir,
        login: Box<dyn portcullis_op::authn::LoginMethod>,
    ) -> Op {
        let methods = portcullis_op::authn::Methods::single(login).expect("a valid login method");
        Self::start_methods_unseeded(cfg, dir, methods).await
    }

    /// [`Op::start_methods`] without seeding (another node of the same deployment).
    pub async fn start_methods_unseeded(
        cfg: Config,
        dir: tempfile::TempDir,
        methods: portcullis_op::authn::Methods,
    ) -> Op {
        let running = portcullis_op::start_with_methods(cfg, methods)
            .await
            .expect("provider starts");
        let base = running.provider.cfg.issuer.clone();
        let provider = running.provider.clone();
        let task = tokio::spawn(async move {
            let _ = running.run().await;
        });
        Op {
            base,
            provider,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            dir,
            task,
        }
    }

    /// Clients and a user used by the tests.
    async fn seed(&self) {
        let store = &self.provider.store;
        let all_rts = json!([
            "code",
            "id_token",
            "id_token token",
            "code id_token",
            "code token",
            "code id_token token"
        ]);
        admin::add_client(
            store,
            "public",
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none", "response_types": all_rts,
                    "grant_types": ["authorization_code", "refresh_token", "implicit"],
                    "post_logout_redirect_uris": ["https://rp.example/bye"],
                    "scope": "openid profile email phone address offline_access avatar payment_details"}),
        )
        .await
        .unwrap();
        admin::add_client_with_secret(
            store,
            "confidential",
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_basic",
                    "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                    "scope": "openid profile email api:read"}),
            "s3cret-s3cret",
        )
        .await
        .unwrap();
        admin::add_client(
            store,
            "pairwise-a",
            &json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none",
                    "subject_type": "pairwise", "require_pkce": true}),
        )
        .await
        .unwrap();
        admin::add_client(
            store,
            "pairwise-b",
            &json!({"redirect_uris": ["https://b.example/cb"], "token_endpoint_auth_method": "none",
                    "subject_type": "pairwise"}),
        )
        .await
        .unwrap();
        admin::add_user(store, "alice", PASSWORD, &admin::demo_claims())
            .await
            .unwrap();
        admin::add_user(store, "bob", PASSWORD, &json!({"name": "Bob"}))
            .await
            .unwrap();
    }

    pub async fn jwks(&self) -> JwkSet {
        let body = self
            .http
            .get(self.url("/jwks"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        JwkSet::from_json(&body).unwrap()
    }
}
