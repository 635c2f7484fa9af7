//! A passkey ceremony's state lives in the database: begun on one node of a PostgreSQL deployment, it is
//! finished on another; the same answer from another browser is refused on either.
//!
//! Must not: change the provider or weaken what another test proves.

use portcullis_op::authn::{Methods, PasskeyLogin, PasswordLogin};
use reqwest::StatusCode;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::common::*;
use crate::passkeys::{assert_of, begin, login_page, register};

fn methods(cfg: &portcullis_op::Config) -> Methods {
    let passkey = PasskeyLogin::from_config(cfg).unwrap();
    Methods::new(vec![Box::new(PasswordLogin), Box::new(passkey)]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_ceremony_finishes_on_another_node_but_not_in_another_browser() {
    let pg = PgCluster::start();
    let url = pg.create_db("passkey_nodes").await;
    let dir_a = tempfile::tempdir().unwrap();
    let port_a = free_port();
    let cfg_a = portcullis_op::Config {
        issuer: format!("http://localhost:{port_a}"),
        ..config(dir_a.path(), port_a, Some(url.clone()))
    };
    let m = methods(&cfg_a);
    let a = Op::start_methods(cfg_a, dir_a, m).await;
    let dir_b = tempfile::tempdir().unwrap();
    let mut cfg_b = config(dir_b.path(), free_port(), Some(url));
    cfg_b.issuer = a.base.clone();
    cfg_b.kek_file = Some(
        a.provider
            .cfg
            .data_dir
            .join(portcullis_op::data_dir::KEK_FILE),
    );
    let port_b = cfg_b.listen.rsplit(':').next().unwrap().to_owned();
    let m = methods(&cfg_b);
    let _b_node = Op::start_methods_unseeded(cfg_b, dir_b, m).await;
    let node_b = Remote::new(&format!("http://127.0.0.1:{port_b}"));

    let mut key = SoftPasskey::new(true);
    assert!(register(&a, &a.provider.store, "alice", &mut key).await);
    let mut b = Browser::default();
    let page = login_page(&a, &mut b).await;
    let step_page = begin(&a, &mut b, &page, "alice").await;
    let credential = serde_json::to_string(&assert_of(&mut key, &a.base, &step_page)).unwrap();
    let ceremony = hidden(&step_page, "ceremony").unwrap();
    let fields = [
        ("method", "passkey"),
        ("ceremony", ceremony.as_str()),
        ("credential", credential.as_str()),
    ];
    // Another browser with the page's fields: refused, and the ceremony is still there for its own browser.
    let mut other = Browser::default();
    let stolen = other.submit(&node_b, &step_page, "/login", &fields).await;
    assert!(
        matches!(stolen, Step::ErrorPage(StatusCode::FORBIDDEN, _)),
        "{stolen:?}"
    );
    // The browser that began it, on the other node: signed in.
    let done = b.submit(&node_b, &step_page, "/login", &fields).await;
    assert!(
        matches!(done, Step::Consent(_) | Step::Redirect(_)),
        "{done:?}"
    );
}
