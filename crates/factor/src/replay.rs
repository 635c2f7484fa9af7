//! Single use: a token's `jti` may be accepted once.

use std::collections::HashMap;
use std::sync::Mutex;

/// Remembers which token ids were used. The provider plugs in its database; [`InMemoryReplayGuard`] serves one
/// process. Shared between a server's tasks, so `Send + Sync`.
pub trait ReplayGuard: Send + Sync {
    /// Records `jti` (kept at least until `expires_at`, seconds since the epoch) and returns `true` if it was not
    /// seen before; `false` for a replay. Implementations must be atomic: two concurrent calls with the same `jti`
    /// must not both return `true`.
    fn first_use(&self, jti: &str, expires_at: u64, now: u64) -> bool;
}

/// An in-memory [`ReplayGuard`] for one process. Entries are dropped once their token has expired; when
/// `capacity` live entries are held, new tokens are refused (fail closed) until some expire.
#[derive(Debug)]
pub struct InMemoryReplayGuard {
    seen: Mutex<HashMap<String, u64>>,
    capacity: usize,
}

impl Default for InMemoryReplayGuard {
    fn default() -> Self {
        InMemoryReplayGuard::with_capacity(100_000)
    }
}

impl InMemoryReplayGuard {
    /// A guard holding at most `capacity` unexpired ids.
    pub fn with_capacity(capacity: usize) -> Self {
        InMemoryReplayGuard {
            seen: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.seen.lock().map_or(0, |m| m.len())
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ReplayGuard for InMemoryReplayGuard {
    fn first_use(&self, jti: &str, expires_at: u64, now: u64) -> bool {
        // A poisoned lock means another thread panicked mid-update: refuse rather than guess.
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        if seen.contains_key(jti) {
            return false;
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, exp| *exp >= now);
            if seen.len() >= self.capacity {
                return false;
            }
        }
        seen.insert(jti.to_owned(), expires_at);
        true
    }
}
