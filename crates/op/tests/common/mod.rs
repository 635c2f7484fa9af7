//! Test harness shared by the provider's integration tests (`conformance`, `authn`, `mtls`, and
//! `bins/provider`'s `durability`): a real provider on a
//! real loopback socket (SQLite in a temp dir, or a throwaway PostgreSQL cluster), an HTTP client that does
//! not follow redirects, and the browser steps (login, consent) done by reading the provider's forms.
//!
//! This module holds what every part shares (the seeded names, what a provider is reached through, its
//! configuration); the parts live in submodules and are re-exported here, so `use common::*` brings all.
//! Nothing here asserts a rule of the provider beyond what a helper needs to go on (`Cache-Control` on
//! token responses, `state` and `iss` in a code flow): the rules are proved by the tests.
// Each test binary that includes this module uses a different part of it.
#![allow(dead_code, unused_imports)]

mod browser;
mod flows;
mod postgres;
mod provider;

pub use browser::*;
pub use flows::*;
pub use postgres::*;
pub use provider::*;

use portcullis_jose::Algorithm;
use portcullis_op::Config;

pub const PASSWORD: &str = "correct horse battery";
pub const RP: &str = "https://rp.example/cb";

/// Anything the browser and token helpers can talk to: an in-process provider or a spawned binary.
pub trait Target {
    fn base(&self) -> &str;
    fn http(&self) -> &reqwest::Client;
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }
}

/// A provider reached only over HTTP (a spawned `portcullis-provider`).
pub struct Remote {
    pub base: String,
    pub http: reqwest::Client,
}

impl Remote {
    pub fn new(base: &str) -> Remote {
        Remote {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }
}

impl Target for Remote {
    fn base(&self) -> &str {
        &self.base
    }
    fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn config(dir: &std::path::Path, port: u16, database_url: Option<String>) -> Config {
    Config {
        issuer: format!("http://127.0.0.1:{port}"),
        listen: format!("127.0.0.1:{port}"),
        data_dir: dir.to_owned(),
        database_url,
        demo: false,
        ..Config::default()
    }
}

pub const ALGS: [Algorithm; 4] = [
    Algorithm::Es256,
    Algorithm::Rs256,
    Algorithm::Ps256,
    Algorithm::EdDsa,
];
