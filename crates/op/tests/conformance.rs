//! The provider over HTTP on a real loopback socket, one test per rule of the OpenID Foundation's OP
//! conformance plans (named after them where they have a name), on SQLite — and every case again on a
//! throwaway PostgreSQL cluster (`postgres_every_case`).

mod common;

use common::*;
use futures_util::future::join_all;
use portcullis_jose::{Algorithm, AlgorithmSet, Jwk, JwkSet, jwt};
use portcullis_oidc::{AuthorizationResponse, IdTokenExpectations, verify_id_token};
use portcullis_op::admin;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn expect<'a>(op: &'a Op, client: &'a str, nonce: &'a str) -> IdTokenExpectations<'a> {
    IdTokenExpectations {
        issuer: &op.base,
        client_id: client,
        nonce: Some(nonce),
        max_age: None,
        access_token: None,
        access_token_from_front_channel: false,
        code: None,
        leeway: 5,
    }
}

mod cases {
    use super::*;

    /// New tokens to store with a code's redemption (access token bound to a thumbprint, lifetime 600 s; a
    /// refresh token of 6000 s if `refresh`), with the keys to look each up by.
    fn code_tokens(
        now: i64,
        refresh: bool,
    ) -> (
        portcullis_op::store::CodeTokens,
        portcullis_op::store::TokenKey,
        portcullis_op::store::TokenKey,
    ) {
        use portcullis_op::store::{CodeTokens, TokenKey};
        let (at, rt) = (portcullis_op::new_token(), portcullis_op::new_token());
        let (ka, kr) = (TokenKey::of(&at), TokenKey::of(&rt));
        let stored = CodeTokens {
            access_key: ka.key.clone(),
            access_expires_at: now + 600,
            cnf: Some("thumbprint".into()),
            refresh: refresh.then(|| (kr.key.clone(), now + 6000)),
            access_in_grant: false,
        };
        (stored, ka, kr)
    }

    /// Of concurrent redemptions of one code, each with the tokens it tried to store (`attempts`, from
    /// [`code_tokens`]): exactly one is fresh (and passes `winner`) with its tokens stored; every other is a
    /// replay of `grant_id` whose tokens were not stored; none is unknown.
    async fn one_redemption_wins<T>(
        store: &portcullis_op::store::Store,
        results: Vec<Result<portcullis_op::store::Consumed<T>, portcullis_op::store::StoreError>>,
        attempts: &[(
            portcullis_op::store::CodeTokens,
            portcullis_op::store::TokenKey,
            portcullis_op::store::TokenKey,
        )],
        grant_id: &str,
        now: i64,
        winner: impl Fn(&T),
    ) {
        use portcullis_op::store::Consumed;
        let mut winners = 0;
        for (r, (_, ka, kr)) in results.into_iter().zip(attempts) {
            let stored_a = store.access_token(ka, now).await.unwrap().is_some();
            let stored_r = store.refresh_token_grant(kr, now).await.unwrap().is_some();
            match r.unwrap() {
                Consumed::Fresh(got) => {
                    winners += 1;
                    winner(&got);
                    assert!(stored_a && stored_r, "the winner's tokens are stored");
                }
                Consumed::Replayed(id) => {
                    assert_eq!(id, grant_id);
                    assert!(!stored_a && !stored_r, "a replay's tokens are not");
                }
                Consumed::Unknown => panic!("the code exists"),
            }
        }
        assert_eq!(winners, 1, "exactly one redemption wins");
    }

    /// oidcc-server: discovery, code flow with PKCE, ID token verified with the published keys, UserInfo.
    pub async fn oidcc_server_code_flow(op: &Op) {
        let meta: Value = op
            .http
            .get(op.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let parsed =
            portcullis_oidc::ProviderMetadata::parse_for(&op.base, meta.to_string().as_bytes())
                .unwrap();
        assert_eq!(parsed.issuer, op.base);
        let mut b = Browser::default();
        let (req, tokens) = code_flow(op, &mut b, "alice", "openid profile email").await;
        let at = tokens["access_token"].as_str().unwrap();
        let mut e = expect(op, "public", &req.nonce);
        e.access_token = Some(at);
        let idt = verify_id_token(
            tokens["id_token"].as_str().unwrap(),
            &op.jwks().await,
            ALGS,
            &e,
        )
        .unwrap();
        let sub = idt.claims.registered.sub.clone().unwrap();
        assert!(idt.claims.custom.contains_key("auth_time"));
        assert!(idt.claims.custom.contains_key("sid"));
        assert_eq!(idt.header.alg, Algorithm::Es256);
        assert!(tokens["refresh_token"].is_string());
        let (s, info) = userinfo(op, at).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(info["sub"], sub);
        assert_eq!(info["email"], "demo@portcullis.example");
        assert_eq!(info["name"], "Dee Mo");
        assert!(
            info.get("phone_number").is_none(),
            "phone scope not granted"
        );
    }

    /// oidcc-codereuse under concurrency: the same code presented by many requests at once (they land in one
    /// write batch on SQLite) is redeemed exactly once, the other presentations are replays and revoke what the
    /// one success got; distinct codes presented at once all redeem.
    pub async fn oidcc_codereuse_concurrent_presentations(op: &Op) {
        let mut b = Browser::default();
        let req = AuthReq::new("public", "code", "openid");
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        let code = cb["code"].clone();
        let verifier = req.verifier.as_str().to_owned();
        let attempts: Vec<_> = (0..8)
            .map(|_| {
                let (code, verifier) = (code.clone(), verifier.clone());
                async move { redeem(op, &code, &verifier).await }
            })
            .collect();
        let results = join_all(attempts).await;
        let ok: Vec<&Value> = results
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .map(|(_, v)| v)
            .collect();
        // At most one redemption succeeds. Which one depends on timing: on SQLite the presentations of one
        // moment share a write batch and the first wins; on PostgreSQL a replay may revoke the grant before the
        // first presentation has read it, and then every presentation fails — also a correct outcome.
        assert!(ok.len() <= 1, "at most one redemption: {results:?}");
        for (s, v) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
            assert_eq!(*s, StatusCode::BAD_REQUEST);
            assert_eq!(v["error"], "invalid_grant");
        }
        if op.provider.store.kind() == portcullis_op::store::DbKind::Sqlite {
            assert_eq!(ok.len(), 1, "one batch: the first presentation wins");
        }
        for tokens in ok {
            let at = tokens["access_token"].as_str().unwrap();
            assert_eq!(
                userinfo(op, at).await.0,
                StatusCode::UNAUTHORIZED,
                "the replays revoked the one success"
            );
            if let Some(rt) = tokens["refresh_token"].as_str() {
                let (s, err) = token(
                    op,
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", rt),
                        ("client_id", "public"),
                    ],
                    None,
                )
                .await;
                assert_eq!(s, StatusCode::BAD_REQUEST);
                assert_eq!(err["error"], "invalid_grant");
            }
        }

