//! The provider over HTTP on a real loopback socket, one test per rule of the OpenID Foundation's OP
//! conformance plans (named after them where they have a name), on SQLite — and every case again on a
//! throwaway PostgreSQL cluster (`postgres::postgres_every_case`).
//!
//! One module per topic, named for the endpoint or rule one looks for; each says which rules and plans
//! it covers. A *case* is an `async fn(&Op)` that proves its rule on whichever database the provider
//! runs on: its module lists it in `every_case!`, which makes it a test on SQLite
//! (`<module>::sqlite::<case>`) and runs it again on PostgreSQL. Tests that need a provider of their own
//! (another configuration, several nodes) are plain tests in their topic's module. The harness shared
//! with the other test binaries is `tests/common`; helpers only these tests share are in `support`.

/// Makes each listed case of the invoking module a test on SQLite — in a `sqlite` submodule, so the test
/// keeps the case's name — and gives the module an `on_postgres` that runs every listed case again, each
/// on its own database of one cluster (called by `postgres::postgres_every_case`, so a module left out
/// there is dead code, and so is a case left out of the list).
macro_rules! every_case {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let op = crate::common::Op::sqlite().await;
                    super::$name(&op).await;
                }
            )*
        }

        /// Every case of this module again, each on its own database in `pg`.
        pub async fn on_postgres(pg: &crate::common::PgCluster) {
            $(
                {
                    let url = pg.create_db(stringify!($name)).await;
                    let dir = tempfile::tempdir().unwrap();
                    let port = crate::common::free_port();
                    let cfg = crate::common::config(dir.path(), port, Some(url));
                    let op = crate::common::Op::start_cfg(cfg, dir).await;
                    assert_eq!(op.provider.store.kind(), portcullis_op::store::DbKind::Postgres);
                    eprintln!("postgres: {}", stringify!($name));
                    $name(&op).await;
                }
            )*
        }
    };
}

#[path = "../common/mod.rs"]
mod common;
mod support;

mod authorize;
mod authorize_flows;
mod bad_input;
mod client_auth;
mod discovery;
mod login_consent;
mod logout;
mod par;
mod postgres;
mod prompts;
mod request_objects;
mod revoke_introspect;
mod sealed_codes;
mod signing_keys;
mod store;
mod store_purge;
mod token_code;
mod token_refresh;
mod userinfo;
