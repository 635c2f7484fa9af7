//! The background purge (`Store::purge_expired`): what can no longer be used is deleted — rows of
//! older versions too, found by their expiry — and nothing that still can be, such as a recently expired
//! code kept for replay detection. Grants that keep their access token on their row are
//! `sealed_codes`'.

use crate::common::*;

every_case!(expired_rows_are_purged);

/// The background purge deletes what can no longer be used, and nothing that still can.
async fn expired_rows_are_purged(op: &Op) {
    use portcullis_op::store::{CodeRow, GrantRow, PendingRow, SessionRow, TokenKey};
    let store = &op.provider.store;
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    let now = portcullis_op::now();
    // Issued `age` seconds ago: their keys and ids carry that time.
    let ms = |age: i64| ((now - age) * 1000) as u64;
    let grant = |age: i64| GrantRow {
        id: portcullis_op::time_ordered_id_at(ms(age)),
        client_id: "public".into(),
        user_id: Some(alice.id.clone()),
        scope: "openid".into(),
        claims: None,
        auth_time: Some(now - age),
        nonce: None,
        sid: None,
        cnf: None,
        revoked: false,
        authn: None,
    };
    let code_row = |g: &GrantRow, exp: i64| CodeRow {
        grant_id: g.id.clone(),
        client_id: "public".into(),
        redirect_uri: Some(RP.into()),
        code_challenge: None,
        code_challenge_method: None,
        expires_at: exp,
    };
    // Old grant, everything expired: code, access token — all go, and the grant with them.
    let (old, old_code, old_at) = (
        grant(7200),
        portcullis_op::new_token_at(ms(7200)),
        portcullis_op::new_token_at(ms(7200)),
    );
    // Old grant with a live refresh token: stays.
    let (kept, rt) = (grant(7200), portcullis_op::new_token_at(ms(7200)));
    // Rows of versions before time-ordered keys: a grant with a random id, its code and tokens under bare
    // hashes. The expired ones go too (found by expiry), the live refresh token stays and keeps its grant.
    let legacy_grant = |age: i64| GrantRow {
        id: portcullis_op::random_token(),
        ..grant(age)
    };
    let (legacy_old, legacy_kept) = (legacy_grant(7200), legacy_grant(7200));
    let (l_code, l_at, l_rt) = (
        portcullis_op::new_token(),
        portcullis_op::new_token(),
        portcullis_op::new_token(),
    );
    for (g, kc, ka) in [
        (&old, TokenKey::of(&old_code).key, TokenKey::of(&old_at).key),
        (
            &legacy_old,
            TokenKey::of(&l_code).legacy,
            TokenKey::of(&l_at).legacy,
        ),
    ] {
        store
            .issue(
                g,
                Some((&kc, &code_row(g, now - 7000))),
                Some((&ka, "openid", now - 10, None)),
                None,
                now - 7200,
            )
            .await
            .unwrap();
    }
    for (g, kr) in [
        (&kept, TokenKey::of(&rt).key),
        (&legacy_kept, TokenKey::of(&l_rt).legacy),
    ] {
        store
            .issue(g, None, None, Some((&kr, "openid", now + 1000)), now - 7200)
            .await
            .unwrap();
    }
    // Fresh grant: code expired 10 s ago (still kept for replay detection) and a live access token.
    let (fresh, fresh_code, fresh_at) = (
        grant(0),
        portcullis_op::new_token(),
        portcullis_op::new_token(),
    );
    let (kfc, kfa) = (TokenKey::of(&fresh_code).key, TokenKey::of(&fresh_at).key);
    store
        .issue(
            &fresh,
            Some((&kfc, &code_row(&fresh, now - 10))),
            Some((&kfa, "openid", now + 600, None)),
            None,
            now,
        )
        .await
        .unwrap();
    for (id, exp) in [("gone-session", now - 1), ("live-session", now + 600)] {
        store
            .put_session(
                id,
                &SessionRow {
                    sid: id.into(),
                    user_id: alice.id.clone(),
                    auth_time: now,
                    expires_at: exp,
                    authn: String::new(),
                },
            )
            .await
            .unwrap();
    }
    for (id, exp) in [("gone-pending", now - 1), ("live-pending", now + 600)] {
        store
            .put_pending(&PendingRow {
                id: id.into(),
                kind: "authorize".into(),
                client_id: "public".into(),
                params: String::new(),
                csrf: "x".into(),
                expires_at: exp,
                browser: String::new(),
            })
            .await
            .unwrap();
    }

    let ages = portcullis_op::store::PurgeAges {
        code: 60,
        access_token: 600,
        refresh_token: 3600,
        grant: 3600,
    };
    let c = store.purge_expired(now, &ages).await.unwrap();
    assert_eq!(
        (c.codes, c.access_tokens, c.refresh_tokens, c.grants),
        (2, 2, 0, 2),
        "{c:?}"
    );
    assert!(
        store.grant(&legacy_old.id).await.unwrap().is_none(),
        "old legacy grant purged"
    );
    assert!(
        store.grant(&legacy_kept.id).await.unwrap().is_some(),
        "legacy grant with a live refresh token kept"
    );
    assert!(
        store
            .access_token(&TokenKey::of(&l_at), now - 20)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.consume_code(&TokenKey::of(&l_code)).await.unwrap(),
        portcullis_op::store::Consumed::Unknown
    ));
    assert!(
        store
            .refresh_token_grant(&TokenKey::of(&l_rt), now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(c.sessions >= 1 && c.pending_requests >= 1, "{c:?}");
    assert!(
        store.grant(&old.id).await.unwrap().is_none(),
        "old grant purged"
    );
    assert!(
        store.grant(&kept.id).await.unwrap().is_some(),
        "grant with a live refresh token kept"
    );
    assert!(store.grant(&fresh.id).await.unwrap().is_some());
    assert!(
        store
            .access_token(&TokenKey::of(&old_at), now - 20)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .access_token(&TokenKey::of(&fresh_at), now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .refresh_token_grant(&TokenKey::of(&rt), now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .session("gone-session", now - 10)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.session("live-session", now).await.unwrap().is_some());
    assert!(
        store
            .pending("gone-pending", "authorize", now - 10)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .pending("live-pending", "authorize", now)
            .await
            .unwrap()
            .is_some()
    );
    // The recently expired code is still stored (kept for replay detection); the old one is gone.
    assert!(matches!(
        store
            .consume_code(&TokenKey::of(&fresh_code))
            .await
            .unwrap(),
        portcullis_op::store::Consumed::Fresh(_)
    ));
    assert!(matches!(
        store.consume_code(&TokenKey::of(&old_code)).await.unwrap(),
        portcullis_op::store::Consumed::Unknown
    ));
    // A second run finds nothing more.
    assert_eq!(
        store.purge_expired(now, &ages).await.unwrap(),
        Default::default()
    );
}
