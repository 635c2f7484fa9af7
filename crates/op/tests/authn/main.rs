//! The login step over HTTP with two methods: the password and a test-only multi-step method (`code`: begin
//! sends a code out of band, finish checks it). Proves several methods on one page, ceremonies (server-side,
//! single-use, bound, expiring, finished on another node), what the session records (the ID token's `amr`,
//! `acr`, `auth_time`), and step-up that asks only for the missing step.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod account;
mod acr_levels;
mod attacks;
mod attested;
mod autofill;
mod bridge;
mod bridge_claims;
mod bridge_refusals;
mod bridge_support;
mod ceremonies;
mod consents;
mod factor_channels;
mod factor_endpoint;
mod factor_enrol;
mod factor_nodes;
mod factor_review;
mod factor_support;
mod federation;
mod federation_bad_upstream;
mod federation_support;
mod methods;
mod passkey_config;
mod passkey_nodes;
mod passkeys;
mod registration;
mod review_passkeys;
mod review_registration;
mod review_second_factor;
mod second_factor;
mod selector;
mod step_up;
mod synced_policy;
