//! `portcullis-provider site ...`: the login bridge's sites (add with a fresh API key, list, rotate the key,
//! remove).
//!
//! Must not: print an API key anywhere but once, at `add` and `rotate-key`.

use clap::Subcommand;
use portcullis_op::bridge_sites;
use portcullis_op::store::{BridgeSiteRow, Store};

#[derive(Subcommand)]
pub enum SiteCmd {
    /// Add (or replace) a site whose users sign in there; prints its API key once, and the postback and
    /// return URLs to give to the site.
    Add {
        /// Site id (a-z, 0-9, '-', '_'), also its idp_id.
        id: String,
        /// The name users see ("Continue with NAME").
        #[arg(long)]
        name: String,
        /// Where the browser is sent to sign in (https; http only on loopback).
        #[arg(long)]
        verify_url: String,
        /// The site's home page.
        #[arg(long)]
        home_url: Option<String>,
        /// Honour the site's no_prompt: its users skip the consent page.
        #[arg(long)]
        trusted: bool,
        /// A file holding the site's public signing key (a JWK): its postbacks must then be signed.
        #[arg(long)]
        signing_key: Option<std::path::PathBuf>,
        /// The claims it may release, space-separated (default: the standard claims).
        #[arg(long, default_value = "")]
        claims: String,
        /// Believe its email_verified and phone_number_verified (else they are dropped).
        #[arg(long)]
        trust_verified: bool,
        /// Replace the site with this id if there is one (its users' accounts stay linked to it: only for the
        /// same site, moved or re-keyed).
        #[arg(long)]
        replace: bool,
    },
    /// List sites (id, name, verify URL, trusted).
    List,
    /// Give a site a new API key (the old one stops working at once); prints it once.
    RotateKey {
        /// Site id.
        id: String,
    },
    /// Remove a site (its pending sign-ins end; the local accounts of its users stay, unlinked).
    Remove {
        /// Site id.
        id: String,
    },
}

fn endpoints(issuer: &str) {
    println!("postback URL: {issuer}/bridge/postback");
    println!("return URL:   {issuer}/bridge/return");
}

/// Runs one `site` command.
pub async fn run(
    store: &Store,
    (issuer, upstream_ids): (&str, &[&str]),
    cmd: SiteCmd,
    now: i64,
) -> Result<(), String> {
    let e = |e: portcullis_op::admin::AdminError| e.to_string();
    match cmd {
        SiteCmd::Add {
            id,
            name,
            verify_url,
            home_url,
            trusted,
            signing_key,
            claims,
            trust_verified,
            replace,
        } => {
            if upstream_ids.iter().any(|u| *u == id) {
                return Err(format!("{id} is an upstream provider's id"));
            }
            let exists = store
                .bridge_site(&id)
                .await
                .map_err(|e| e.to_string())?
                .is_some();
            if exists && !replace {
                return Err(format!(
                    "site {id} exists: give --replace to replace it (its users stay linked to it), or choose \
                     another id"
                ));
            }
            let signing_key = match signing_key {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?,
                ),
                None => None,
            };
            let row = BridgeSiteRow {
                id: id.clone(),
                name,
                verify_url,
                home_url,
                api_key_hash: String::new(),
                trusted,
                signing_key,
                claims,
                trust_verified,
            };
            let key = bridge_sites::add(store, row, now).await.map_err(e)?;
            println!("site {id} added; API key (shown once): {key}");
            crate::audit_cmd::admin(store, "bridge_site_changed", &format!("added {id}")).await;
            endpoints(issuer);
        }
        SiteCmd::List => {
            for s in store.bridge_sites().await.map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\t{}{}{}",
                    s.id,
                    s.name,
                    s.verify_url,
                    if s.trusted { "\ttrusted" } else { "" },
                    if s.signing_key.is_some() {
                        "\tsigned postbacks"
                    } else {
                        ""
                    }
                );
            }
        }
        SiteCmd::RotateKey { id } => {
            let key = bridge_sites::rotate_key(store, &id, now).await.map_err(e)?;
            println!("site {id}: new API key (shown once): {key}");
            crate::audit_cmd::admin(store, "bridge_site_changed", &format!("new key for {id}"))
                .await;
        }
        SiteCmd::Remove { id } => {
            if !store
                .remove_bridge_site(&id)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("no site {id}"));
            }
            println!("site {id} removed");
            crate::audit_cmd::admin(store, "bridge_site_changed", &format!("removed {id}")).await;
        }
    }
    Ok(())
}
