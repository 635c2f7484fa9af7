//! The provider on PostgreSQL: every case of every module again (`postgres_every_case`, each on its
//! own database of one throwaway cluster), and several provider nodes sharing one database. It owns no
//! case: a module's cases reach it through that module's `every_case!`.

use crate::common::*;
use portcullis_jose::JwkSet;
use reqwest::StatusCode;

/// Every case again, each on its own database in one throwaway PostgreSQL cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_every_case() {
    let pg = PgCluster::start();
    crate::discovery::on_postgres(&pg).await;
    crate::signing_keys::on_postgres(&pg).await;
    crate::authorize::on_postgres(&pg).await;
    crate::authorize_flows::on_postgres(&pg).await;
    crate::request_objects::on_postgres(&pg).await;
    crate::par::on_postgres(&pg).await;
    crate::prompts::on_postgres(&pg).await;
    crate::login_consent::on_postgres(&pg).await;
    crate::token_code::on_postgres(&pg).await;
    crate::token_refresh::on_postgres(&pg).await;
    crate::client_auth::on_postgres(&pg).await;
    crate::revoke_introspect::on_postgres(&pg).await;
    crate::logout::on_postgres(&pg).await;
    crate::userinfo::on_postgres(&pg).await;
    crate::bad_input::on_postgres(&pg).await;
    crate::store::on_postgres(&pg).await;
    crate::store_purge::on_postgres(&pg).await;
    crate::sealed_codes::on_postgres(&pg).await;
}

/// Several provider nodes on one PostgreSQL database: a code issued by one node redeems once on another,
/// refresh rotation and reuse detection hold across nodes, and a key rotation made through one node's store
/// is served by the other after its key reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_postgres() {
    let pg = PgCluster::start();
    let url = pg.create_db("shared").await;
    let dir_a = tempfile::tempdir().unwrap();
    let a = Op::start_cfg(config(dir_a.path(), free_port(), Some(url.clone())), dir_a).await;
    let dir_b = tempfile::tempdir().unwrap();
    let port_b = free_port();
    let mut cfg_b = config(dir_b.path(), port_b, Some(url));
    // Same issuer: both nodes are one provider behind a load balancer.
    cfg_b.issuer = a.base.clone();
    // Every node of one deployment has the same key-encryption key.
    cfg_b.kek_file = Some(
        a.provider
            .cfg
            .data_dir
            .join(portcullis_op::data_dir::KEK_FILE),
    );
    let b_node =
        Op::start_unseeded(cfg_b, dir_b, Box::new(portcullis_op::authn::PasswordLogin)).await;
    let b = Remote::new(&format!("http://127.0.0.1:{port_b}"));
    assert_eq!(
        a.jwks().await.keys().len(),
        2 * portcullis_op::keys::FAMILIES.len(),
        "the second node reused the first node's keys"
    );
    let jwks_b = JwkSet::from_json(
        &b.http
            .get(b.url("/jwks"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(jwks_b.keys().len(), 8);

    let mut browser = Browser::default();
    let req = AuthReq::new("public", "code", "openid offline_access");
    let step = browser.authorize(&a, &req.query()).await;
    let cb = browser.complete(&a, step, "alice").await.redirect();
    let (s, t) = redeem(&b, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (s, e) = redeem(&a, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "once, across nodes"
    );
    assert_eq!(
        userinfo(&b, t["access_token"].as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED,
        "revoked everywhere"
    );

    // Refresh on one node, reuse on the other.
    let req = AuthReq::new("public", "code", "openid offline_access");
    let step = browser.authorize(&b, &req.query()).await;
    let cb = browser.complete(&b, step, "alice").await.redirect();
    let (_, t) = redeem(&a, &cb["code"], req.verifier.as_str()).await;
    let rt = t["refresh_token"].as_str().unwrap();
    let body = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", "public"),
    ];
    assert_eq!(token(&b, &body, None).await.0, StatusCode::OK);
    let (s, e) = token(&a, &body, None).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Rotation through one node reaches the other on reload.
    portcullis_op::keys::rotate(&a.provider.store, portcullis_op::now(), 3600)
        .await
        .unwrap();
    b_node.provider.reload_keys().await.unwrap();
    let jwks_b = JwkSet::from_json(
        &b.http
            .get(b.url("/jwks"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        jwks_b.keys().len(),
        3 * portcullis_op::keys::FAMILIES.len(),
        "retired + current + next for each family, served by the other node"
    );
    drop(b_node);
    drop(a);
}
