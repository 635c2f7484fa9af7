//! `portcullis-provider audit [--user NAME] [--since WHEN] [--limit N]`: the audit events, oldest first, one per
//! line; and the events of the admin commands themselves (clients, keys and bridge sites changed).
//!
//! Must not: print anything an event does not hold (events hold no secrets).

use portcullis_op::audit::Audit;
use portcullis_op::store::Store;

/// `since`: seconds since the epoch, or an age such as `90m`, `24h`, `7d` (default: the last 24 hours).
fn since(arg: Option<&str>, now: i64) -> Result<i64, String> {
    let Some(a) = arg else {
        return Ok(now - 86_400);
    };
    let bad =
        || format!("--since {a:?}: give seconds since the epoch, or an age like 90m, 24h, 7d");
    let (n, unit) = match a.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&a[..i], c),
        _ => return a.parse().map_err(|_| bad()),
    };
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    Ok(now - n.saturating_mul(secs))
}

/// Lists events.
pub async fn list(
    store: &Store,
    (user, since_arg, limit): (Option<&str>, Option<&str>, i64),
    now: i64,
) -> Result<(), String> {
    let user_id = match user {
        Some(name) => Some(
            store
                .user_by_name(name)
                .await
                .map_err(|e| e.to_string())?
                .map(|u| u.id)
                .ok_or_else(|| format!("no user {name}"))?,
        ),
        None => None,
    };
    let events = store
        .audit_events(user_id.as_deref(), since(since_arg, now)?, limit)
        .await
        .map_err(|e| e.to_string())?;
    for e in events {
        println!(
            "{}\t{}\t{}\tuser={}\tclient={}\taddress={}\t{}",
            e.at,
            e.kind,
            e.outcome,
            e.user_id.unwrap_or_default(),
            e.client_id.unwrap_or_default(),
            e.address.unwrap_or_default(),
            e.detail
        );
    }
    Ok(())
}

/// Records an admin command's change.
pub async fn admin(store: &Store, kind: &str, detail: &str) {
    Audit {
        kind,
        outcome: "success",
        detail,
        ..Default::default()
    }
    .record(store)
    .await;
}

#[cfg(test)]
mod tests {
    use super::since;

    #[test]
    fn ages_and_times() {
        assert_eq!(since(None, 100_000), Ok(100_000 - 86_400));
        assert_eq!(since(Some("90m"), 100_000), Ok(100_000 - 5400));
        assert_eq!(since(Some("2d"), 200_000), Ok(200_000 - 172_800));
        assert_eq!(since(Some("1234"), 200_000), Ok(1234));
        for bad in ["x", "5w", "h", "-"] {
            assert!(since(Some(bad), 0).is_err(), "{bad}");
        }
    }
}
