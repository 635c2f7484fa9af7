//! The store's operations called directly, on SQLite and on PostgreSQL: values round-trip exactly, a
//! code's tokens are stored only with its fresh consumption, and rows written by older versions (under
//! bare SHA-256 keys) still work. Sealed codes are `sealed_codes`'; the purge is `store_purge`'s.

use crate::common::*;
use crate::support::{code_tokens, one_redemption_wins};
use futures_util::future::join_all;
use reqwest::StatusCode;

every_case!(
    stored_values_round_trip_exactly,
    code_tokens_stored_only_with_a_fresh_code,
    tokens_stored_under_bare_hashes_still_work
);

/// Values come back from storage exactly as they went in — through the SQLite engine's scripts, which pass
/// every list as a JSON array parameter, and through the PostgreSQL queries: quotes, backslashes, SQL and
/// JSON look-alikes, control characters, non-ASCII text, extreme integers, absent (NULL) values.
async fn stored_values_round_trip_exactly(op: &Op) {
    use portcullis_op::store::{CodeRow, ConsentRow, Consumed, GrantRow, SessionRow, TokenKey};
    let store = &op.provider.store;
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    let now = portcullis_op::now();
    let tricky = "it's \"quoted\" \\ back\\slash'); DROP TABLE grants; -- [1,{\"a\":null}] \n\t\u{7f} é 漢字 🙂";
    for (claims, nonce, auth_time, challenge) in [
        (
            Some(format!("{{\"userinfo\":{{\"x\":\"{}\"}}}}", "\\\"")),
            Some(tricky.to_owned()),
            Some(i64::MAX),
            Some(tricky.to_owned()),
        ),
        (None, None, None, None),
        (
            Some("[]".to_owned()),
            Some(String::new()),
            Some(i64::MIN),
            Some("null".to_owned()),
        ),
    ] {
        let grant = GrantRow {
            id: portcullis_op::time_ordered_id(),
            client_id: "public".into(),
            user_id: Some(alice.id.clone()),
            scope: format!("openid {tricky}"),
            claims: claims.clone(),
            auth_time,
            nonce: nonce.clone(),
            sid: nonce.clone(),
            cnf: nonce.clone(),
            revoked: false,
            authn: None,
        };
        let code_row = CodeRow {
            grant_id: grant.id.clone(),
            client_id: "public".into(),
            redirect_uri: challenge.clone(),
            code_challenge: challenge.clone(),
            code_challenge_method: nonce.clone(),
            expires_at: now + 60,
        };
        let (code, at) = (portcullis_op::new_token(), portcullis_op::new_token());
        let (kc, ka) = (TokenKey::of(&code), TokenKey::of(&at));
        store
            .issue(
                &grant,
                Some((&kc.key, &code_row)),
                Some((&ka.key, tricky, now + 600, nonce.as_deref())),
                None,
                now,
            )
            .await
            .unwrap();
        let Consumed::Fresh(got) = store.consume_code(&kc).await.unwrap() else {
            panic!("the code is fresh");
        };
        assert_eq!(format!("{:?}", got.code), format!("{code_row:?}"));
        let g = got.grant.expect("its grant");
        assert_eq!(format!("{g:?}"), format!("{grant:?}"));
        assert_eq!(got.user.map(|u| u.id), Some(alice.id.clone()));
        let a = store
            .access_token(&ka, now)
            .await
            .unwrap()
            .expect("the token");
        assert_eq!(a.scope, tricky);
        assert_eq!(a.cnf, nonce);
        assert_eq!(a.expires_at, now + 600);
        assert_eq!(format!("{:?}", a.grant), format!("{grant:?}"));
        assert!(matches!(
            store.consume_code(&kc).await.unwrap(),
            Consumed::Replayed(id) if id == grant.id
        ));
    }
    // The authorization endpoint's read: session, user and consent.
    let id_hash = format!("{tricky}-session");
    let sid = format!("{tricky}-sid");
    store
        .put_session(
            &id_hash,
            &SessionRow {
                sid: sid.clone(),
                user_id: alice.id.clone(),
                auth_time: now,
                expires_at: now + 600,
                authn: String::new(),
            },
        )
        .await
        .unwrap();
    store
        .put_consent(
            &alice.id,
            "public",
            &ConsentRow {
                scope: tricky.into(),
                claims: "email payment_details".into(),
            },
        )
        .await
        .unwrap();
    let ctx = store
        .session_context(&id_hash, "public", now)
        .await
        .unwrap()
        .expect("the session");
    assert_eq!(ctx.session.sid, sid);
    let consent = ctx.consent.expect("the consent");
    assert_eq!(consent.scope, tricky);
    assert_eq!(consent.claims, "email payment_details");
    assert_eq!(ctx.user.map(|u| u.id), Some(alice.id.clone()));
    assert!(
        store
            .session_context(&format!("{tricky}-other"), "public", now)
            .await
            .unwrap()
            .is_none()
    );
}

