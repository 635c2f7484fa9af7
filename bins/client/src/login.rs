//! The OpenID Connect verbs: `login`, `discover`, `serve`. Wiring only: the checks live in `portcullis-rp`.
//!
//! Must not: check a login itself (`portcullis-rp` does), or print the access and refresh tokens without
//! `--show-tokens`.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use portcullis_jose::Jwk;
use portcullis_oidc::{ResponseMode, ResponseType};
use portcullis_rp::loopback::LoopbackListener;
use portcullis_rp::{AuthOptions, ClientAuth, ClientConfig, RelyingParty, http_client_builder};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::{Failure, Outcome, print_json, read_input, rejected, usage};

/// How the client is registered and authenticates.
#[derive(Args, Clone)]
pub struct ClientArgs {
    /// client_id.
    #[arg(long)]
    pub client_id: String,
    /// Client secret (client_secret_basic; add --auth post for client_secret_post). A generated secret may
    /// start with `-` (base64url): it is taken as the value, not as an option.
    #[arg(
        long,
        conflicts_with = "key",
        env = "PORTCULLIS_CLIENT_SECRET",
        allow_hyphen_values = true
    )]
    pub client_secret: Option<String>,
    /// With --client-secret: `basic` (default), `post`, or `jwt` (client_secret_jwt: an HS256 assertion).
    #[arg(long, default_value = "basic", value_parser = ["basic", "post", "jwt"])]
    pub auth: String,
    /// A private JWK file: private_key_jwt client authentication (and the request-object signing key).
    #[arg(long)]
    pub key: Option<String>,
    /// PEM client certificate chain for mTLS (tls_client_auth / self_signed_tls_client_auth); needs --tls-key.
    #[arg(long, requires = "tls_key", conflicts_with_all = ["client_secret", "key"])]
    pub tls_cert: Option<String>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<String>,
    /// Extra PEM root certificates to trust (a provider with a private CA).
    #[arg(long)]
    pub ca_file: Option<String>,
    /// Scopes to request (openid is always added).
    #[arg(long, default_value = "openid profile email")]
    pub scope: String,
    /// response_type: code, id_token, "id_token token", "code id_token", "code token", "code id_token token".
    #[arg(long, default_value = "code")]
    pub response_type: String,
    /// response_mode: query, fragment, form_post, jwt, query.jwt, fragment.jwt, form_post.jwt (default: the
    /// response type's).
    #[arg(long)]
    pub response_mode: Option<String>,
    /// Use a pushed authorization request (RFC 9126).
    #[arg(long)]
    pub par: bool,
    /// Send a signed request object (RFC 9101); needs --key.
    #[arg(long)]
    pub request_object: bool,
    /// max_age: the ID token's auth_time must then be recent enough.
    #[arg(long)]
    pub max_age: Option<u64>,
    /// prompt (none, login, consent, select_account, create).
    #[arg(long)]
    pub prompt: Option<String>,
    /// login_hint: the user's identifier (with --register or --second-factor: the relying party's own).
    #[arg(long)]
    pub login_hint: Option<String>,
    /// acr_values (space-separated).
    #[arg(long)]
    pub acr_values: Option<String>,
    /// Create an account with a passkey (prompt=create, OpenID Connect Prompt Create 1.0) for --login-hint:
    /// a signed request object; needs --key.
    #[arg(long, requires_all = ["login_hint", "key"], conflicts_with_all = ["prompt", "acr_values", "second_factor"])]
    pub register: bool,
    /// A second factor for --login-hint, whose password this client checked itself (acr
    /// urn:portcullis:acr:second-factor): a signed request object; needs --key.
    #[arg(long, requires_all = ["login_hint", "key"], conflicts_with_all = ["acr_values", "prompt"])]
    pub second_factor: bool,
}

impl ClientArgs {
    fn options(&self) -> Result<AuthOptions, Failure> {
        let response_type = ResponseType::parse(&self.response_type)
            .map_err(|_| usage(format!("unknown response type {:?}", self.response_type)))?;
        let response_mode = self
            .response_mode
            .as_deref()
            .map(|m| {
                ResponseMode::parse(m).map_err(|_| usage(format!("unknown response mode {m:?}")))
            })
            .transpose()?;
        let base = match (&self.login_hint, self.register, self.second_factor) {
            (Some(account), true, _) => AuthOptions::registration(account),
            (Some(account), _, true) => AuthOptions::second_factor(account),
            _ => AuthOptions {
                login_hint: self.login_hint.clone(),
                acr_values: self.acr_values.clone(),
                prompt: self.prompt.clone(),
                ..AuthOptions::default()
            },
        };
        Ok(AuthOptions {
            response_type: Some(response_type),
            response_mode,
            max_age: self.max_age,
            par: self.par,
            request_object: self.request_object || base.request_object,
            ..base
        })
    }