        // Six different codes of the same user, redeemed at once: all succeed, each with its own nonce.
        let mut flows = Vec::new();
        for _ in 0..6 {
            let req = AuthReq::new("public", "code", "openid");
            let step = b.authorize(op, &req.query()).await;
            let cb = b.complete(op, step, "alice").await.redirect();
            flows.push((req, cb["code"].clone()));
        }
        let jwks = op.jwks().await;
        let results = join_all(
            flows
                .iter()
                .map(|(req, code)| async move { redeem(op, code, req.verifier.as_str()).await }),
        )
        .await;
        let mut subs = Vec::new();
        for ((req, _), (s, tokens)) in flows.iter().zip(&results) {
            assert_eq!(*s, StatusCode::OK, "{tokens}");
            let idt = verify_id_token(
                tokens["id_token"].as_str().unwrap(),
                &jwks,
                ALGS,
                &expect(op, "public", &req.nonce),
            )
            .unwrap();
            let sub = idt.claims.registered.sub.clone().unwrap();
            let (s, info) = userinfo(op, tokens["access_token"].as_str().unwrap()).await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(info["sub"], sub);
            subs.push(sub);
        }
        subs.dedup();
        assert_eq!(subs.len(), 1, "one user, one subject");
    }

    /// Codes and tokens stored by versions before time-ordered keys (under their bare SHA-256) still redeem,
    /// authorize UserInfo and refresh; new ones carry their issue time and are stored under it.
    pub async fn tokens_stored_under_bare_hashes_still_work(op: &Op) {
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

    /// Concurrent requests of different users and tokens (on SQLite they share one engine batch) each get
    /// their own answer: prompt=none for two logged-in users and one stranger; UserInfo for valid, revoked,
    /// unknown and malformed tokens at once.
    pub async fn concurrent_requests_get_their_own_answers(op: &Op) {
        let (mut alice, mut bob) = (Browser::default(), Browser::default());
        let (_, ta) = code_flow(op, &mut alice, "alice", "openid").await;
        let (_, tb) = code_flow(op, &mut bob, "bob", "openid").await;
        let sub_of = |t: &Value| {
            portcullis_jose::jws::decode_unverified(t["id_token"].as_str().unwrap())
                .ok()
                .and_then(|u| serde_json::from_slice::<Value>(&u.payload).ok())
                .and_then(|v| v["sub"].as_str().map(str::to_owned))
                .unwrap()
        };
        let (sub_a, sub_b) = (sub_of(&ta), sub_of(&tb));
        assert_ne!(sub_a, sub_b);

        let browsers: Vec<(Browser, Option<&str>)> = (0..4)
            .flat_map(|_| {
                [
                    (alice.clone(), Some(sub_a.as_str())),
                    (bob.clone(), Some(sub_b.as_str())),
                    (Browser::default(), None),
                ]
            })
            .collect();
        let results = join_all(browsers.into_iter().map(|(mut b, want)| async move {
            let req = AuthReq::new("public", "code", "openid").set("prompt", "none");
            let step = b.authorize(op, &req.query()).await;
            (req, step, want)
        }))
        .await;
        let mut redeem_all = Vec::new();
        for (req, step, want) in results {
            let cb = step.redirect();
            match want {
                None => assert_eq!(cb["error"], "login_required"),
                Some(sub) => {
                    assert!(cb.contains_key("code"), "{cb:?}");
                    redeem_all.push((req, cb["code"].clone(), sub));
                }
            }
        }
        let tokens =
            join_all(redeem_all.iter().map(|(req, code, _)| async move {
                redeem(op, code, req.verifier.as_str()).await
            }))
            .await;
        let mut bearer: Vec<(String, StatusCode, Option<String>)> = Vec::new();
        for ((_, _, sub), (s, t)) in redeem_all.iter().zip(tokens) {
            assert_eq!(s, StatusCode::OK, "{t}");
            assert_eq!(&sub_of(&t), sub);
            bearer.push((
                t["access_token"].as_str().unwrap().to_owned(),
                StatusCode::OK,
                Some((*sub).to_owned()),
            ));
        }
        // A revoked token (RFC 7009 by its public client), an unknown one, a malformed one.
        let revoked = ta["access_token"].as_str().unwrap();
        let r = op
            .http
            .post(op.url("/revoke"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={revoked}&client_id=public"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        bearer.push((revoked.to_owned(), StatusCode::UNAUTHORIZED, None));
        bearer.push((portcullis_op::new_token(), StatusCode::UNAUTHORIZED, None));
        bearer.push(("not-a-token".into(), StatusCode::UNAUTHORIZED, None));
        let answers = join_all(bearer.iter().map(|(t, _, _)| userinfo(op, t))).await;
        for ((_, want, sub), (s, info)) in bearer.iter().zip(answers) {
            assert_eq!(s, *want, "{info}");
            if let Some(sub) = sub {
                assert_eq!(info["sub"], sub.as_str());
            }
        }
    }

    /// Values come back from storage exactly as they went in — through the SQLite engine's scripts, which pass
    /// every list as a JSON array parameter, and through the PostgreSQL queries: quotes, backslashes, SQL and
    /// JSON look-alikes, control characters, non-ASCII text, extreme integers, absent (NULL) values.
    /// The token endpoint's store operation: a code's tokens go in with its consumption, in one transaction,
    /// and only for a fresh code whose grant is live. Replays, unknown codes and revoked grants store nothing;
    /// of concurrent presentations of one code, only the winner's tokens exist.
    pub async fn code_tokens_stored_only_with_a_fresh_code(op: &Op) {
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

    pub async fn stored_values_round_trip_exactly(op: &Op) {
        use portcullis_op::store::{CodeRow, Consumed, GrantRow, SessionRow, TokenKey};
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
                },
            )
            .await
            .unwrap();
        store
            .put_consent(&alice.id, "public", tricky)
            .await
            .unwrap();
        let ctx = store
            .session_context(&id_hash, "public", now)
            .await
            .unwrap()
            .expect("the session");
        assert_eq!(ctx.session.sid, sid);
        assert_eq!(ctx.consent.as_deref(), Some(tricky));
        assert_eq!(ctx.user.map(|u| u.id), Some(alice.id.clone()));
        assert!(
            store
                .session_context(&format!("{tricky}-other"), "public", now)
                .await
                .unwrap()
                .is_none()
        );
    }

    /// The background purge deletes what can no longer be used, and nothing that still can.
    pub async fn expired_rows_are_purged(op: &Op) {
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

    /// oidcc-ensure-registered-redirect-uri: an unregistered redirect_uri gets an error page, never a redirect.
    pub async fn oidcc_ensure_registered_redirect_uri(op: &Op) {
        let mut b = Browser::default();
        for bad in [
            "https://attacker.example/cb",
            "https://rp.example/cb/",
            "https://rp.example/cb?x=1",
            "https://RP.example/cb",
        ] {
            let q = AuthReq::new("public", "code", "openid")
                .set("redirect_uri", bad)
                .query();
            match b.authorize(op, &q).await {
                Step::ErrorPage(s, body) => {
                    assert_eq!(s, StatusCode::BAD_REQUEST);
                    assert!(body.contains("redirect_uri"), "{body}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let q = AuthReq::new("public", "code", "openid")
            .without("redirect_uri")
            .query();
        assert!(matches!(
            b.authorize(op, &q).await,
            Step::ErrorPage(StatusCode::BAD_REQUEST, _)
        ));
    }

    /// Unknown client_id: an error page, never a redirect.
    pub async fn oidcc_unknown_client_id(op: &Op) {
        let mut b = Browser::default();
        let q = AuthReq::new("nobody", "code", "openid").query();
        match b.authorize(op, &q).await {
            Step::ErrorPage(s, body) => {
                assert_eq!(s, StatusCode::BAD_REQUEST);
                assert!(body.contains("invalid_client"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// oidcc-codereuse: a code is single use; its second use revokes the tokens issued from it.
    pub async fn oidcc_codereuse_revokes_tokens(op: &Op) {
        let mut b = Browser::default();
        let req = AuthReq::new("public", "code", "openid");
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        let (s, tokens) = redeem(op, &cb["code"], req.verifier.as_str()).await;
        assert_eq!(s, StatusCode::OK);
        let at = tokens["access_token"].as_str().unwrap();
        assert_eq!(userinfo(op, at).await.0, StatusCode::OK);
        let (s, err) = redeem(op, &cb["code"], req.verifier.as_str()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(err["error"], "invalid_grant");
        assert_eq!(
            userinfo(op, at).await.0,
            StatusCode::UNAUTHORIZED,
            "tokens from a replayed code are revoked"
        );
        let rt = tokens["refresh_token"].as_str().unwrap();
        let (s, err) = token(
            op,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("client_id", "public"),
            ],
            None,
        )
        .await;
        assert_eq!(
            (s, err["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    }

    /// A code issued without an access token is sealed: it carries its grant, nothing is stored until it is
    /// redeemed, and then its grant is stored under the id it carries. A code that does not open under this
    /// database's key (tampered, or sealed under another key) is refused and stores nothing. Responses with an
    /// access token, and grants too big to seal, keep stored codes; both kinds redeem once.
    pub async fn sealed_codes_store_their_grant_when_redeemed(op: &Op) {
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

        // A grant too big to seal (a long `claims` request): a stored code, redeemed once.
        let claims = format!("{{\"userinfo\":{{\"{}\":null}}}}", "x".repeat(3000));
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
        }
    }

    /// The store's side of sealed codes: the first redemption stores the grant and the tokens, any later one
    /// (or a concurrent one: exactly one of eight wins) is a replay that stores nothing.
    pub async fn sealed_code_redemption_stores_once(op: &Op) {
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
    pub async fn access_tokens_kept_on_their_grant(op: &Op) {
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

    /// Each user's claims are their own, whichever user's parsed claims the provider reused last.
    pub async fn user_claims_are_each_users_own(op: &Op) {
        for (user, name) in [
            ("alice", "Dee Mo"),
            ("bob", "Bob"),
            ("alice", "Dee Mo"),
            ("bob", "Bob"),
        ] {
            let mut b = Browser::default();
            let req = AuthReq::new("public", "code", "openid profile");
            let step = b.authorize(op, &req.query()).await;
            let cb = b.complete(op, step, user).await.redirect();
            let (s, tokens) = redeem(op, &cb["code"], req.verifier.as_str()).await;
            assert_eq!(s, StatusCode::OK, "{tokens}");
            let (s, info) = userinfo(op, tokens["access_token"].as_str().unwrap()).await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(info["name"], name, "{user}");
        }
    }

    /// The code is bound to the client, the redirect URI and the PKCE challenge.
    pub async fn oidcc_code_bound_to_client_redirect_and_pkce(op: &Op) {
        let mut b = Browser::default();
        let req = AuthReq::new("public", "code", "openid");
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        let code = cb["code"].clone();
        // Another client (authenticated) cannot redeem it. Each failure burns the code? No: binding failures
        // happen after the atomic consume, so the code is gone after the first attempt, as RFC 6749 allows.
        let (s, err) = token(
            op,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", RP),
                ("code_verifier", req.verifier.as_str()),
            ],
            Some(("confidential", "s3cret-s3cret")),
        )
        .await;
        assert_eq!(
            (s, err["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        assert_refusal_revoked_grant(op, &code, "another client").await;
        for (redirect, verifier, what) in [
            ("https://rp.example/other", None, "redirect_uri"),
            (
                RP,
                Some(portcullis_pkce::CodeVerifier::generate()),
                "code_verifier",
            ),
        ] {
            let req = AuthReq::new("public", "code", "openid");
            let step = b.authorize(op, &req.query()).await;
            let cb = b.complete(op, step, "alice").await.redirect();
            let v = verifier
                .as_ref()
                .map(|v| v.as_str().to_owned())
                .unwrap_or_else(|| req.verifier.as_str().to_owned());
            let (s, err) = token(
                op,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &cb["code"]),
                    ("redirect_uri", redirect),
                    ("client_id", "public"),
                    ("code_verifier", &v),
                ],
                None,
            )
            .await;
            assert_eq!(
                (s, err["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_grant")),
                "{what}"
            );
            assert_refusal_revoked_grant(op, &cb["code"], what).await;
        }
        // Missing verifier when a challenge was sent.
        let req = AuthReq::new("public", "code", "openid");
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        let (s, err) = token(
            op,
            &[
                ("grant_type", "authorization_code"),
                ("code", &cb["code"]),
                ("redirect_uri", RP),
                ("client_id", "public"),
            ],
            None,
        )
        .await;
        assert_eq!(
            (s, err["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        assert_refusal_revoked_grant(op, &cb["code"], "missing verifier").await;
    }

    /// A refused redemption consumed the code, and its grant (with the tokens stored along with the
    /// consumption) is revoked.
    /// (A sealed code is consumed when a grant exists under the id it carries.)
    async fn assert_refusal_revoked_grant(op: &Op, code: &str, what: &str) {
        let grant_id = match op.provider.sealed_code_grant(code) {
            Some(g) => g,
            None => {
                let key = portcullis_op::store::TokenKey::of(code);
                let portcullis_op::store::Consumed::Replayed(grant_id) =
                    op.provider.store.consume_code(&key).await.unwrap()
                else {
                    panic!("the refused code was consumed ({what})");
                };
                grant_id
            }
        };
        let Some(grant) = op.provider.store.grant(&grant_id).await.unwrap() else {
            panic!("the refused code was consumed ({what})");
        };
        assert!(
            grant.revoked,
            "{what}: the refused redemption revoked the grant"
        );
    }

    /// The nonce is carried into the ID token and required for implicit and hybrid responses with an ID token.
    pub async fn oidcc_nonce_required_for_implicit_and_hybrid(op: &Op) {
        let mut b = Browser::default();
        for rt in [
            "id_token",
            "id_token token",
            "code id_token",
            "code id_token token",
        ] {
            let q = AuthReq::new("public", rt, "openid")
                .without("nonce")
                .query();
            let cb = b.authorize(op, &q).await.redirect();
            assert_eq!(cb["error"], "invalid_request", "{rt}");
            assert!(cb.contains_key("iss"));
        }
        // code alone does not need one.
        let q = AuthReq::new("public", "code", "openid")
            .without("nonce")
            .query();
        assert!(matches!(b.authorize(op, &q).await, Step::Login(_)));
    }

    /// oidcc-response-type-missing: the error goes back to the (registered) redirect URI.
    pub async fn oidcc_response_type_missing(op: &Op) {
        let mut b = Browser::default();
        let req = AuthReq::new("public", "code", "openid").without("response_type");
        let cb = b.authorize(op, &req.query()).await.redirect();
        assert_eq!(cb["error"], "invalid_request");
        assert_eq!(cb["state"], req.state);
        let cb = b
            .authorize(op, &AuthReq::new("public", "token", "openid").query())
            .await
            .redirect();
        assert_eq!(cb["error"], "unsupported_response_type");
    }

    /// oidcc-unknown-parameters: unknown parameters are ignored.
    pub async fn oidcc_unknown_parameters_ignored(op: &Op) {
        let mut b = Browser::default();
        let req = AuthReq::new("public", "code", "openid")
            .set("x_extra", "whatever")
            .set("foo", "bar");
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        assert!(cb.contains_key("code"));
    }

    /// oidcc-ensure-request-with-acr-values-succeeds and essential acr (OIDC Core §5.5.1.1): voluntary acr values
    /// the provider does not have still succeed (with its acr); an essential acr it cannot produce is
    /// `unmet_authentication_requirements`, sent before any login; an essential acr it has is satisfied.
    pub async fn oidcc_acr_voluntary_and_essential(op: &Op) {
        let ours = "urn:portcullis:acr:password";
        let mut b = Browser::default();
        let req = AuthReq::new("public", "code", "openid").set("acr_values", "urn:other:gold");
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        let (s, t) = redeem(op, &cb["code"], req.verifier.as_str()).await;
        assert_eq!(s, StatusCode::OK);
        let jwks = op.jwks().await;
        let idt = verify_id_token(
            t["id_token"].as_str().unwrap(),
            &jwks,
            ALGS,
            &expect(op, "public", &req.nonce),
        )
        .unwrap();
        assert_eq!(idt.claims.custom["acr"], ours);

        let claims = |values: &[&str], essential: bool| {
            json!({"id_token": {"acr": {"essential": essential, "values": values}}}).to_string()
        };
        // Essential and unavailable: refused, without showing a login page.
        let req = AuthReq::new("public", "code", "openid")
            .set("claims", &claims(&["urn:other:gold"], true));
        let cb = Browser::default()
            .authorize(op, &req.query())
            .await
            .redirect();
        assert_eq!(cb["error"], "unmet_authentication_requirements");
        assert_eq!(cb["state"], req.state);
        assert_eq!(cb["iss"], op.base);
        // Voluntary and unavailable: answered with ours.
        let req = AuthReq::new("public", "code", "openid")
            .set("claims", &claims(&["urn:other:gold"], false));
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        assert!(cb.contains_key("code"), "{cb:?}");
        // Essential and available.
        let req = AuthReq::new("public", "code", "openid")
            .set("claims", &claims(&["urn:other:gold", ours], true));
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        let (s, t) = redeem(op, &cb["code"], req.verifier.as_str()).await;
        assert_eq!(s, StatusCode::OK, "{t}");
        let idt = verify_id_token(
            t["id_token"].as_str().unwrap(),
            &jwks,
            ALGS,
            &expect(op, "public", &req.nonce),
        )
        .unwrap();
        assert_eq!(idt.claims.custom["acr"], ours);
    }

    /// oidcc-prompt-none-not-logged-in: login_required.
    pub async fn oidcc_prompt_none_not_logged_in(op: &Op) {
        let mut b = Browser::default();
        let req = AuthReq::new("public", "code", "openid").set("prompt", "none");
        let cb = b.authorize(op, &req.query()).await.redirect();
        assert_eq!(cb["error"], "login_required");
        assert_eq!(cb["state"], req.state);
    }

    /// oidcc-prompt-none-logged-in, oidcc-prompt-login and consent remembered per client and scope set.
    pub async fn oidcc_prompt_none_logged_in_and_prompt_login(op: &Op) {
        let mut b = Browser::default();
        code_flow(op, &mut b, "alice", "openid email").await;
        let cb = b
            .authorize(
                op,
                &AuthReq::new("public", "code", "openid email")
                    .set("prompt", "none")
                    .query(),
            )
            .await
            .redirect();
        assert!(cb.contains_key("code"), "session and consent remembered");
        // A wider scope needs consent again; with prompt=none that is consent_required.
        let cb = b
            .authorize(
                op,
                &AuthReq::new("public", "code", "openid email phone")
                    .set("prompt", "none")
                    .query(),
            )
            .await
            .redirect();
        assert_eq!(cb["error"], "consent_required");
        assert!(matches!(
            b.authorize(
                op,
                &AuthReq::new("public", "code", "openid email")
                    .set("prompt", "login")
                    .query()
            )
            .await,
            Step::Login(_)
        ));
        assert!(matches!(
            b.authorize(
                op,
                &AuthReq::new("public", "code", "openid email")
                    .set("prompt", "consent")
                    .query()
            )
            .await,
            Step::Consent(_)
        ));
    }

    /// oidcc-max-age-1: an old authentication forces a new login; auth_time is in the ID token.
    pub async fn oidcc_max_age_1_forces_login(op: &Op) {
        let mut b = Browser::default();
        code_flow(op, &mut b, "alice", "openid").await;
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let req = AuthReq::new("public", "code", "openid").set("max_age", "1");
        let step = b.authorize(op, &req.query()).await;
        assert!(matches!(step, Step::Login(_)), "{step:?}");
        let cb = b.complete(op, step, "alice").await.redirect();
        let (_, tokens) = redeem(op, &cb["code"], req.verifier.as_str()).await;
        let mut e = expect(op, "public", &req.nonce);
        e.max_age = Some(1);
        verify_id_token(
            tokens["id_token"].as_str().unwrap(),
            &op.jwks().await,
            ALGS,
            &e,
        )
        .unwrap();
        // Right after the login the session is fresh enough for max_age=10000 and prompt=none…
        let cb = b
            .authorize(
                op,
                &AuthReq::new("public", "code", "openid")
                    .set("max_age", "10000")
                    .set("prompt", "none")
                    .query(),
            )
            .await
            .redirect();
        assert!(cb.contains_key("code"), "{cb:?}");
        // …but not, two seconds later, for max_age=1.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let cb = b
            .authorize(
                op,
                &AuthReq::new("public", "code", "openid")
                    .set("max_age", "1")
                    .set("prompt", "none")
                    .query(),
            )
            .await
            .redirect();
        assert_eq!(cb["error"], "login_required");
    }

    /// oidcc-id-token-hint: a hint naming another user than the session's, with prompt=none, is login_required;
    /// a matching hint passes; a forged hint is refused.
    pub async fn oidcc_id_token_hint(op: &Op) {
        let mut bob = Browser::default();
        let (_, bob_tokens) = code_flow(op, &mut bob, "bob", "openid").await;
        let mut alice = Browser::default();
        let (_, alice_tokens) = code_flow(op, &mut alice, "alice", "openid").await;
        let hint = |t: &Value| t["id_token"].as_str().unwrap().to_owned();
        let cb = alice
            .authorize(
                op,
                &AuthReq::new("public", "code", "openid")
                    .set("prompt", "none")
                    .set("id_token_hint", &hint(&bob_tokens))
                    .query(),
            )
            .await
            .redirect();
        assert_eq!(cb["error"], "login_required");
        let cb = alice
            .authorize(
                op,
                &AuthReq::new("public", "code", "openid")
                    .set("prompt", "none")
                    .set("id_token_hint", &hint(&alice_tokens))
                    .query(),
            )
            .await
            .redirect();
        assert!(cb.contains_key("code"));
        let forged = {
            let k = Jwk::generate(Algorithm::Es256).unwrap();
            let claims = json!({"iss": op.base, "aud": "public", "sub": "x", "exp": 4102444800u64, "iat": 1});
            jwt::encode_value(
                &portcullis_jose::jws::Header::new(Algorithm::Es256),
                &claims,
                &k.signing_key().unwrap(),
            )
            .unwrap()
        };
        let cb = alice
            .authorize(
                op,
                &AuthReq::new("public", "code", "openid")
                    .set("prompt", "none")
                    .set("id_token_hint", &forged)
                    .query(),
            )
            .await
            .redirect();
        assert_eq!(cb["error"], "invalid_request");
    }

    /// oidcc-ensure-post-request-succeeds: the authorization request as a POST form.
    pub async fn oidcc_post_authorization_request(op: &Op) {
        let mut b = Browser::default();
        let req = AuthReq::new("public", "code", "openid");
        let step = b.authorize_post(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        assert_eq!(
            redeem(op, &cb["code"], req.verifier.as_str()).await.0,
            StatusCode::OK
        );
        // The wrong content type is refused.
        let resp = op
            .http
            .post(op.url("/authorize"))
            .header("content-type", "application/json")
            .body(req.query())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }

    /// PKCE: plain is refused (S256 required), a missing challenge is refused for this client.
    pub async fn pkce_plain_refused_and_challenge_required(op: &Op) {
        let mut b = Browser::default();
        let req = AuthReq::new("public", "code", "openid")
            .set("code_challenge", &"a".repeat(43))
            .set("code_challenge_method", "plain");
        let cb = b.authorize(op, &req.query()).await.redirect();
        assert_eq!(cb["error"], "invalid_request");
        let req = AuthReq::new("public", "code", "openid")
            .without("code_challenge")
            .without("code_challenge_method");
        let cb = b.authorize(op, &req.query()).await.redirect();
        assert_eq!(cb["error"], "invalid_request");
        assert!(cb["error_description"].contains("code_challenge"));
    }

    /// oidcc-refresh-token: rotation; reuse of a rotated token revokes the family.
    pub async fn oidcc_refresh_token_rotation_and_reuse(op: &Op) {
        let mut b = Browser::default();
        let (req, t1) = code_flow(op, &mut b, "alice", "openid email offline_access").await;
        let rt1 = t1["refresh_token"].as_str().unwrap().to_owned();
        let refresh = |rt: String, scope: Option<&'static str>| async move {
            let mut body = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", rt),
                ("client_id", "public".to_owned()),
            ];
            if let Some(s) = scope {
                body.push(("scope", s.to_owned()));
            }
            let body: Vec<(&str, &str)> = body.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(op, &body, None).await
        };
        let (s, t2) = refresh(rt1.clone(), Some("openid email")).await;
        assert_eq!(s, StatusCode::OK, "{t2}");
        assert_eq!(t2["scope"], "openid email");
        let rt2 = t2["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(rt1, rt2);
        let mut e = expect(op, "public", &req.nonce);
        e.nonce = None;
        verify_id_token(t2["id_token"].as_str().unwrap(), &op.jwks().await, ALGS, &e).unwrap();
        // Widening is invalid_scope.
        let (s, err) = refresh(rt2.clone(), Some("openid phone")).await;
        assert_eq!(
            (s, err["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope"))
        );
        // rt2 was consumed by the failed attempt? No: scope is checked after the atomic consume, so rt2 is used.
        // Reuse of rt1 (rotated) revokes the whole family, including t2's access token.
        let (s, err) = refresh(rt1, None).await;
        assert_eq!(
            (s, err["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        assert_eq!(
            userinfo(op, t2["access_token"].as_str().unwrap()).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (s, _) = refresh(rt2, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }

    /// oidcc-implicit and hybrid flows, with at_hash / c_hash checked.
    pub async fn oidcc_implicit_and_hybrid(op: &Op) {
        let mut b = Browser::default();
        let jwks = op.jwks().await;
        for rt in [
            "id_token",
            "id_token token",
            "code id_token",
            "code token",
            "code id_token token",
        ] {
            let req = AuthReq::new("public", rt, "openid email");
            let step = b.authorize(op, &req.query()).await;
            let step = b.complete(op, step, "alice").await;
            assert!(
                step.location().starts_with("https://rp.example/cb#"),
                "{rt}: fragment by default"
            );
            let cb = step.redirect();
            assert_eq!(cb["iss"], op.base);
            if rt.contains("id_token") {
                let mut e = expect(op, "public", &req.nonce);
                e.access_token = cb.get("access_token").map(String::as_str);
                e.access_token_from_front_channel = cb.contains_key("access_token");
                e.code = cb.get("code").map(String::as_str);
                let t = verify_id_token(&cb["id_token"], &jwks, ALGS, &e)
                    .unwrap_or_else(|err| panic!("{rt}: {err}"));
                if rt == "id_token" {
                    assert_eq!(
                        t.claims.custom["email"], "demo@portcullis.example",
                        "no access token: scope claims in the ID token"
                    );
                }
            }
            if rt.contains("token") && !rt.ends_with("id_token") {
                assert_eq!(cb["token_type"], "Bearer");
                assert_eq!(userinfo(op, &cb["access_token"]).await.0, StatusCode::OK);
            }
            if rt.starts_with("code") {
                assert_eq!(
                    redeem(op, &cb["code"], req.verifier.as_str()).await.0,
                    StatusCode::OK,
                    "{rt}"
                );
            }
        }
    }

    /// Response modes: form_post (escaped auto-submit page) and JARM (signed response JWT).
    pub async fn response_modes_form_post_and_jarm(op: &Op) {
        let mut b = Browser::default();
        let req = AuthReq::new("public", "code", "openid").set("response_mode", "form_post");
        let step = b.authorize(op, &req.query()).await;
        match b.complete(op, step, "alice").await {
            Step::FormPost(html) => {
                assert!(html.contains("action=\"https://rp.example/cb\""));
                assert!(hidden(&html, "code").is_some());
                assert_eq!(hidden(&html, "state").unwrap(), req.state);
            }
            other => panic!("{other:?}"),
        }
        let jwks = op.jwks().await;
        for (mode, sep) in [("jwt", '?'), ("query.jwt", '?'), ("fragment.jwt", '#')] {
            let req = AuthReq::new("public", "code", "openid").set("response_mode", mode);
            let step = b.authorize(op, &req.query()).await;
            let step = b.complete(op, step, "alice").await;
            let loc = step.location().to_owned();
            assert!(
                loc.starts_with(&format!("https://rp.example/cb{sep}response=")),
                "{mode}: {loc}"
            );
            let cb = step.redirect();
            let resp =
                AuthorizationResponse::from_jarm(&cb["response"], &op.base, "public", &jwks, ALGS)
                    .unwrap();
            match resp {
                AuthorizationResponse::Success {
                    code: Some(code),
                    state,
                    ..
                } => {
                    assert_eq!(state.as_deref(), Some(req.state.as_str()));
                    assert_eq!(
                        redeem(op, &code, req.verifier.as_str()).await.0,
                        StatusCode::OK
                    );
                }
                other => panic!("{other:?}"),
            }
            // A JARM response is not accepted for another client.
            assert!(
                AuthorizationResponse::from_jarm(&cb["response"], &op.base, "other", &jwks, ALGS)
                    .is_err()
            );
        }
    }

    /// Bad input gets a 4xx with the spec's error body: oversized body and headers, invalid UTF-8, wrong
    /// content type, repeated parameters.
    pub async fn bad_input_gets_4xx_never_5xx(op: &Op) {
        let post = |body: Vec<u8>, ct: &'static str| {
            op.http
                .post(op.url("/token"))
                .header("content-type", ct)
                .body(body)
                .send()
        };
        let r = post(vec![b'a'; 70 * 1024], "application/x-www-form-urlencoded")
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
        let r = post(
            b"grant_type=authorization_code&code=\xff\xfe".to_vec(),
            "application/x-www-form-urlencoded",
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
        let r = post(
            b"{\"grant_type\":\"client_credentials\"}".to_vec(),
            "application/json",
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
        let r = post(
            b"grant_type=client_credentials&grant_type=client_credentials&client_id=public"
                .to_vec(),
            "application/x-www-form-urlencoded",
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
        let r = post(
            b"grant_type=password&username=a&password=b&client_id=public".to_vec(),
            "application/x-www-form-urlencoded",
        )
        .await
        .unwrap();
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "unsupported_grant_type"
        );
        // Headers over the limit.
        let r = op
            .http
            .get(op.url("/jwks"))
            .header("x-big", "a".repeat(70 * 1024))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        // Repeated authorization parameters: error page (the redirect URI is not established yet).
        let mut b = Browser::default();
        let q = format!(
            "{}&client_id=public",
            AuthReq::new("public", "code", "openid").query()
        );
        assert!(matches!(
            b.authorize(op, &q).await,
            Step::ErrorPage(StatusCode::BAD_REQUEST, _)
        ));
        // Invalid percent-encoding / UTF-8 in the query.
        assert!(matches!(
            b.authorize(op, "client_id=%ff%fe&response_type=code").await,
            Step::ErrorPage(StatusCode::BAD_REQUEST, _)
        ));
        // Unknown endpoint: 404 JSON; wrong method: 405.
        assert_eq!(
            op.http.get(op.url("/nope")).send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            op.http.get(op.url("/token")).send().await.unwrap().status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        // Userinfo: no token, a bad token, two tokens.
        let r = op.http.get(op.url("/userinfo")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        assert_eq!(
            userinfo(op, "not-a-token").await.0,
            StatusCode::UNAUTHORIZED
        );
        let r = op
            .http
            .post(op.url("/userinfo"))
            .bearer_auth("a")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("access_token=b")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    /// Client authentication: client_secret_basic, client_credentials, wrong secrets, wrong methods.
    pub async fn client_credentials_and_client_authentication(op: &Op) {
        let (s, t) = token(
            op,
            &[("grant_type", "client_credentials"), ("scope", "api:read")],
            Some(("confidential", "s3cret-s3cret")),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        assert!(t["access_token"].is_string(), "{t}");
        assert!(t.get("refresh_token").is_none() && t.get("id_token").is_none());
        let (s, e) = token(
            op,
            &[("grant_type", "client_credentials")],
            Some(("confidential", "wrong")),
        )
        .await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client"))
        );
        let (s, e) = token(
            op,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "confidential"),
                ("client_secret", "s3cret-s3cret"),
            ],
            None,
        )
        .await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "registered for basic, not post"
        );
        let (s, e) = token(
            op,
            &[("grant_type", "client_credentials"), ("scope", "openid")],
            Some(("confidential", "s3cret-s3cret")),
        )
        .await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope"))
        );
        let (s, e) = token(
            op,
            &[("grant_type", "client_credentials"), ("scope", "admin")],
            Some(("confidential", "s3cret-s3cret")),
        )
        .await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope"))
        );
        let (s, e) = token(
            op,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "public"),
            ],
            None,
        )
        .await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
        );
        let (s, e) = token(
            op,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
            ],
            None,
        )
        .await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client"))
        );
        // The public client registered no client_credentials; the pairwise client no refresh_token.
        let (s, e) = token(
            op,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", "pairwise-a"),
            ],
            None,
        )
        .await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
        );
    }

    /// private_key_jwt: a signed assertion authenticates; a replayed one does not.
    /// client_secret_jwt (OIDC Core §9, RFC 7523): an HMAC assertion keyed by the client secret, which the
    /// provider keeps sealed (never in clear, never as the plain hash used for basic/post). Everything that
    /// must fail does: replay, wrong secret, foreign algorithms, wrong audience or issuer, expired, another
    /// authentication method with the same secret, an algorithm other than the registered one.
    pub async fn client_secret_jwt_client(op: &Op) {
        use portcullis_jose::HmacKey;
        let store = &op.provider.store;
        let secret = portcullis_op::admin::add_client(
            store,
            "csjwt",
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_jwt",
                    "response_types": [], "grant_types": ["client_credentials"], "scope": "api:read"}),
        )
        .await
        .unwrap()
        .expect("a generated secret");
        assert!(secret.len() >= 64, "long enough for HS512");
        let row = store.client("csjwt").await.unwrap().unwrap();
        assert!(row.secret_hash.is_none());
        let sealed = row.secret_sealed.expect("sealed");
        assert!(!sealed.contains(&secret));

        let meta: Value = op
            .http
            .get(op.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let methods = meta["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        assert!(methods.contains(&json!("client_secret_jwt")));
        let algs = meta["token_endpoint_auth_signing_alg_values_supported"]
            .as_array()
            .unwrap();
        assert!(algs.contains(&json!("HS256")) && algs.contains(&json!("ES256")));

        let now = portcullis_op::now();
        let key = HmacKey::new(secret.as_bytes()).unwrap();
        let claims = |iss: &str, aud: String, exp: i64| {
            json!({"iss": iss, "sub": iss, "aud": aud, "exp": exp, "iat": now,
                   "jti": portcullis_op::random_token()})
        };
        let assert_with = |alg: Algorithm, k: &HmacKey, c: &Value| {
            jwt::encode_value(&portcullis_jose::jws::Header::new(alg), c, k).unwrap()
        };
        let grant = ("grant_type", "client_credentials");
        let kind = (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        );
        let send = |assertion: String| async move {
            token(
                op,
                &[grant, kind, ("client_assertion", assertion.as_str())],
                None,
            )
            .await
        };
        let refused = |r: (StatusCode, Value), why: &str| {
            assert_eq!(
                (r.0, r.1["error"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("invalid_client")),
                "{why}"
            );
        };

        let good = assert_with(
            Algorithm::Hs256,
            &key,
            &claims("csjwt", op.url("/token"), now + 60),
        );
        let (s, t) = send(good.clone()).await;
        assert_eq!(s, StatusCode::OK, "{t}");
        assert!(t["access_token"].is_string(), "{t}");
        refused(send(good).await, "replayed jti");
        for alg in [Algorithm::Hs384, Algorithm::Hs512] {
            let a = assert_with(alg, &key, &claims("csjwt", op.base.clone(), now + 60));
            let (s, t) = send(a).await;
            assert_eq!(s, StatusCode::OK, "{alg}: {t}");
        }

        let wrong = HmacKey::new(&[7u8; 64]).unwrap();
        refused(
            send(assert_with(
                Algorithm::Hs256,
                &wrong,
                &claims("csjwt", op.url("/token"), now + 60),
            ))
            .await,
            "wrong secret",
        );
        refused(
            send(assert_with(
                Algorithm::Hs256,
                &key,
                &claims("csjwt", "https://other.example/token".into(), now + 60),
            ))
            .await,
            "foreign audience",
        );
        refused(
            send(assert_with(
                Algorithm::Hs256,
                &key,
                &claims("csjwt", op.url("/token"), now - 600),
            ))
            .await,
            "expired",
        );
        refused(
            send(assert_with(
                Algorithm::Hs256,
                &key,
                &claims("confidential", op.url("/token"), now + 60),
            ))
            .await,
            "iss/sub name another client (which is not client_secret_jwt)",
        );
        let es = Jwk::generate(Algorithm::Es256).unwrap();
        refused(
            send(
                jwt::encode_value(
                    &portcullis_jose::jws::Header::new(Algorithm::Es256),
                    &claims("csjwt", op.url("/token"), now + 60),
                    &es.signing_key().unwrap(),
                )
                .unwrap(),
            )
            .await,
            "an asymmetric signature for a client_secret_jwt client",
        );
        let (h, p, _) = {
            let t = assert_with(
                Algorithm::Hs256,
                &key,
                &claims("csjwt", op.url("/token"), now + 60),
            );
            let parts: Vec<String> = t.split('.').map(str::to_owned).collect();
            (parts[0].clone(), parts[1].clone(), ())
        };
        let none_header = portcullis_jose::base64url::encode(br#"{"alg":"none"}"#);
        refused(send(format!("{none_header}.{p}.")).await, "alg none");
        refused(send(format!("{h}.{p}.")).await, "no signature");
        // The same secret through another method.
        refused(
            token(op, &[grant], Some(("csjwt", secret.as_str()))).await,
            "client_secret_basic with a client_secret_jwt secret",
        );
        refused(
            token(
                op,
                &[
                    grant,
                    ("client_id", "csjwt"),
                    ("client_secret", secret.as_str()),
                ],
                None,
            )
            .await,
            "client_secret_post with a client_secret_jwt secret",
        );

        // A registered token_endpoint_auth_signing_alg is the only one accepted.
        portcullis_op::admin::add_client_with_secret(
            store,
            "csjwt256",
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_jwt",
                    "token_endpoint_auth_signing_alg": "HS256",
                    "response_types": [], "grant_types": ["client_credentials"], "scope": "api:read"}),
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        )
        .await
        .unwrap();
        let k2 = HmacKey::new(b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
            .unwrap();
        refused(
            send(assert_with(
                Algorithm::Hs512,
                &k2,
                &claims("csjwt256", op.url("/token"), now + 60),
            ))
            .await,
            "HS512 when HS256 is registered",
        );
        let (s, t) = send(assert_with(
            Algorithm::Hs256,
            &k2,
            &claims("csjwt256", op.url("/token"), now + 60),
        ))
        .await;
        assert_eq!(s, StatusCode::OK, "{t}");

        // Registrations that cannot work are refused.
        for (meta, secret) in [
            (
                json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_jwt",
                    "token_endpoint_auth_signing_alg": "RS256", "response_types": [],
                    "grant_types": ["client_credentials"]}),
                "0123456789abcdef0123456789abcdef",
            ),
            (
                json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_jwt",
                    "response_types": [], "grant_types": ["client_credentials"]}),
                "too short",
            ),
        ] {
            assert!(
                portcullis_op::admin::add_client_with_secret(store, "bad-csjwt", &meta, secret)
                    .await
                    .is_err(),
                "{meta}"
            );
        }
        assert!(store.client("bad-csjwt").await.unwrap().is_none());
    }

    pub async fn private_key_jwt_client(op: &Op) {
        let key = Jwk::generate(Algorithm::Es256).unwrap();
        let public = JwkSet::new(vec![key.to_public().unwrap()]);
        portcullis_op::admin::add_client(
            &op.provider.store,
            "pkjwt",
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "private_key_jwt", "jwks": public.to_map(),
                    "response_types": [], "grant_types": ["client_credentials"], "scope": "api:read"}),
        )
        .await
        .unwrap();
        let now = portcullis_op::now();
        let assertion = jwt::encode_value(
            &portcullis_jose::jws::Header::new(Algorithm::Es256),
            &json!({"iss": "pkjwt", "sub": "pkjwt", "aud": op.url("/token"), "exp": now + 60, "iat": now, "jti": portcullis_op::random_token()}),
            &key.signing_key().unwrap(),
        )
        .unwrap();
        let body = [
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        let (s, t) = token(op, &body, None).await;
        assert_eq!(s, StatusCode::OK, "{t}");
        let (s, e) = token(op, &body, None).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "replayed jti"
        );
        let other = Jwk::generate(Algorithm::Es256).unwrap();
        let forged = jwt::encode_value(
            &portcullis_jose::jws::Header::new(Algorithm::Es256),
            &json!({"iss": "pkjwt", "sub": "pkjwt", "aud": op.url("/token"), "exp": now + 60, "jti": "x"}),
            &other.signing_key().unwrap(),
        )
        .unwrap();
        let (s, _) = token(
            op,
            &[body[0], body[1], ("client_assertion", forged.as_str())],
            None,
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }

    /// oidcc-request-object (RFC 9101): a request object signed with the client's registered key carries the
    /// request; a forged or unsigned one is invalid_request_object, sent back to the registered redirect URI.
    pub async fn signed_request_objects(op: &Op) {
        let key = Jwk::generate(Algorithm::Es256).unwrap();
        portcullis_op::admin::add_client(
            &op.provider.store,
            "jar",
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "none",
                    "jwks": JwkSet::new(vec![key.to_public().unwrap()]).to_map()}),
        )
        .await
        .unwrap();
        let req = AuthReq::new("jar", "code", "openid email");
        let now = portcullis_op::now();
        let mut claims: serde_json::Map<String, Value> = req
            .pairs
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        claims.insert("iss".into(), json!("jar"));
        claims.insert("aud".into(), json!(op.base));
        claims.insert("exp".into(), json!(now + 300));
        let sign = |k: &Jwk, c: &serde_json::Map<String, Value>| {
            jwt::encode_value(
                &portcullis_jose::jws::Header::new(Algorithm::Es256),
                c,
                &k.signing_key().unwrap(),
            )
            .unwrap()
        };
        let outer = |request: &str| {
            form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", "jar")
                .append_pair("response_type", "code")
                .append_pair("scope", "openid")
                .append_pair("redirect_uri", RP)
                .append_pair("request", request)
                .finish()
        };
        let mut b = Browser::default();
        let step = b.authorize(op, &outer(&sign(&key, &claims))).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        assert_eq!(
            cb["state"], req.state,
            "the request object's state, not the query's"
        );
        let (s, t) = token(
            op,
            &[
                ("grant_type", "authorization_code"),
                ("code", &cb["code"]),
                ("redirect_uri", RP),
                ("client_id", "jar"),
                ("code_verifier", req.verifier.as_str()),
            ],
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        let forged = sign(&Jwk::generate(Algorithm::Es256).unwrap(), &claims);
        let cb = b.authorize(op, &outer(&forged)).await.redirect();
        assert_eq!(cb["error"], "invalid_request_object");
        let mut wrong_aud = claims.clone();
        wrong_aud.insert("aud".into(), json!("https://other.example"));
        let cb = b
            .authorize(op, &outer(&sign(&key, &wrong_aud)))
            .await
            .redirect();
        assert_eq!(cb["error"], "invalid_request_object");
        let unsigned = format!(
            "eyJhbGciOiJub25lIn0.{}.",
            portcullis_jose::base64url::encode(
                Value::Object(claims.clone()).to_string().as_bytes()
            )
        );
        let cb = b.authorize(op, &outer(&unsigned)).await.redirect();
        assert_eq!(cb["error"], "invalid_request_object");
        // A client without registered keys cannot use request objects.
        let q = outer(&sign(&key, &claims)).replace("client_id=jar", "client_id=public");
        let cb = b.authorize(op, &q).await.redirect();
        assert_eq!(cb["error"], "invalid_request_object");
    }

    /// RFC 7009 revocation and RFC 7662 introspection.
    pub async fn revocation_and_introspection(op: &Op) {
        let (_, t) = token(
            op,
            &[("grant_type", "client_credentials"), ("scope", "api:read")],
            Some(("confidential", "s3cret-s3cret")),
        )
        .await;
        let at = t["access_token"].as_str().unwrap();
        let intro = |tok: String| async move {
            let r = op
                .http
                .post(op.url("/introspect"))
                .basic_auth("confidential", Some("s3cret-s3cret"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("token={tok}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        };
        let i = intro(at.to_owned()).await;
        assert_eq!(i["active"], true);
        assert_eq!(i["client_id"], "confidential");
        assert_eq!(i["scope"], "api:read");
        assert_eq!(intro("garbage".into()).await, json!({"active": false}));
        let r = op
            .http
            .post(op.url("/revoke"))
            .basic_auth("confidential", Some("s3cret-s3cret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={at}&token_type_hint=access_token"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(intro(at.to_owned()).await["active"], false);
        // Unknown tokens: 200 as well. Bad client credentials: 401.
        let r = op
            .http
            .post(op.url("/revoke"))
            .basic_auth("confidential", Some("s3cret-s3cret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("token=unknown")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = op
            .http
            .post(op.url("/revoke"))
            .basic_auth("confidential", Some("nope"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("token=unknown")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // Public clients cannot introspect; refresh token revocation kills the grant.
        let mut b = Browser::default();
        let (_, t) = code_flow(op, &mut b, "alice", "openid").await;
        let r = op
            .http
            .post(op.url("/introspect"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "token={}&client_id=public",
                t["access_token"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = op
            .http
            .post(op.url("/revoke"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "token={}&client_id=public",
                t["refresh_token"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            userinfo(op, t["access_token"].as_str().unwrap()).await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    /// RFC 9126: push, then authorize with the request_uri only; single use; bound to the client.
    /// RFC 9126 §6: a client registered with require_pushed_authorization_requests is refused a plain (query)
    /// authorization request — after its redirect URI is established, so the error goes back to it — and
    /// served through PAR.
    pub async fn par_required_per_client(op: &Op) {
        let store = &op.provider.store;
        portcullis_op::admin::add_client_with_secret(
            store,
            "par-only",
            &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_basic",
                    "require_pushed_authorization_requests": true,
                    "grant_types": ["authorization_code"], "scope": "openid email"}),
            "par-only-secret",
        )
        .await
        .unwrap();
        assert!(
            portcullis_op::admin::add_client_with_secret(
                store,
                "par-bad",
                &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_basic",
                        "require_pushed_authorization_requests": "yes"}),
                "par-bad-secret",
            )
            .await
            .is_err(),
            "a non-boolean flag is refused at registration"
        );
        let req = AuthReq::new("par-only", "code", "openid");
        let mut b = Browser::default();
        let cb = b.authorize(op, &req.query()).await.redirect();
        assert_eq!(cb["error"], "invalid_request");
        assert!(cb["error_description"].contains("request_uri"), "{cb:?}");
        assert_eq!(cb["state"], req.state);
        assert_eq!(cb["iss"], op.base);
        // The same parameters pushed first go through.
        let r = op
            .http
            .post(op.url("/par"))
            .basic_auth("par-only", Some("par-only-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(req.query())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", "par-only")
            .append_pair("request_uri", v["request_uri"].as_str().unwrap())
            .finish();
        let step = b.authorize(op, &q).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        assert!(cb.contains_key("code"), "{cb:?}");
        // Other clients are not affected.
        let step = b
            .authorize(op, &AuthReq::new("public", "code", "openid").query())
            .await;
        assert!(
            b.complete(op, step, "alice")
                .await
                .redirect()
                .contains_key("code")
        );
    }

    pub async fn pushed_authorization_requests(op: &Op) {
        let req = AuthReq::new("confidential", "code", "openid email");
        let r = op
            .http
            .post(op.url("/par"))
            .basic_auth("confidential", Some("s3cret-s3cret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(req.query())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        let uri = v["request_uri"].as_str().unwrap().to_owned();
        assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:"));
        let q = |client: &str| {
            form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", client)
                .append_pair("request_uri", &uri)
                .finish()
        };
        let mut b = Browser::default();
        assert!(
            matches!(
                b.authorize(op, &q("public")).await,
                Step::ErrorPage(StatusCode::BAD_REQUEST, _)
            ),
            "another client"
        );
        let step = b.authorize(op, &q("confidential")).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        assert_eq!(cb["state"], req.state);
        let (s, t) = token(
            op,
            &[
                ("grant_type", "authorization_code"),
                ("code", &cb["code"]),
                ("redirect_uri", RP),
                ("code_verifier", req.verifier.as_str()),
            ],
            Some(("confidential", "s3cret-s3cret")),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        assert!(
            matches!(
                b.authorize(op, &q("confidential")).await,
                Step::ErrorPage(StatusCode::BAD_REQUEST, _)
            ),
            "single use"
        );
        // Unauthenticated or with an unregistered redirect: refused with JSON errors.
        let r = op
            .http
            .post(op.url("/par"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(req.query())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let bad = AuthReq::new("confidential", "code", "openid")
            .set("redirect_uri", "https://evil.example/cb");
        let r = op
            .http
            .post(op.url("/par"))
            .basic_auth("confidential", Some("s3cret-s3cret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(bad.query())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    /// RP-initiated logout: the session ends; only registered post-logout URIs are redirected to.
    pub async fn rp_initiated_logout(op: &Op) {
        let mut b = Browser::default();
        let (_, t) = code_flow(op, &mut b, "alice", "openid").await;
        let hint = t["id_token"].as_str().unwrap();
        let bad = format!(
            "/end_session?id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"
        );
        let r = op
            .http
            .get(op.url(&bad))
            .header(
                "cookie",
                format!("portcullis_session={}", b.session.clone().unwrap()),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let good = format!(
            "/end_session?id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Frp.example%2Fbye&state=s1"
        );
        let r = op
            .http
            .get(op.url(&good))
            .header(
                "cookie",
                format!("portcullis_session={}", b.session.clone().unwrap()),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "https://rp.example/bye?state=s1");
        let cb = b
            .authorize(
                op,
                &AuthReq::new("public", "code", "openid")
                    .set("prompt", "none")
                    .query(),
            )
            .await
            .redirect();
        assert_eq!(cb["error"], "login_required", "the session is gone");
    }

    /// Pairwise subjects differ per sector and stay stable; custom scopes release their claims.
    pub async fn pairwise_subjects_and_custom_scopes(op: &Op) {
        let mut b = Browser::default();
        let mut subs = Vec::new();
        for (client, redirect) in [
            ("pairwise-a", "https://a.example/cb"),
            ("pairwise-b", "https://b.example/cb"),
            ("pairwise-a", "https://a.example/cb"),
        ] {
            let req = AuthReq::new(client, "code", "openid").set("redirect_uri", redirect);
            let step = b.authorize(op, &req.query()).await;
            let cb = b.complete(op, step, "alice").await.redirect();
            let (s, t) = token(
                op,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &cb["code"]),
                    ("redirect_uri", redirect),
                    ("client_id", client),
                    ("code_verifier", req.verifier.as_str()),
                ],
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{t}");
            let idt = verify_id_token(
                t["id_token"].as_str().unwrap(),
                &op.jwks().await,
                ALGS,
                &expect(op, client, &req.nonce),
            )
            .unwrap();
            subs.push(idt.claims.registered.sub.unwrap());
        }
        assert_ne!(subs[0], subs[1]);
        assert_eq!(subs[0], subs[2]);
        assert_eq!(subs[0].len(), 43);
        let (_, t) = code_flow(op, &mut b, "alice", "openid avatar payment_details").await;
        let (_, info) = userinfo(op, t["access_token"].as_str().unwrap()).await;
        assert_eq!(info["nickname"], "dee");
        assert_eq!(info["payment_details"]["holder"], "Dee Mo");
        assert!(info.get("email").is_none());
        // The claims request adds one claim.
        let claims = r#"{"userinfo":{"phone_number":null}}"#;
        let req = AuthReq::new("public", "code", "openid").set("claims", claims);
        let step = b.authorize(op, &req.query()).await;
        let cb = b.complete(op, step, "alice").await.redirect();
        let (_, t) = redeem(op, &cb["code"], req.verifier.as_str()).await;
        let (_, info) = userinfo(op, t["access_token"].as_str().unwrap()).await;
        assert_eq!(info["phone_number"], "+1 555 0100");
        assert!(info.get("name").is_none());
    }

    /// Login: wrong password, CSRF token, expired pending request.
    pub async fn login_form_rejects(op: &Op) {
        let mut b = Browser::default();
        let step = b
            .authorize(op, &AuthReq::new("public", "code", "openid").query())
            .await;
        let Step::Login(page) = step else {
            panic!("{step:?}")
        };
        let again = b
            .submit(
                op,
                &page,
                "/login",
                &[("username", "alice"), ("password", "wrong password")],
            )
            .await;
        assert!(matches!(again, Step::Login(_)));
        assert!(b.session.is_none());
        let again = b
            .submit(
                op,
                &page,
                "/login",
                &[("username", "mallory"), ("password", PASSWORD)],
            )
            .await;
        assert!(matches!(again, Step::Login(_)));
        let forged = page.replace(&hidden(&page, "csrf").unwrap(), "forged");
        match b
            .submit(
                op,
                &forged,
                "/login",
                &[("username", "alice"), ("password", PASSWORD)],
            )
            .await
        {
            Step::ErrorPage(s, _) => assert_eq!(s, StatusCode::FORBIDDEN),
            other => panic!("{other:?}"),
        }
        // The login page is escaped and framed by strict headers.
        let r = op
            .http
            .get(op.url(&format!(
                    "/authorize?{}",
                    AuthReq::new("public", "code", "openid")
                        .set("login_hint", "\"><script>x</script>")
                        .query()
                )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        let body = r.text().await.unwrap();
        assert!(!body.contains("<script>x"));
        assert!(body.contains("&quot;&gt;&lt;script&gt;"));
        // Deny at consent: access_denied.
        let step = b.login(op, &page, "alice").await;
        let Step::Consent(c) = step else {
            panic!("{step:?}")
        };
        assert!(b.session.is_some());
        let cb = b
            .submit(op, &c, "/consent", &[("decision", "deny")])
            .await
            .redirect();
        assert_eq!(cb["error"], "access_denied");
    }

    /// Key rotation: the next key was published before it signs; after `keys rotate` the retired key stays in
    /// the JWKS (tokens it signed still verify) until `retired_key_lifetime` has passed.
    pub async fn key_rotation_keeps_old_tokens_verifiable(op: &Op) {
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

    /// ID tokens in the client's registered `id_token_signed_response_alg`, for every algorithm offered; each
    /// published key is bound to one algorithm (RFC 8725 §3.1), so a PS256 token is never signed by the RS256 key.
    /// (Found by the node `jose` interop test: PS256 once failed because the RSA key carried `alg: RS256`.)
    pub async fn id_token_signed_with_each_registered_alg(op: &Op) {
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

    /// The login and consent forms may lead (by a 303 after the POST) to the client's redirect URI: their CSP
    /// `form-action` allows 'self' and that origin only (Chromium blocks the redirect otherwise).
    pub async fn form_pages_csp_allows_only_the_redirect_origin(op: &Op) {
        let req = AuthReq::new("public", "code", "openid");
        let resp = op
            .http
            .get(format!("{}?{}", op.url("/authorize"), req.query()))
            .send()
            .await
            .unwrap();
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("form-action 'self' https://rp.example;"),
            "{csp}"
        );
        assert!(!csp.contains("http:") && !csp.contains('*'), "{csp}");
        let mut b = Browser::default();
        let step = b.authorize(op, &req.query()).await;
        let Step::Login(page) = step else {
            panic!("login page expected")
        };
        let resp = op
            .http
            .post(op.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "pending={}&csrf={}&username=alice&password=wrong",
                hidden(&page, "pending").unwrap(),
                hidden(&page, "csrf").unwrap()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let csp = resp.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("form-action 'self' https://rp.example;"),
            "{csp}"
        );
        // Error pages (no trusted redirect target) keep form-action 'self' alone.
        let resp = op
            .http
            .get(op.url("/authorize?client_id=nobody&response_type=code"))
            .send()
            .await
            .unwrap();
        let csp = resp.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("form-action 'self';"), "{csp}");
    }

    /// Discovery and JWKS: every advertised member, keys with kid, never a private member.
    pub async fn discovery_and_jwks(op: &Op) {
        let meta: Value = op
            .http
            .get(op.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(meta["issuer"], op.base);
        assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
        assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
        assert!(
            meta["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("avatar"))
        );
        let raw: Value = op
            .http
            .get(op.url("/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let keys = raw["keys"].as_array().unwrap();
        assert_eq!(
            keys.len(),
            8,
            "current and next for EC, RSA (RS256), RSA (PS256), OKP"
        );
        for k in keys {
            assert!(k["kid"].is_string());
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(k.get(private).is_none());
            }
        }
        let _ = AlgorithmSet::from(ALGS);
    }
}

macro_rules! every_case {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let op = Op::sqlite().await;
                cases::$name(&op).await;
            }
        )*

        /// Every case again, each on its own database in one throwaway PostgreSQL cluster.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres_every_case() {
            let pg = PgCluster::start();
            $(
                {
                    let url = pg.create_db(stringify!($name)).await;
                    let dir = tempfile::tempdir().unwrap();
                    let port = free_port();
                    let cfg = config(dir.path(), port, Some(url));
                    let op = Op::start_cfg(cfg, dir).await;
                    assert_eq!(op.provider.store.kind(), portcullis_op::store::DbKind::Postgres);
                    eprintln!("postgres: {}", stringify!($name));
                    cases::$name(&op).await;
                }
            )*
        }
    };
}

every_case!(
    oidcc_server_code_flow,
    oidcc_ensure_registered_redirect_uri,
    oidcc_unknown_client_id,
    oidcc_codereuse_revokes_tokens,
    oidcc_codereuse_concurrent_presentations,
    tokens_stored_under_bare_hashes_still_work,
    concurrent_requests_get_their_own_answers,
    expired_rows_are_purged,
    stored_values_round_trip_exactly,
    code_tokens_stored_only_with_a_fresh_code,
    sealed_codes_store_their_grant_when_redeemed,
    sealed_code_redemption_stores_once,
    access_tokens_kept_on_their_grant,
    user_claims_are_each_users_own,
    oidcc_code_bound_to_client_redirect_and_pkce,
    oidcc_nonce_required_for_implicit_and_hybrid,
    oidcc_response_type_missing,
    oidcc_unknown_parameters_ignored,
    oidcc_acr_voluntary_and_essential,
    oidcc_prompt_none_not_logged_in,
    oidcc_prompt_none_logged_in_and_prompt_login,
    oidcc_max_age_1_forces_login,
    oidcc_id_token_hint,
    oidcc_post_authorization_request,
    pkce_plain_refused_and_challenge_required,
    oidcc_refresh_token_rotation_and_reuse,
    oidcc_implicit_and_hybrid,
    response_modes_form_post_and_jarm,
    bad_input_gets_4xx_never_5xx,
    client_credentials_and_client_authentication,
    private_key_jwt_client,
    client_secret_jwt_client,
    signed_request_objects,
    revocation_and_introspection,
    pushed_authorization_requests,
    par_required_per_client,
    rp_initiated_logout,
    pairwise_subjects_and_custom_scopes,
    login_form_rejects,
    discovery_and_jwks,
    id_token_signed_with_each_registered_alg,
    form_pages_csp_allows_only_the_redirect_origin,
    key_rotation_keeps_old_tokens_verifiable,
);

/// oidcc-codereuse-30seconds / code lifetime: a code older than its lifetime is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_expires() {
    let op = Op::start_with(|mut c| {
        c.code_lifetime = 1;
        c
    })
    .await;
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let step = b.authorize(&op, &req.query()).await;
    let cb = b.complete(&op, step, "alice").await.redirect();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, e) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

/// A second start on the same data reuses keys, clients and users; a rotation publishes the next key first
/// and keeps the retired one.
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
    assert!(demo.password.is_some());
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

/// The login step is pluggable: another method renders its own page, proves users its own way, and its
/// `amr`/`acr` reach the ID token and discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pluggable_login_method() {
    pluggable_login_on(None).await;
}

/// The same with the provider on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pluggable_login_method_on_postgres() {
    let pg = PgCluster::start();
    let url = pg.create_db("pluggable").await;
    pluggable_login_on(Some(url)).await;
}

async fn pluggable_login_on(database_url: Option<String>) {
    use portcullis_op::login::{LoginMethod, LoginPage};
    use portcullis_op::store::{Store, StoreError, UserRow};

    struct OneTimeCode;
    impl LoginMethod for OneTimeCode {
        fn page(&self, c: &LoginPage<'_>) -> String {
            format!(
                "<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"pending\" value=\"{}\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input name=\"otp\"></form>",
                portcullis_op::templates::escape_html(c.pending),
                portcullis_op::templates::escape_html(c.csrf)
            )
        }
        fn verify<'a>(
            &'a self,
            store: &'a Store,
            form: &'a portcullis_oidc::Params,
        ) -> futures_core::future::BoxFuture<'a, Result<Option<UserRow>, StoreError>> {
            Box::pin(async move {
                if form.get("otp") == Some("123456") {
                    store.user_by_name("alice").await
                } else {
                    Ok(None)
                }
            })
        }
        fn amr(&self) -> &'static [&'static str] {
            &["otp"]
        }
        fn acr(&self) -> &'static str {
            "urn:example:otp"
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let postgres = database_url.is_some();
    let cfg = config(dir.path(), free_port(), database_url);
    let op = Op::start_login(cfg, dir, Box::new(OneTimeCode)).await;
    assert_eq!(
        op.provider.store.kind() == portcullis_op::store::DbKind::Postgres,
        postgres
    );
    let meta: Value = op
        .http
        .get(op.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["acr_values_supported"], json!(["urn:example:otp"]));
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let Step::Login(page) = b.authorize(&op, &req.query()).await else {
        panic!("login page")
    };
    assert!(page.contains("name=\"otp\""));
    assert!(matches!(
        b.submit(&op, &page, "/login", &[("otp", "000000")]).await,
        Step::Login(_)
    ));
    let Step::Consent(c) = b.submit(&op, &page, "/login", &[("otp", "123456")]).await else {
        panic!("consent")
    };
    let cb = b
        .submit(&op, &c, "/consent", &[("decision", "allow")])
        .await
        .redirect();
    let (_, t) = redeem(&op, &cb["code"], req.verifier.as_str()).await;
    let idt = verify_id_token(
        t["id_token"].as_str().unwrap(),
        &op.jwks().await,
        ALGS,
        &expect(&op, "public", &req.nonce),
    )
    .unwrap();
    assert_eq!(idt.claims.custom["amr"], json!(["otp"]));
    assert_eq!(idt.claims.custom["acr"], "urn:example:otp");
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
    let b_node =
        Op::start_unseeded(cfg_b, dir_b, Box::new(portcullis_op::login::PasswordLogin)).await;
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