/// The token endpoint's store operation: a code's tokens go in with its consumption, in one transaction,
/// and only for a fresh code whose grant is live. Replays, unknown codes and revoked grants store nothing;
/// of concurrent presentations of one code, only the winner's tokens exist.
async fn code_tokens_stored_only_with_a_fresh_code(op: &Op) {
    use portcullis_op::store::{CodeRow, Consumed, GrantRow, TokenKey};
    let store = &op.provider.store;
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    let now = portcullis_op::now();
    let new_code = |scope: &str| {
        let grant = GrantRow {
            id: portcullis_op::time_ordered_id(),
            client_id: "public".into(),
            user_id: Some(alice.id.clone()),
            scope: scope.into(),
            claims: None,
            auth_time: Some(now),
            nonce: None,
            sid: None,
            cnf: None,
            revoked: false,
            authn: None,
        };
        let code_row = CodeRow {
            grant_id: grant.id.clone(),
            client_id: "public".into(),
            redirect_uri: Some(RP.into()),
            code_challenge: None,
            code_challenge_method: None,
            expires_at: now + 60,
        };
        (grant, code_row, TokenKey::of(&portcullis_op::new_token()))
    };
    let tokens = |refresh: bool| code_tokens(now, refresh);

    // Fresh code, live grant: stored with the grant's scope, bound, with the refresh token.
    let (grant, code_row, kc) = new_code("openid profile");
    store
        .issue(&grant, Some((&kc.key, &code_row)), None, None, now)
        .await
        .unwrap();
    let (t1, ka1, kr1) = tokens(true);
    let Consumed::Fresh(got) = store.consume_code_and_store(&kc, &t1).await.unwrap() else {
        panic!("the code is fresh");
    };
    assert!(got.tokens_stored);
    assert_eq!(
        got.grant.as_ref().map(|g| g.id.as_str()),
        Some(grant.id.as_str())
    );
    let a = store
        .access_token(&ka1, now)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(a.scope, "openid profile");
    assert_eq!(a.cnf.as_deref(), Some("thumbprint"));
    assert_eq!(a.expires_at, now + 600);
    assert_eq!(a.grant.id, grant.id);
    let (g, scope, _) = store
        .refresh_token_grant(&kr1, now)
        .await
        .unwrap()
        .expect("the refresh token is stored");
    assert_eq!(
        (g.id.as_str(), scope.as_str()),
        (grant.id.as_str(), "openid profile")
    );

    // The same code again: a replay, and its tokens are not stored.
    let (t2, ka2, kr2) = tokens(true);
    assert!(matches!(
        store.consume_code_and_store(&kc, &t2).await.unwrap(),
        Consumed::Replayed(id) if id == grant.id
    ));
    assert!(store.access_token(&ka2, now).await.unwrap().is_none());
    assert!(
        store
            .refresh_token_grant(&kr2, now)
            .await
            .unwrap()
            .is_none()
    );

    // An unknown code stores nothing.
    let (t3, ka3, _) = tokens(false);
    let unknown = TokenKey::of(&portcullis_op::new_token());
    assert!(matches!(
        store.consume_code_and_store(&unknown, &t3).await.unwrap(),
        Consumed::Unknown
    ));
    assert!(store.access_token(&ka3, now).await.unwrap().is_none());

    // A fresh code of a revoked grant: consumed, but no tokens.
    let (grant, code_row, kc) = new_code("openid");
    store
        .issue(&grant, Some((&kc.key, &code_row)), None, None, now)
        .await
        .unwrap();
    store.revoke_grant(&grant.id).await.unwrap();
    let (t4, ka4, kr4) = tokens(true);
    let Consumed::Fresh(got) = store.consume_code_and_store(&kc, &t4).await.unwrap() else {
        panic!("the code itself is fresh");
    };
    assert!(!got.tokens_stored);
    assert!(got.grant.is_some_and(|g| g.revoked));
    assert!(store.access_token(&ka4, now).await.unwrap().is_none());
    assert!(
        store
            .refresh_token_grant(&kr4, now)
            .await
            .unwrap()
            .is_none()
    );

    // Eight presentations of one code at once, each with its own tokens: at most one wins (on SQLite,
    // where they share a write batch, exactly one), and only the winner's tokens exist.
    let (grant, code_row, kc) = new_code("openid");
    store
        .issue(&grant, Some((&kc.key, &code_row)), None, None, now)
        .await
        .unwrap();
    let attempts: Vec<_> = (0..8).map(|_| tokens(true)).collect();
    let results = join_all(
        attempts
            .iter()
            .map(|(t, _, _)| store.consume_code_and_store(&kc, t)),
    )
    .await;
    one_redemption_wins(store, results, &attempts, &grant.id, now, |got| {
        assert!(got.tokens_stored)
    })
    .await;
}

