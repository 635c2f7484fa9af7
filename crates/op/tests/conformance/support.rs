//! Helpers only the conformance tests share: the ID token expectations of a flow, and the store-level
//! redemption helpers of `store` and `sealed_codes`. The harness every test binary uses is `tests/common`;
//! a helper of one module stays in that module. Nothing here is a test or a case.

use crate::common::Op;
use portcullis_oidc::IdTokenExpectations;

/// What a code flow of `client` with `nonce` expects of its ID token (5 s leeway); tests set more.
pub fn expect<'a>(op: &'a Op, client: &'a str, nonce: &'a str) -> IdTokenExpectations<'a> {
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

/// New tokens to store with a code's redemption (access token bound to a thumbprint, lifetime 600 s; a
/// refresh token of 6000 s if `refresh`), with the keys to look each up by.
pub fn code_tokens(
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
pub async fn one_redemption_wins<T>(
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
