//! `factor url` and `factor verify`: the relying party's side of step-up (`/Factor/Authenticate`) from the
//! command line — the URL that sends a browser to the provider asking for factors, and validating the
//! `auth_token` it comes back with (signature against the provider's JWKS, this client as `aud`, the required
//! factors, a maximum age, single use).
//!
//! Must not: accept a token without a required factor, older than `--max-age`, listed in `--replay-file`, or
//! for another step-up (`--nonce`) or user (`--sub`).

use std::io::Write as _;

use clap::{Args, Subcommand};
use portcullis_rp::{
    ClientAuth, ClientConfig, Factor, InMemoryReplayGuard, PendingStepUp, RelyingParty,
    ReplayGuard, StepUpPolicy, http_client_builder,
};
use serde_json::json;

use crate::{Failure, Outcome, print_json, read_input, read_token, rejected, usage};

/// The provider and client.
#[derive(Args)]
pub struct Target {
    /// The issuer.
    #[arg(long)]
    issuer: String,
    /// This relying party's `client_id` (the token's audience).
    #[arg(long)]
    client_id: String,
    /// Extra trusted roots (PEM) for an https issuer.
    #[arg(long)]
    ca_file: Option<String>,
    /// The factors, space-separated keys: email, sms, mobile_app, second_password, passkey.
    #[arg(long)]
    factors: String,
}

/// `factor` verbs.
#[derive(Subcommand)]
pub enum FactorCommand {
    /// Print `{"url", "nonce"}`: the `/Factor/Authenticate` URL asking for `--factors`, coming back to
    /// `--redirect-url`, and the nonce the token must echo (keep it with the user's session).
    Url {
        #[command(flatten)]
        target: Target,
        /// A callback registered for the client (extra query parameters are kept and returned).
        #[arg(long)]
        redirect_url: String,
    },
    /// Validate an `auth_token` and print its claims; exit 1 when it is refused.
    Verify {
        #[command(flatten)]
        target: Target,
        /// The oldest token accepted, seconds since it was issued (the action's own window).
        #[arg(long)]
        max_age: Option<u64>,
        /// A file of used token ids: a token listed there is refused, an accepted one is added (single use
        /// across runs).
        #[arg(long)]
        replay_file: Option<String>,
        /// The nonce `factor url` printed for this step-up.
        #[arg(long)]
        nonce: String,
        /// The signed-in user's `sub` (from the ID token): the token must be for that user.
        #[arg(long)]
        sub: String,
        /// The token (`-` for stdin).
        token: String,
    },
}

fn factors(list: &str) -> Result<Vec<Factor>, Failure> {
    let out = list
        .split([' ', ','])
        .filter(|k| !k.is_empty())
        .map(|k| Factor::from_key(k).ok_or_else(|| usage(format!("unknown factor {k:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if out.is_empty() {
        return Err(usage("--factors names no factor"));
    }
    Ok(out)
}

fn relying_party(t: &Target) -> Result<RelyingParty, Failure> {
    let mut builder = http_client_builder();
    if let Some(ca) = &t.ca_file {
        for cert in reqwest::Certificate::from_pem_bundle(read_input(ca)?.as_bytes())
            .map_err(|e| usage(format!("{ca}: {e}")))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    let http = builder.build().map_err(usage)?;
    // Step-up uses no redirect URI of its own; the login one is required by the configuration type.
    let config = ClientConfig::new(&t.client_id, "http://127.0.0.1/callback", ClientAuth::None)
        .issuer(&t.issuer);
    RelyingParty::with_http_client(config, http).map_err(usage)
}

/// Token ids in `path` (one per line; a missing file is an empty list).
fn used_ids(path: &str) -> Result<Vec<String>, Failure> {
    match std::fs::metadata(path) {
        Err(_) => Ok(Vec::new()),
        Ok(_) => Ok(read_input(path)?.lines().map(str::to_owned).collect()),
    }
}

/// The replay guard of `factor verify`: the ids in the file, then this run's.
struct FileGuard {
    seen: Vec<String>,
    memory: InMemoryReplayGuard,
}

impl ReplayGuard for FileGuard {
    fn first_use(&self, jti: &str, expires_at: u64, now: u64) -> bool {
        !self.seen.iter().any(|s| s == jti) && self.memory.first_use(jti, expires_at, now)
    }
}

/// Runs a `factor` verb.
pub fn factor(cmd: FactorCommand) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(usage)?;
    match cmd {
        FactorCommand::Url {
            target,
            redirect_url,
        } => {
            let list = factors(&target.factors)?;
            let rp = relying_party(&target)?;
            let (url, pending) = rt
                .block_on(rp.factor_url(&target.issuer, &redirect_url, &list))
                .map_err(rejected)?;
            print_json(&json!({"url": url, "nonce": pending.nonce}));
            Ok(())
        }
        FactorCommand::Verify {
            target,
            max_age,
            replay_file,
            nonce,
            sub,
            token,
        } => {
            let policy = StepUpPolicy::new(&factors(&target.factors)?, max_age);
            let token = read_token(&token)?;
            let guard = FileGuard {
                seen: match &replay_file {
                    Some(p) => used_ids(p)?,
                    None => Vec::new(),
                },
                memory: InMemoryReplayGuard::default(),
            };
            let rp = relying_party(&target)?;
            let claims = rt
                .block_on(rp.verify_auth_token(
                    &target.issuer,
                    &token,
                    &policy,
                    (&PendingStepUp { nonce }, &sub),
                    &guard,
                ))
                .map_err(rejected)?;
            if let Some(path) = &replay_file {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| usage(format!("{path}: {e}")))?;
                writeln!(f, "{}", claims.jti).map_err(|e| usage(format!("{path}: {e}")))?;
            }
            print_json(&json!({
                "iss": claims.iss,
                "sub": claims.sub,
                "aud": claims.aud,
                "iat": claims.iat,
                "exp": claims.exp,
                "jti": claims.jti,
                "auth_factor": claims.auth_factor.iter().map(|f| f.key()).collect::<Vec<_>>(),
                "amr": claims.amr,
            }));
            Ok(())
        }
    }
}
