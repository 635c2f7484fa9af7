//! Attacks on the provider's hardening, one module per topic, each attack driven over HTTP (or the CLI) with the
//! safe behaviour asserted, and each test named after the rule it proves.
//!
//! Must not: change the provider or weaken what another test proves.

#[path = "../common/mod.rs"]
mod common;

mod claims;
mod earlier;
mod interop;
mod logout;
mod operations;
mod par;
mod request_objects;
mod review;
mod sector;
mod slow_clients;
mod throttling;