/// Codes and tokens stored by versions before time-ordered keys (under their bare SHA-256) still redeem,
/// authorize UserInfo and refresh; new ones carry their issue time and are stored under it.
async fn tokens_stored_under_bare_hashes_still_work(op: &Op) {
    use portcullis_op::store::{CodeRow, GrantRow, TokenKey};
    let store = &op.provider.store;
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    let now = portcullis_op::now();
    // Old-format secrets: 32 random bytes, stored under the bare hash.
    let (code, at, rt) = (
        portcullis_op::random_token(),
        portcullis_op::random_token(),
        portcullis_op::random_token(),
    );
    let req = AuthReq::new("public", "code", "openid offline_access");
    let grant = GrantRow {
        id: portcullis_op::random_token(),
        client_id: "public".into(),
        user_id: Some(alice.id.clone()),
        scope: "openid offline_access".into(),
        claims: None,
        auth_time: Some(now),
        nonce: Some(req.nonce.clone()),
        sid: Some("legacy-sid".into()),
        cnf: None,
        revoked: false,
        authn: None,
    };
    let code_row = CodeRow {
        grant_id: grant.id.clone(),
        client_id: "public".into(),
        redirect_uri: Some(RP.into()),
        code_challenge: Some(
            portcullis_pkce::CodeChallenge::s256(&req.verifier)
                .as_str()
                .to_owned(),
        ),
        code_challenge_method: Some("S256".into()),
        expires_at: now + 60,
    };
    let (hc, ha, hr) = (
        portcullis_op::hash(&code),
        portcullis_op::hash(&at),
        portcullis_op::hash(&rt),
    );
    store
        .issue(
            &grant,
            Some((&hc, &code_row)),
            Some((&ha, "openid offline_access", now + 600, None)),
            Some((&hr, "openid offline_access", now + 600)),
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        userinfo(op, &at).await.0,
        StatusCode::OK,
        "old access token"
    );
    let (s, tokens) = redeem(op, &code, req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::OK, "old code: {tokens}");
    let (s, again) = redeem(op, &code, req.verifier.as_str()).await;
    assert_eq!(
        (s, again["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        userinfo(op, &at).await.0,
        StatusCode::UNAUTHORIZED,
        "the replayed old code revoked its grant"
    );

    // A second old grant for the refresh token (the first is revoked now).
    let grant2 = GrantRow {
        id: portcullis_op::random_token(),
        ..grant.clone()
    };
    let rt2 = portcullis_op::random_token();
    let hr2 = portcullis_op::hash(&rt2);
    store
        .issue(
            &grant2,
            None,
            None,
            Some((&hr2, "openid offline_access", now + 600)),
            now,
        )
        .await
        .unwrap();
    let (s, refreshed) = token(
        op,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt2.as_str()),
            ("client_id", "public"),
        ],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "old refresh token: {refreshed}");
    // What the provider issues now is stored under the time-ordered key.
    let new_at = refreshed["access_token"].as_str().unwrap();
    let k = TokenKey::of(new_at);
    assert_ne!(k.key, k.legacy);
    let ms = u64::from_str_radix(&k.key[..12], 16).unwrap();
    assert!(
        (ms / 1000).abs_diff(now as u64) < 60,
        "issue time in the token"
    );
    assert_eq!(userinfo(op, new_at).await.0, StatusCode::OK);
    // The old refresh token was rotated: its reuse revokes the family.
    let (s, _) = token(
        op,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt2.as_str()),
            ("client_id", "public"),
        ],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(userinfo(op, new_at).await.0, StatusCode::UNAUTHORIZED);
}
