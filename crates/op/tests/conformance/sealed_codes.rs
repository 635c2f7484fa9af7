//! Sealed codes (`portcullis_op::sealing`): a code issued without an access token carries its grant
//! and nothing is stored until it is redeemed; tampered and foreign codes are refused; the store redeems
//! one exactly once; and the access token of that first redemption is kept on its grant's row. Codes in
//! general are `token_code`'s.

use crate::common::*;
use crate::support::{code_tokens, one_redemption_wins};
use futures_util::future::join_all;
use reqwest::StatusCode;

every_case!(
    sealed_codes_store_their_grant_when_redeemed,
    sealed_code_redemption_stores_once,
    access_tokens_kept_on_their_grant
);

/// A code issued without an access token is sealed: it carries its grant, nothing is stored until it is
/// redeemed, and then its grant is stored under the id it carries. A code that does not open under this
/// database's key (tampered, or sealed under another key) is refused and stores nothing. Responses with an
/// access token, and grants too big to seal, keep stored codes; both kinds redeem once.
async fn sealed_codes_store_their_grant_when_redeemed(op: &Op) {
    let store = &op.provider.store;
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let step = b.authorize(op, &req.query()).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    let code = cb["code"].clone();
    assert!(code.starts_with("c1."), "{code}");
    let grant_id = op.provider.sealed_code_grant(&code).expect("opens");
    assert!(
        store.grant(&grant_id).await.unwrap().is_none(),
        "nothing stored before the redemption"
    );

    // Tampered: every position of the sealed part changed in turn is refused, and stores nothing.
    let body = &code[3..];
    for i in [0, body.len() / 3, body.len() / 2, body.len() - 2] {
        let mut bytes = body.as_bytes().to_vec();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let bad = format!("c1.{}", String::from_utf8(bytes).unwrap());
        let (s, err) = redeem(op, &bad, req.verifier.as_str()).await;
        assert_eq!(
            (s, err["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "position {i}"
        );
    }
    // The same contents sealed under another key: refused.
    let other = portcullis_op::sealing::CodeSealer::from_key(&[9; 32]).unwrap();
    let mut contents = sample_contents(&grant_id);
    contents.user_id = store.user_by_name("alice").await.unwrap().unwrap().id;
    contents.code_challenge = Some((
        portcullis_pkce::CodeChallenge::s256(&req.verifier)
            .as_str()
            .to_owned(),
        "S256".into(),
    ));
    let foreign = other.seal(&contents).unwrap();
    let (s, err) = redeem(op, &foreign, req.verifier.as_str()).await;
    assert_eq!(
        (s, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // Truncated, and a stored-looking prefix with garbage: refused.
    for bad in [&code[..code.len() - 4], "c1.", "c1.!!!!"] {
        let (s, err) = redeem(op, bad, req.verifier.as_str()).await;
        assert_eq!(
            (s, err["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{bad}"
        );
    }
    assert!(store.grant(&grant_id).await.unwrap().is_none());

    // The real one redeems; its grant is stored now, live, with the request's nonce.
    let (s, tokens) = redeem(op, &code, req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    let grant = store.grant(&grant_id).await.unwrap().expect("stored");
    assert!(!grant.revoked);
    assert_eq!(grant.client_id, "public");
    assert_eq!(grant.nonce.as_deref(), Some(req.nonce.as_str()));
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(op, at).await.0, StatusCode::OK);
    // Once.
    let (s, _) = redeem(op, &code, req.verifier.as_str()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(store.grant(&grant_id).await.unwrap().unwrap().revoked);
    assert_eq!(userinfo(op, at).await.0, StatusCode::UNAUTHORIZED);

    // With an access token beside the code (hybrid): a stored code, redeemed once.
    let req = AuthReq::new("public", "code token", "openid");
    let step = b.authorize(op, &req.query()).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    assert!(!cb["code"].starts_with("c1."), "{}", cb["code"]);
    assert!(op.provider.sealed_code_grant(&cb["code"]).is_none());
    assert_eq!(
        redeem(op, &cb["code"], req.verifier.as_str()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        redeem(op, &cb["code"], req.verifier.as_str()).await.0,
        StatusCode::BAD_REQUEST
    );

    // A grant too big to seal (a long `claims` request, of a claim the client may get): a stored code,
    // redeemed once.
    let claims = format!(
        "{{\"userinfo\":{{\"email\":{{\"value\":\"{}\"}}}}}}",
        "x".repeat(3000)
    );
    let req = AuthReq::new("public", "code", "openid").set("claims", &claims);
    let step = b.authorize(op, &req.query()).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    assert!(!cb["code"].starts_with("c1."), "{}", cb["code"]);
    assert_eq!(
        redeem(op, &cb["code"], req.verifier.as_str()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        redeem(op, &cb["code"], req.verifier.as_str()).await.0,
        StatusCode::BAD_REQUEST
    );
}

fn sample_contents(grant_id: &str) -> portcullis_op::sealing::CodeContents {
    portcullis_op::sealing::CodeContents {
        grant_id: grant_id.into(),
        client_id: "public".into(),
        user_id: String::new(),
        scope: "openid".into(),
        claims: None,
        auth_time: portcullis_op::now(),
        nonce: None,
        sid: "sid".into(),
        redirect_uri: RP.into(),
        code_challenge: None,
        expires_at: portcullis_op::now() + 60,
        authn: None,
    }
}

/// The store's side of sealed codes: the first redemption stores the grant and the tokens, any later one
/// (or a concurrent one: exactly one of eight wins) is a replay that stores nothing.
async fn sealed_code_redemption_stores_once(op: &Op) {
    use portcullis_op::store::{Consumed, GrantRow};
    let store = &op.provider.store;
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    let now = portcullis_op::now();
    let grant = || GrantRow {
        id: portcullis_op::time_ordered_id(),
        client_id: "public".into(),
        user_id: Some(alice.id.clone()),
        scope: "openid email".into(),
        claims: None,
        auth_time: Some(now),
        nonce: Some("n".into()),
        sid: Some("s".into()),
        cnf: None,
        revoked: false,
        authn: None,
    };
    let tokens = |refresh: bool| code_tokens(now, refresh);
    let g = grant();
    let (t1, ka1, kr1) = tokens(true);
    let Consumed::Fresh(user) = store.redeem_sealed_code(&g, &t1, now).await.unwrap() else {
        panic!("first redemption");
    };
    assert_eq!(user.map(|u| u.id), Some(alice.id.clone()));
    let stored = store.grant(&g.id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.scope.as_str(),
            stored.nonce.as_deref(),
            stored.revoked
        ),
        ("openid email", Some("n"), false)
    );
    let a = store
        .access_token(&ka1, now)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        (
            a.scope.as_str(),
            a.cnf.as_deref(),
            a.expires_at,
            a.grant.id.as_str()
        ),
        ("openid email", Some("thumbprint"), now + 600, g.id.as_str())
    );
    assert!(
        store
            .refresh_token_grant(&kr1, now)
            .await
            .unwrap()
            .is_some()
    );

    // Again: a replay, nothing stored.
    let (t2, ka2, kr2) = tokens(true);
    assert!(matches!(
        store.redeem_sealed_code(&g, &t2, now).await.unwrap(),
        Consumed::Replayed(id) if id == g.id
    ));
    assert!(store.access_token(&ka2, now).await.unwrap().is_none());
    assert!(
        store
            .refresh_token_grant(&kr2, now)
            .await
            .unwrap()
            .is_none()
    );

    // Without a refresh token: only the access token.
    let g2 = grant();
    let (t3, ka3, kr3) = tokens(false);
    assert!(matches!(
        store.redeem_sealed_code(&g2, &t3, now).await.unwrap(),
        Consumed::Fresh(Some(_))
    ));
    assert!(store.access_token(&ka3, now).await.unwrap().is_some());
    assert!(
        store
            .refresh_token_grant(&kr3, now)
            .await
            .unwrap()
            .is_none()
    );

    // Eight redemptions of one code at once: exactly one wins, only its tokens exist.
    let g3 = grant();
    let attempts: Vec<_> = (0..8).map(|_| tokens(true)).collect();
    let results = join_all(
        attempts
            .iter()
            .map(|(t, _, _)| store.redeem_sealed_code(&g3, t, now)),
    )
    .await;
    one_redemption_wins(store, results, &attempts, &g3.id, now, |_| {}).await;
}

/// The access token of a sealed code's first redemption names its grant and is kept on the grant's row:
/// found by its grant id, only with its own secret, while the grant is live and the token unexpired;
/// revoking it clears it from the grant and leaves the grant's refresh token alone.
async fn access_tokens_kept_on_their_grant(op: &Op) {
    use portcullis_op::store::{CodeTokens, Consumed, GrantRow, TokenKey, grant_access_token};
    let store = &op.provider.store;
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    let now = portcullis_op::now();
    let grant = GrantRow {
        id: portcullis_op::time_ordered_id(),
        client_id: "public".into(),
        user_id: Some(alice.id.clone()),
        scope: "openid email".into(),
        claims: None,
        auth_time: Some(now),
        nonce: None,
        sid: None,
        cnf: None,
        revoked: false,
        authn: None,
    };
    let at = grant_access_token(&grant.id);
    let key = TokenKey::of(&at);
    let (_, hash) = key.grant.clone().expect("names its grant");
    let rt = TokenKey::of(&portcullis_op::new_token());
    let stored = CodeTokens {
        access_key: hash,
        access_expires_at: now + 600,
        cnf: Some("thumbprint".into()),
        refresh: Some((rt.key.clone(), now + 6000)),
        access_in_grant: true,
    };
    assert!(matches!(
        store
            .redeem_sealed_code(&grant, &stored, now)
            .await
            .unwrap(),
        Consumed::Fresh(Some(_))
    ));
    let a = store.access_token(&key, now).await.unwrap().expect("found");
    assert_eq!(
        (
            a.grant.id.as_str(),
            a.scope.as_str(),
            a.expires_at,
            a.cnf.as_deref()
        ),
        (
            grant.id.as_str(),
            "openid email",
            now + 600,
            Some("thumbprint")
        )
    );
    assert_eq!(a.user.map(|u| u.id), Some(alice.id.clone()));
    // Not in the access token table.
    assert!(
        store
            .access_token(&TokenKey::of(&portcullis_op::new_token()), now)
            .await
            .unwrap()
            .is_none()
    );
    // Another secret under the same grant id, or another grant's id with this secret: nothing.
    let forged = grant_access_token(&grant.id);
    assert!(
        store
            .access_token(&TokenKey::of(&forged), now)
            .await
            .unwrap()
            .is_none()
    );
    let secret = at.split_once('.').unwrap().1;
    let moved = format!("{}.{secret}", portcullis_op::time_ordered_id());
    assert!(
        store
            .access_token(&TokenKey::of(&moved), now)
            .await
            .unwrap()
            .is_none()
    );
    // Malformed grant-form tokens are plain unknown tokens.
    for bad in [
        format!("{}.{secret}x", grant.id),
        format!("{}.{secret}", &grant.id[..33]),
        format!("{}X.{secret}", &grant.id[..33]),
    ] {
        assert!(TokenKey::of(&bad).grant.is_none(), "{bad}");
        assert!(
            store
                .access_token(&TokenKey::of(&bad), now)
                .await
                .unwrap()
                .is_none()
        );
    }
    // Expired: not found.
    assert!(store.access_token(&key, now + 600).await.unwrap().is_none());
    // Revoked alone (RFC 7009): gone; the refresh token stays.
    store.delete_access_token(&key).await.unwrap();
    assert!(store.access_token(&key, now).await.unwrap().is_none());
    assert!(store.refresh_token_grant(&rt, now).await.unwrap().is_some());
    // A revoked grant's token is not found either.
    let g2 = GrantRow {
        id: portcullis_op::time_ordered_id(),
        ..grant.clone()
    };
    let at2 = grant_access_token(&g2.id);
    let key2 = TokenKey::of(&at2);
    let stored2 = CodeTokens {
        access_key: key2.grant.clone().unwrap().1,
        refresh: None,
        ..stored.clone()
    };
    store.redeem_sealed_code(&g2, &stored2, now).await.unwrap();
    assert!(store.access_token(&key2, now).await.unwrap().is_some());
    store.revoke_grant(&g2.id).await.unwrap();
    assert!(store.access_token(&key2, now).await.unwrap().is_none());

    // The purge keeps a grant (old enough, no token rows) while the token on it is live.
    let ages = portcullis_op::store::PurgeAges {
        code: 60,
        access_token: 600,
        refresh_token: 6000,
        grant: 3600,
    };
    let g3 = GrantRow {
        id: portcullis_op::time_ordered_id(),
        ..grant.clone()
    };
    let key3 = TokenKey::of(&grant_access_token(&g3.id));
    let stored3 = CodeTokens {
        access_key: key3.grant.clone().unwrap().1,
        access_expires_at: now + 10 * 86400,
        refresh: None,
        ..stored.clone()
    };
    store.redeem_sealed_code(&g3, &stored3, now).await.unwrap();
    let later = now + 2 * 3600;
    store.purge_expired(later, &ages).await.unwrap();
    assert!(store.grant(&g3.id).await.unwrap().is_some(), "kept");
    assert!(store.access_token(&key3, later).await.unwrap().is_some());
    let much_later = now + 11 * 86400;
    store.purge_expired(much_later, &ages).await.unwrap();
    assert!(
        store.grant(&g3.id).await.unwrap().is_none(),
        "purged once expired"
    );
}
