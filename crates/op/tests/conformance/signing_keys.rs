//! Signing keys: ID tokens in each client's registered `id_token_signed_response_alg`, each
//! published key bound to one algorithm (RFC 8725 §3.1); rotation that publishes the next key before it
//! signs and keeps the retired one verifiable (OpenID Connect Core §10.1.1); keys, clients and users reused
//! by a restart. What the JWKS document contains is `discovery`'s.

use crate::common::*;
use crate::support::expect;
use portcullis_oidc::verify_id_token;
use portcullis_op::admin;
use reqwest::StatusCode;
use serde_json::{Value, json};

every_case!(
    id_token_signed_with_each_registered_alg,
    key_rotation_keeps_old_tokens_verifiable
);

/// ID tokens in the client's registered `id_token_signed_response_alg`, for every algorithm offered; each
/// published key is bound to one algorithm (RFC 8725 §3.1), so a PS256 token is never signed by the RS256 key.
/// (Found by the node `jose` interop test: PS256 once failed because the RSA key carried `alg: RS256`.)
async fn id_token_signed_with_each_registered_alg(op: &Op) {
    for alg in ALGS {
        let id = format!("alg-{}", alg.as_str().to_lowercase());
        admin::add_client(
            &op.provider.store,
            &id,
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none",
                    "id_token_signed_response_alg": alg.as_str()}),
        )
        .await
        .unwrap();
        let mut b = Browser::default();
        let req = AuthReq::new(&id, "code", "openid");
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        let (status, tokens) = token(
            op,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &id),
                ("code", &cb["code"]),
                ("redirect_uri", RP),
                ("code_verifier", req.verifier.as_str()),
            ],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{alg:?}: {tokens}");
        let jwks = op.jwks().await;
        let t = verify_id_token(
            tokens["id_token"].as_str().unwrap(),
            &jwks,
            alg,
            &expect(op, &id, &req.nonce),
        )
        .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(t.header.alg, alg);
        let kid = t.header.kid.clone().unwrap();
        let key = jwks
            .keys()
            .iter()
            .find(|k| k.kid() == Some(kid.as_str()))
            .unwrap();
        assert_eq!(
            key.alg(),
            Some(&portcullis_jose::JwkAlgorithm::Jws(alg)),
            "the signing key is published bound to {alg:?}"
        );
    }
    // Every published key names its algorithm.
    for k in op.jwks().await.keys() {
        assert!(k.alg().is_some(), "{:?} has no alg", k.kid());
    }
}

/// Key rotation: the next key was published before it signs; after `keys rotate` the retired key stays in
/// the JWKS (tokens it signed still verify) until `retired_key_lifetime` has passed.
async fn key_rotation_keeps_old_tokens_verifiable(op: &Op) {
    let mut b = Browser::default();
    let (req, before) = code_flow(op, &mut b, "alice", "openid").await;
    let old_token = before["id_token"].as_str().unwrap().to_owned();
    let jwks_before = op.jwks().await;
    let next_kids: Vec<String> = op
        .provider
        .store
        .keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.state == "next")
        .map(|k| k.kid)
        .collect();
    let store = &op.provider.store;
    portcullis_op::keys::rotate(store, portcullis_op::now(), 3600)
        .await
        .unwrap();
    op.provider.reload_keys().await.unwrap();
    let jwks_after = op.jwks().await;
    assert_eq!(jwks_before.keys().len(), 8);
    assert_eq!(
        jwks_after.keys().len(),
        12,
        "retired + current + next for each family"
    );
    let mut e = expect(op, "public", &req.nonce);
    e.access_token = before["access_token"].as_str();
    verify_id_token(&old_token, &jwks_after, ALGS, &e)
        .expect("tokens of the retired key still verify");
    // New tokens are signed by the key that was published as `next` before the rotation.
    let (req, after) = code_flow(op, &mut b, "alice", "openid").await;
    let t = verify_id_token(
        after["id_token"].as_str().unwrap(),
        &jwks_before,
        ALGS,
        &expect(op, "public", &req.nonce),
    )
    .expect("signed with a key the RP already had");
    assert!(next_kids.contains(t.header.kid.as_ref().unwrap()));
    // Past retired_key_lifetime the retired keys leave the JWKS.
    let ring = portcullis_op::keys::KeyRing::from_rows(
        &store.keys().await.unwrap(),
        portcullis_op::now() + 7200,
        3600,
    )
    .unwrap();
    let v: Value = serde_json::from_str(ring.jwks_json()).unwrap();
    assert_eq!(v["keys"].as_array().unwrap().len(), 8);
}

/// A second start on the same data reuses keys, clients and users (and does not know the demo password: it
/// is never stored); a rotation publishes the next key first and keeps the retired one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reuses_data_and_rotation_keeps_keys_published() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), port, None);
    let running = portcullis_op::start(portcullis_op::Config {
        demo: true,
        ..cfg.clone()
    })
    .await
    .unwrap();
    assert!(running.first_run.as_ref().unwrap().created);
    assert!(running.first_run.as_ref().unwrap().password.is_some());
    let jwks1 = running.provider.store.keys().await.unwrap();
    running.provider.store.close().await;
    drop(running);
    let running = portcullis_op::start(portcullis_op::Config {
        demo: true,
        ..cfg.clone()
    })
    .await
    .unwrap();
    let demo = running.first_run.as_ref().unwrap();
    assert!(!demo.created, "second start reuses the demo data");
    // The demo password is shown once, when the user is created, and never stored.
    assert!(demo.password.is_none());
    let jwks2 = running.provider.store.keys().await.unwrap();
    assert_eq!(
        jwks1.iter().map(|k| &k.kid).collect::<Vec<_>>(),
        jwks2.iter().map(|k| &k.kid).collect::<Vec<_>>()
    );
    let store = running.provider.store.clone();
    let before: Vec<_> = jwks2
        .iter()
        .map(|k| (k.kid.clone(), k.state.clone()))
        .collect();
    portcullis_op::keys::rotate(&store, portcullis_op::now(), 3600)
        .await
        .unwrap();
    let after = store.keys().await.unwrap();
    for (kid, state) in &before {
        let now_state = &after.iter().find(|k| &k.kid == kid).unwrap().state;
        match state.as_str() {
            "current" => assert_eq!(now_state, "retired"),
            "next" => assert_eq!(now_state, "current", "the published next key signs now"),
            _ => {}
        }
    }
    assert_eq!(
        after.iter().filter(|k| k.state == "next").count(),
        portcullis_op::keys::FAMILIES.len()
    );
    running.provider.reload_keys().await.unwrap();
}
