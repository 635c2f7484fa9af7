//! Step-up on a PostgreSQL deployment of two nodes: the factor tables' statements (upserts, the atomic TOTP step,
//! the counted code tries, the lock, the sending quota, re-keying) on PostgreSQL, and a step begun on one node and
//! finished on the other — where a code used on one node is refused on the other.

use crate::common::*;
use crate::factor_support::*;
use portcullis_op::authn::factors::code::check_code;
use portcullis_op::store::CodeCheck;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn factors_work_across_two_postgresql_nodes() {
    let pg = PgCluster::start();
    let url = pg.create_db("factor_nodes").await;
    let (a, mail) = op_with_factors(|c| portcullis_op::Config {
        database_url: Some(url.clone()),
        ..c
    })
    .await;
    // Node B: the same database, key-encryption key and SMTP server.
    let dir_b = tempfile::tempdir().unwrap();
    let mut cfg_b = config(dir_b.path(), free_port(), Some(url));
    cfg_b.issuer = a.base.clone();
    cfg_b.smtp_url = a.provider.cfg.smtp_url.clone();
    cfg_b.kek_file = Some(
        a.provider
            .cfg
            .data_dir
            .join(portcullis_op::data_dir::KEK_FILE),
    );
    let port_b = cfg_b.listen.rsplit(':').next().unwrap().to_owned();
    let methods = portcullis_op::standard_methods(&cfg_b).unwrap();
    let _b_node = Op::start_methods_unseeded(cfg_b, dir_b, methods).await;
    let node_b = Remote::new(&format!("http://127.0.0.1:{port_b}"));
    let seed = enrol_app(&a, "alice").await;
    enrol(&a, "alice", "email", "alice@example.com").await;
    // Enrolled twice (an upsert on PostgreSQL): the later value stays.
    enrol(&a, "alice", "email", "alice@example.com").await;
    let user = user_id(&a, "alice").await;
    let store = &a.provider.store;

    // A TOTP code used on node A is refused on node B.
    let mut b = Browser::default();
    sign_in(&a, &mut b, "alice").await;
    let code = app_code(&seed);
    let page = ask(&mut b, &a, &factor_query("app", CALLBACK, "mobile_app")).await;
    let ok = post_step(
        &mut b,
        &a,
        page.page(),
        &[("method", "mobile_app"), ("code", &code)],
    )
    .await;
    assert!(ok.back().contains_key("auth_token"));
    let page = ask(&mut b, &a, &factor_query("app", CALLBACK, "mobile_app")).await;
    let again = post_step(
        &mut b,
        &node_b,
        page.page(),
        &[("method", "mobile_app"), ("code", &code)],
    )
    .await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "{again:?}");

    // An e-mailed code sent by node A passes on node B, once.
    let page = ask(&mut b, &a, &factor_query("app", CALLBACK, "email")).await;
    let sent = post_step(
        &mut b,
        &a,
        page.page(),
        &[("method", "email"), ("step", "begin")],
    )
    .await;
    let sent = sent.page().to_owned();
    let code = mail.code_for("alice@example.com").await;
    let ceremony = ceremony_of(&sent);
    let fields = [
        ("method", "email"),
        ("ceremony", &ceremony),
        ("code", &code),
    ];
    let done = post_step(&mut b, &node_b, &sent, &fields).await;
    assert!(done.back().contains_key("auth_token"), "{done:?}");
    assert_eq!(
        check_code(store, (&user, "email"), &code).await.unwrap(),
        CodeCheck::NoCode
    );

    // The statements themselves, on PostgreSQL.
    let t = portcullis_op::now();
    store
        .put_code(&user, "sms", "111111", "+15551234567", t, t + 300)
        .await
        .unwrap();
    store
        .put_code(&user, "sms", "222222", "+15551234567", t, t + 300)
        .await
        .unwrap();
    assert_eq!(
        check_code(store, (&user, "sms"), "111111").await.unwrap(),
        CodeCheck::Wrong
    );
    assert_eq!(
        check_code(store, (&user, "sms"), "222222").await.unwrap(),
        CodeCheck::Accepted {
            destination: "+15551234567".into()
        }
    );
    for _ in 0..10 {
        store.factor_failed(&user, "sms", t, 86_400).await.unwrap();
    }
    assert!(
        store
            .factor_locked(&user, "sms", t, (10, 900))
            .await
            .unwrap()
    );
    store.factor_passed(&user, Some("sms")).await.unwrap();
    assert!(
        !store
            .factor_locked(&user, "sms", t, (10, 900))
            .await
            .unwrap()
    );
    let mut allowed = 0;
    for i in 0..5 {
        if store
            .count_send(&user, t + 100 + i, (3, 3600))
            .await
            .unwrap()
        {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 2, "the e-mailed code counted too");
    assert!(
        !store
            .accept_totp_step(&user, "mobile_app", 0)
            .await
            .unwrap(),
        "an old step"
    );
}