    fn relying_party(
        &self,
        issuers: &[String],
        redirect_uri: &str,
    ) -> Result<RelyingParty, Failure> {
        let auth = match (&self.client_secret, &self.key, &self.tls_cert) {
            (Some(s), _, _) if self.auth == "post" => {
                ClientAuth::SecretPost(Zeroizing::new(s.clone()))
            }
            (Some(s), _, _) if self.auth == "jwt" => {
                ClientAuth::SecretJwt(Zeroizing::new(s.clone()))
            }
            (Some(s), _, _) => ClientAuth::SecretBasic(Zeroizing::new(s.clone())),
            (None, Some(path), _) => {
                let jwk = Jwk::from_json(read_input(path)?.as_bytes())
                    .map_err(|e| usage(format!("{path}: {e}")))?;
                ClientAuth::PrivateKeyJwt(Box::new(jwk))
            }
            (None, None, Some(_)) => ClientAuth::Tls,
            (None, None, None) => ClientAuth::None,
        };
        let mut builder = http_client_builder();
        if let Some(ca) = &self.ca_file {
            for cert in reqwest::Certificate::from_pem_bundle(read_input(ca)?.as_bytes())
                .map_err(|e| usage(format!("{ca}: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            let pem = format!("{}\n{}", read_input(cert)?, read_input(key)?);
            let id = reqwest::Identity::from_pem(pem.as_bytes())
                .map_err(|e| usage(format!("{cert}: {e}")))?;
            builder = builder.identity(id);
        }
        let http = builder.build().map_err(usage)?;
        let mut config = ClientConfig::new(&self.client_id, redirect_uri, auth)
            .scope(&format!("openid {}", self.scope));
        for i in issuers {
            config = config.issuer(i);
        }
        RelyingParty::with_http_client(config, http).map_err(usage)
    }
}

/// `login`'s own arguments.
#[derive(Args)]
pub struct LoginArgs {
    /// The issuer to log in with.
    #[arg(long)]
    pub issuer: String,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Loopback port of the redirect listener (redirect URI http://127.0.0.1:PORT/callback). By default a
    /// random free port: the provider accepts any port on a native client's loopback redirect URI (RFC 8252
    /// §7.3).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Do not try to open a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Seconds to wait for the browser to come back.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Also print the access and refresh tokens.
    #[arg(long)]
    pub show_tokens: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(usage)
}

fn open_browser(url: &str) {
    let graphical =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if graphical || cfg!(target_os = "macos") {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        let _ = std::process::Command::new(opener)
            .arg(url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}

/// `portcullis-client login`.
pub fn login(a: LoginArgs) -> Outcome {
    let options = a.client.options()?;
    runtime()?.block_on(async {
        let listener = LoopbackListener::bind(a.port).await.map_err(usage)?;
        let rp = a
            .client
            .relying_party(std::slice::from_ref(&a.issuer), &listener.redirect_uri())?;
        let (url, session) = rp.begin(&a.issuer, &options).await.map_err(rejected)?;
        eprintln!("Open this URL in a browser to log in:\n{url}");
        if !a.no_browser {
            open_browser(&url);
        }
        // Only the callback carrying this login's state ends the wait; stray requests are ignored.
        let cb = listener
            .wait(Duration::from_secs(a.timeout), &session.state)
            .await
            .map_err(rejected)?;
        let login = rp.complete(&session, &cb).await.map_err(rejected)?;
        let has_userinfo = rp
            .provider(&a.issuer)
            .await
            .map_err(rejected)?
            .metadata
            .userinfo_endpoint
            .is_some();
        let userinfo = match &login.access_token {
            Some(_) if has_userinfo => {
                Some(rp.userinfo(&a.issuer, &login).await.map_err(rejected)?)
            }
            _ => None,
        };
        let mut out = json!({
            "issuer": a.issuer,
            "id_token_claims": login.claims(),
            "userinfo": userinfo,
            "scope": login.scope,
        });
        if a.show_tokens {
            out["access_token"] = json!(login.access_token);
            out["refresh_token"] = json!(login.refresh_token);
            out["id_token"] = json!(login.id_token_raw);
        }
        print_json(&out);
        Ok(())
    })
}

/// `portcullis-client discover`.
pub fn discover(issuer: &str) -> Outcome {
    runtime()?.block_on(async {
        let http = http_client_builder().build().map_err(usage)?;
        let m = portcullis_rp::discover(&http, issuer)
            .await
            .map_err(rejected)?;
        let v: Value = serde_json::from_str(&m.to_json()).map_err(usage)?;
        print_json(&v);
        Ok(())
    })
}

/// `serve`'s own arguments.
#[derive(Args)]
pub struct ServeArgs {
    /// An issuer to offer; repeat for several (the page then lets the user choose).
    #[arg(long, required = true)]
    pub issuer: Vec<String>,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Port to listen on (127.0.0.1); the redirect URI is http://127.0.0.1:PORT/callback.
    #[arg(long, default_value_t = 8081)]
    pub port: u16,
    /// An identity-provider selector to offer ("Choose how to sign in"): a Portcullis provider's
    /// `/select-accounts` URL. Register http://127.0.0.1:PORT/initiate there as the client's
    /// `initiate_login_uri`.
    #[arg(long)]
    pub selector: Option<String>,
}

/// `portcullis-client serve`: the demo web RP.
pub fn serve(a: ServeArgs) -> Outcome {
    let options = a.client.options()?;
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", a.port))
            .await
            .map_err(|e| usage(format!("cannot listen on 127.0.0.1:{}: {e}", a.port)))?;
        let port = listener.local_addr().map_err(usage)?.port();
        let rp = a
            .client
            .relying_party(&a.issuer, &format!("http://127.0.0.1:{port}/callback"))?;
        let app = match &a.selector {
            Some(selector) => {
                portcullis_rp::demo::router_with_selector(Arc::new(rp), options, selector)
            }
            None => portcullis_rp::demo::router(Arc::new(rp), options),
        };
        eprintln!("Demo relying party on http://127.0.0.1:{port}/ (Ctrl-C to stop)");
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(usage)
    })
}
