//! `portcullis-provider`: run the OpenID Provider, or administer its clients, users and keys.
//!
//! Must not: hold protocol or storage rules (`portcullis-op` does), or panic on a user's mistake: every error ends as
//! one line on stderr and a failure exit code.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use portcullis_op::{Config, admin, keys, open_store};

mod audit_cmd;
mod consents;
mod sites;

/// jemalloc: ~20 % more flows/s than glibc's malloc under load (docs/benchmarks.md), and its dedicated arena for
/// allocations above 8 MiB returns a login's 46 MiB Argon2 buffer to the system right after the hash. Built
/// with unprefixed symbols, so it also serves the C code's `malloc` (SQLite's engine thread spent ~3 % of the
/// process's CPU in glibc's allocator).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "portcullis-provider",
    version,
    about = "The Portcullis OpenID Provider.\n\nWith no subcommand it serves: by default on http://127.0.0.1:8080 with an SQLite \
             database under ./portcullis-data/, a demo client and a demo user. Settings come from the TOML file given \
             by --config, then PORTCULLIS_* environment variables, then these flags."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
struct Global {
    /// TOML configuration file (every key optional; unknown keys are errors). See docs/provider.md.
    #[arg(long, env = "PORTCULLIS_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Issuer identifier (https, or http on loopback; no trailing slash). Default http://127.0.0.1:8080.
    #[arg(long, env = "PORTCULLIS_ISSUER", global = true)]
    issuer: Option<String>,
    /// Address to listen on. Default 127.0.0.1:8080.
    #[arg(long, env = "PORTCULLIS_LISTEN", global = true)]
    listen: Option<String>,
    /// Directory of the embedded SQLite database. Default ./portcullis-data.
    #[arg(long, env = "PORTCULLIS_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DB (several provider nodes may share one PostgreSQL).
    #[arg(long, env = "PORTCULLIS_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Create the demo client and user on first run (true/false). Default true.
    #[arg(long, env = "PORTCULLIS_DEMO", global = true)]
    demo: Option<bool>,
    /// Offer passkeys next to passwords (true/false; needs a domain-name issuer: without --issuer or a
    /// configured one, the issuer becomes http://localhost:PORT). Default false.
    #[arg(long, env = "PORTCULLIS_PASSKEYS", global = true)]
    passkeys: Option<bool>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Manage clients.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Manage the key-encryption key that seals secrets at rest (signing keys, sealing keys, the pairwise
    /// secret).
    #[command(subcommand)]
    Kek(KekCmd),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Manage login-bridge sites (websites whose own login vouches for their users).
    #[command(subcommand)]
    Site(sites::SiteCmd),
    /// List audit events, oldest first.
    Audit {
        /// Only this user's (login name).
        #[arg(long)]
        user: Option<String>,
        /// Since: seconds since the epoch, or an age like 90m, 24h, 7d (default 24h).
        #[arg(long)]
        since: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
}

#[derive(Subcommand)]
enum KekCmd {
    /// Re-seal every secret under a new key-encryption key. With a key file (the default
    /// `portcullis.kek` in the data directory, or `kek_file`) the file is replaced; with PORTCULLIS_KEK the
    /// new key is read from PORTCULLIS_NEW_KEK (then swap the variables on every node).
    Rotate,
    /// Print a fresh key-encryption key (for PORTCULLIS_KEK / PORTCULLIS_NEW_KEK deployments).
    Generate,
}

#[derive(Subcommand)]
enum ClientCmd {
    /// Register (or replace) a client from RFC 7591 metadata JSON; prints the secret once for secret-based methods.
    Add {
        /// client_id
        id: String,
        /// Metadata JSON, e.g. '{"redirect_uris":["https://rp.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}'.
        /// Portcullis members: client_name, scope (allowed scopes), require_pkce (default true), post_logout_redirect_uris.
        metadata: String,
    },
    /// List client ids.
    List,
    /// Remove a client and revoke its grants.
    Remove {
        /// client_id
        id: String,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user.
    Add {
        /// Login name.
        username: String,
        /// Password (at least 8 characters). Prefer PORTCULLIS_PASSWORD to keep it out of the process list.
        #[arg(long, env = "PORTCULLIS_PASSWORD", hide_env_values = true)]
        password: String,
        /// Claims as a JSON object (name, email, picture, address, payment_details, ...).
        #[arg(long, default_value = "{}")]
        claims: String,
    },
    /// List users (id and username).
    List,
    /// Set a user's password.
    SetPassword {
        /// Login name.
        username: String,
        /// New password (or PORTCULLIS_PASSWORD).
        #[arg(long, env = "PORTCULLIS_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// List a user's passkeys (id, name, attested, synced or device-bound, created, last used, AAGUID), or
    /// remove one.
    Passkeys {
        /// Login name.
        username: String,
        /// Remove the passkey with this id (refused when it is the user's last way to sign in).
        #[arg(long)]
        remove: Option<String>,
    },
    /// List a user's step-up factors (authenticator app, e-mail, phone, second password), or reset them.
    Factors {
        /// Login name.
        username: String,
        /// Remove the user's factors (all, or the kind given with --kind) and end their sessions.
        #[arg(long)]
        reset: bool,
        /// With --reset: only this kind (mobile_app, email, sms, second_password).
        #[arg(long, requires = "reset")]
        kind: Option<String>,
    },
    /// List the applications a user has consented to, or withdraw that consent (revoking their tokens).
    Consents {
        /// Login name.
        username: String,
        /// Withdraw the consent given to this client id.
        #[arg(long)]
        revoke: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// List signing keys with their state (next, current, retired).
    List,
    /// Rotate every key family: next starts signing, current retires (still published until its tokens expire),
    /// a new next key is published.
    Rotate,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Check the configuration and print it as TOML.
    Check,
}

fn config(g: &Global) -> Result<Config, String> {
    let mut c = match &g.config {
        Some(path) => Config::from_file(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    if let Some(v) = &g.issuer {
        c.issuer = v.clone();
    }
    if let Some(v) = &g.listen {
        c.listen = v.clone();
    }
    if let Some(v) = &g.data_dir {
        c.data_dir = v.clone();
    }
    if let Some(v) = &g.database_url {
        c.database_url = Some(v.clone());
    }
    if let Some(v) = g.passkeys {
        c.passkeys = v;
        // WebAuthn needs a domain name: the default loopback issuer moves to `localhost` (same port).
        if v && g.issuer.is_none() && c.issuer == Config::default().issuer {
            c.issuer = c.issuer.replace("127.0.0.1", "localhost");
        }
    }
    if let Some(v) = g.demo {
        c.demo = v;
    }
    c.check().map_err(|e| e.to_string())?;
    Ok(c)
}

fn print_next_steps(r: &portcullis_op::Running) {
    let iss = &r.provider.cfg.issuer;
    let scheme = if r.provider.cfg.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("Portcullis provider listening on {scheme}://{}", r.addr);
    println!("  issuer:     {iss}");
    println!("  discovery:  {iss}/.well-known/openid-configuration");
    println!("  database:   {}", redact(&r.provider.cfg.database_url()));
    if let Some(demo) = &r.first_run {
        println!();
        if demo.created {
            println!("First run: created signing keys, the demo client and the demo user.");
        }
        println!(
            "  demo client: {} (public, PKCE S256 required, redirect {})",
            admin::DEMO_CLIENT,
            admin::DEMO_REDIRECT
        );
        match &demo.password {
            Some(pw) => {
                println!("  demo user:   {} / {pw}", admin::DEMO_USER);
                println!(
                    "               (shown this once and never stored; set another with `user set-password`)"
                );
            }
            None => println!(
                "  demo user:   {} (its password was shown when it was created; set another with `user set-password`)",
                admin::DEMO_USER
            ),
        }
        let verifier = portcullis_pkce::CodeVerifier::generate();
        let challenge = portcullis_pkce::CodeChallenge::s256(&verifier);
        let url = format!(
            "{iss}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20profile%20email&state={}&nonce={}&code_challenge={}&code_challenge_method=S256",
            admin::DEMO_CLIENT,
            "http%3A%2F%2F127.0.0.1%3A8081%2Fcallback",
            &portcullis_op::random_token()[..16],
            &portcullis_op::random_token()[..16],
            challenge.as_str()
        );
        if r.provider.cfg.passkeys {
            println!();
            println!("Passkeys (in Chromium, or any browser with passkeys): run the demo web RP,");
            println!(
                "  cargo run --release -p portcullis-client -- serve --issuer {iss} --client-id {}",
                admin::DEMO_CLIENT
            );
            println!(
                "open http://127.0.0.1:8081/, sign in as the demo user, follow \"Your passkeys\" to {iss}/account and"
            );
            println!(
                "add a passkey; sign out at the RP and sign in again with the passkey (the username field offers it)."
            );
        }
        println!();
        println!(
            "Step-up factors (authenticator app, e-mail, phone, second password): {iss}/account/factors once signed in;"
        );
        println!(
            "  codes sent by e-mail and SMS go to {} (docs/step-up.md).",
            match (&r.provider.cfg.smtp_url, &r.provider.cfg.outbox) {
                (Some(_), _) => "the configured SMTP server".to_owned(),
                (None, Some(o)) => o.display().to_string(),
                (None, None) => r
                    .provider
                    .cfg
                    .data_dir
                    .join("outbox.log")
                    .display()
                    .to_string(),
            }
        );
        println!();
        println!("Next: open this authorization URL in a browser and sign in as the demo user:");
        println!("  {url}");
        println!(
            "The browser then lands on {}?code=... (nothing listens there yet); redeem the code within 60 s:",
            admin::DEMO_REDIRECT
        );
        println!(
            "  curl -s {iss}/token -d grant_type=authorization_code -d client_id=demo -d code=CODE --data-urlencode redirect_uri={} -d code_verifier={}",
            admin::DEMO_REDIRECT,
            verifier.as_str()
        );
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_owned(),
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let cfg = config(&cli.global)?;
    let now = portcullis_op::now();
    match cli.command {
        None | Some(Command::Serve) => {
            let running = portcullis_op::start(cfg).await?;
            print_next_steps(&running);
            running.run_until(portcullis_op::stop_signal()).await
        }
        Some(Command::Kek(KekCmd::Generate)) => {
            let kek = portcullis_op::store::Kek::generate().map_err(|e| e.to_string())?;
            println!("{}", kek.text());
            Ok(())
        }
        Some(Command::Kek(KekCmd::Rotate)) => {
            let store = open_store(&cfg).await?;
            let id = portcullis_op::data_dir::rotate_kek(&cfg, store).await?;
            println!("secrets re-sealed under key-encryption key {id}");
            Ok(())
        }
        Some(Command::Config(ConfigCmd::Check)) => {
            println!("{}", toml::to_string(&cfg).map_err(|e| e.to_string())?);
            eprintln!("configuration OK");
            Ok(())
        }
        Some(cmd) => {
            let store = open_store(&cfg).await?;
            let e = |e: admin::AdminError| e.to_string();
            let s = |e: portcullis_op::StoreError| e.to_string();
            match cmd {
                Command::Client(ClientCmd::Add { id, metadata }) => {
                    let m: serde_json::Value = serde_json::from_str(&metadata)
                        .map_err(|err| format!("metadata: {err}"))?;
                    match admin::add_client(&store, &id, &m).await.map_err(e)? {
                        Some(secret) => {
                            println!("client {id} registered; client_secret (shown once): {secret}")
                        }
                        None => println!("client {id} registered"),
                    }
                    audit_cmd::admin(&store, "client_changed", &format!("added {id}")).await;
                }
                Command::Client(ClientCmd::List) => {
                    for id in store.client_ids().await.map_err(s)? {
                        println!("{id}");
                    }
                }
                Command::Client(ClientCmd::Remove { id }) => {
                    if !store.remove_client(&id).await.map_err(s)? {
                        return Err(format!("no client {id}"));
                    }
                    println!("client {id} removed");
                    audit_cmd::admin(&store, "client_changed", &format!("removed {id}")).await;
                }
                Command::User(UserCmd::Add {
                    username,
                    password,
                    claims,
                }) => {
                    let c: serde_json::Value =
                        serde_json::from_str(&claims).map_err(|err| format!("claims: {err}"))?;
                    let id = admin::add_user(&store, &username, &password, &c)
                        .await
                        .map_err(e)?;
                    println!("user {username} added (sub {id})");
                }
                Command::User(UserCmd::List) => {
                    for u in store.users().await.map_err(s)? {
                        println!("{}\t{}", u.id, u.username);
                    }
                }
                Command::User(UserCmd::SetPassword { username, password }) => {
                    admin::set_password(&store, &username, &password)
                        .await
                        .map_err(e)?;
                    println!("password set for {username}");
                }
                Command::User(UserCmd::Passkeys { username, remove }) => match remove {
                    Some(id) => {
                        admin::remove_user_passkey(&store, &username, &id)
                            .await
                            .map_err(e)?;
                        println!("passkey {id} of {username} removed; their sessions ended");
                    }
                    None => {
                        for k in admin::user_passkeys(&store, &username).await.map_err(e)? {
                            println!(
                                "{}\t{}\t{}\tcreated {}\tlast used {}{}{}",
                                k.credential_id,
                                k.name,
                                if k.attested {
                                    "attested"
                                } else if k.backup_eligible {
                                    "synced"
                                } else {
                                    "device-bound"
                                },
                                k.created_at,
                                k.last_used_at.map_or("never".into(), |t| t.to_string()),
                                if k.suspect_clone {
                                    "\tpossible clone: refused"
                                } else {
                                    ""
                                },
                                k.aaguid
                                    .map(|a| format!("\taaguid {a}"))
                                    .unwrap_or_default(),
                            );
                        }
                    }
                },
                Command::User(UserCmd::Factors {
                    username,
                    reset,
                    kind,
                }) => {
                    if reset {
                        let n = admin::reset_user_factors(&store, &username, kind.as_deref())
                            .await
                            .map_err(e)?;
                        println!("{n} factor(s) of {username} removed; their sessions ended");
                    } else {
                        for (kind, at, shown) in
                            admin::user_factors(&store, &username).await.map_err(e)?
                        {
                            println!(
                                "{kind}	enrolled {at}{}",
                                shown.map(|d| format!("	{d}")).unwrap_or_default()
                            );
                        }
                    }
                }
                Command::User(UserCmd::Consents { username, revoke }) => {
                    consents::run(&store, &username, revoke.as_deref()).await?
                }
                Command::Audit { user, since, limit } => {
                    audit_cmd::list(&store, (user.as_deref(), since.as_deref(), limit), now).await?
                }
                Command::Site(cmd) => {
                    let upstreams: Vec<&str> =
                        cfg.upstreams.iter().map(|u| u.id.as_str()).collect();
                    sites::run(&store, (&cfg.issuer, &upstreams), cmd, now).await?
                }
                Command::Keys(KeysCmd::List) => {
                    // Creates the first keys when none exist yet, as the first serve would.
                    keys::KeyRing::load(&store, now, cfg.retired_key_lifetime as i64)
                        .await
                        .map_err(s)?;
                    for k in store.keys().await.map_err(s)? {
                        println!(
                            "{}\t{}\t{}\tcreated {}{}",
                            k.kid,
                            k.family,
                            k.state,
                            k.created_at,
                            k.retired_at
                                .map(|r| format!("\tretired {r}"))
                                .unwrap_or_default()
                        );
                    }
                }
                Command::Keys(KeysCmd::Rotate) => {
                    keys::KeyRing::load(&store, now, cfg.retired_key_lifetime as i64)
                        .await
                        .map_err(s)?;
                    keys::rotate(&store, now, cfg.retired_key_lifetime as i64)
                        .await
                        .map_err(s)?;
                    println!(
                        "rotated: next keys now sign, previous keys stay published for {} s",
                        cfg.retired_key_lifetime
                    );
                    audit_cmd::admin(&store, "key_rotated", "every family").await;
                }
                Command::Serve | Command::Config(_) | Command::Kek(_) => {
                    unreachable!("handled above")
                }
            }
            store.close().await;
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| "warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // PORTCULLIS_LOG_FORMAT=json: one JSON object per line, for log pipelines.
    if std::env::var("PORTCULLIS_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(cli));
    // Blocking work still running (a password hash) gets a moment, not forever.
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
