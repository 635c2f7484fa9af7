//! Throttling of sign-in attempts and of anonymous work, in memory on each node.
//!
//! - **Failed sign-ins** ([`Throttle::check`] / `Throttle::failed` / [`Throttle::succeeded`]): exponential
//!   back-off per account and address pair (after [`PAIR_FREE`] failures, 1 s doubling up to
//!   [`PAIR_MAX_DELAY`]), per address over all accounts (after [`ADDRESS_FREE`], up to [`ADDRESS_MAX_DELAY`]:
//!   one address cannot spray passwords over many accounts), and per account over all addresses (after
//!   [`ACCOUNT_FREE`], up to [`ACCOUNT_MAX_DELAY`]: many addresses cannot guess one password quickly). The
//!   account's back-off is short on purpose, and an address the account signed in from before
//!   ([`TRUSTED_FOR`]) is exempt from it: an attacker can slow a user down, never lock them out.
//!   Failures are forgotten [`FORGET_AFTER`] after the last one.
//! - **Login pages** ([`Throttle::allow_work`]): a token bucket per address for requests that make the
//!   provider store something before anyone signed in (a login page and its pending request): the configured
//!   burst at once, the configured rate after that (`login_pages_burst`, `login_pages_per_second`).
//!
//! Addresses are counted per [`address_bucket`]: an IPv4 address or an IPv6 /64.
//!
//! - **Verifications** ([`Throttle::admit`]): a bounded queue of sign-in verifications.
//!
//! Each table holds at most [`MAX_ENTRIES`] keys; when full, the stalest are dropped. Limits are per node (a
//! cluster multiplies them by its size; the per-request attempt cap, kept in the database, does not).
//!
//! Must not: block (every call is a short critical section), or grow without bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Failures per account and address pair before back-off starts.
pub const PAIR_FREE: u32 = 3;
/// Longest back-off per account and address pair, in seconds.
pub const PAIR_MAX_DELAY: i64 = 300;
/// Failures per address (all accounts) before back-off starts.
pub const ADDRESS_FREE: u32 = 20;
/// Longest back-off per address, in seconds.
pub const ADDRESS_MAX_DELAY: i64 = 900;
/// Failures per account (all addresses) before back-off starts.
pub const ACCOUNT_FREE: u32 = 10;
/// Longest back-off per account, in seconds: short, so that nobody can lock a user out.
pub const ACCOUNT_MAX_DELAY: i64 = 30;
/// Failures are forgotten this long after the last one, in seconds.
pub const FORGET_AFTER: i64 = 3600;
/// An address an account signed in from is trusted for that account this long, in seconds.
pub const TRUSTED_FOR: i64 = 30 * 86_400;
/// Most keys per table.
pub const MAX_ENTRIES: usize = 100_000;

/// Milliseconds in a second: the tables keep milliseconds, so that a one-second back-off lasts a whole second
/// and not whatever remains of the second the failure fell in.
const MS: i64 = 1000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    /// When the last failure was counted, in milliseconds.
    last: i64,
}

impl Failures {
    /// When (in milliseconds) the next attempt may be made, given `free` failures without delay and a `max`
    /// delay in seconds.
    fn not_before(&self, free: u32, max: i64) -> Option<i64> {
        if self.count < free {
            return None;
        }
        let doublings = (self.count - free).min(20);
        Some(
            self.last
                .saturating_add((1i64 << doublings).min(max).saturating_mul(MS)),
        )
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: f64,
}

/// A table of at most [`MAX_ENTRIES`] keys, dropping the stalest half when full.
struct Table<K, V> {
    map: HashMap<K, V>,
}

impl<K: std::hash::Hash + Eq + Clone, V: Copy> Table<K, V> {
    fn new() -> Self {
        Table {
            map: HashMap::new(),
        }
    }

    fn make_room(&mut self, age: impl Fn(&V) -> i64) {
        if self.map.len() < MAX_ENTRIES {
            return;
        }
        let mut ages: Vec<i64> = self.map.values().map(&age).collect();
        let mid = ages.len() / 2;
        let (_, median, _) = ages.select_nth_unstable(mid);
        let median = *median;
        self.map.retain(|_, v| age(v) > median);
    }
}

/// Why an attempt must wait: the number of seconds until it may be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// The throttle of one node.
pub struct Throttle {
    work_burst: f64,
    work_per_second: f64,
    admissions: tokio::sync::Semaphore,
    /// The verification queue's size.
    queue: usize,
    serial: Mutex<()>,
    pairs: Mutex<Table<(String, IpAddr), Failures>>,
    addresses: Mutex<Table<IpAddr, Failures>>,
    accounts: Mutex<Table<String, Failures>>,
    trusted: Mutex<Table<(String, IpAddr), i64>>,
    work: Mutex<Table<IpAddr, Bucket>>,
}

impl Throttle {
    /// A throttle allowing `per_second` login pages per address, `burst` at once.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Throttle {
            work_burst: burst,
            work_per_second: per_second,
            queue: crate::authn::password::cpus() * crate::authn::password::QUEUE_PER_CPU,
            admissions: tokio::sync::Semaphore::new(
                crate::authn::password::cpus() * crate::authn::password::QUEUE_PER_CPU,
            ),
            serial: Mutex::new(()),
            pairs: Mutex::new(Table::new()),
            addresses: Mutex::new(Table::new()),
            accounts: Mutex::new(Table::new()),
            trusted: Mutex::new(Table::new()),
            work: Mutex::new(Table::new()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn wait<K: std::hash::Hash + Eq + Clone>(
    table: &Mutex<Table<K, Failures>>,
    key: &K,
    free: u32,
    max: i64,
    now: i64,
) -> i64 {
    let t = lock(table);
    t.map
        .get(key)
        .filter(|f| now - f.last < FORGET_AFTER * MS)
        .and_then(|f| f.not_before(free, max))
        .map_or(0, |at| at.saturating_sub(now).max(0))
}

fn bump<K: std::hash::Hash + Eq + Clone>(table: &Mutex<Table<K, Failures>>, key: K, now: i64) {
    let mut t = lock(table);
    t.make_room(|f| f.last);
    let f = t.map.entry(key).or_insert(Failures {
        count: 0,
        last: now,
    });
    if now - f.last >= FORGET_AFTER * MS {
        f.count = 0;
    }
    f.count = f.count.saturating_add(1);
    f.last = now;
}

/// The unit addresses are counted in: an IPv4 address, or an IPv6 /64 (one host commonly holds a whole /64); an
/// IPv4-mapped IPv6 address counts as its IPv4 address.
pub fn address_bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Throttle {
    /// A place in the bounded queue of sign-in verifications (at most
    /// [`QUEUE_PER_CPU`](crate::authn::password::QUEUE_PER_CPU) per CPU, running or waiting), held while the
    /// attempt is verified; `None` when the queue is full (answer 503 with `Retry-After`).
    pub fn admit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.admissions.try_acquire().ok()
    }

    /// How many sign-in verifications are running or waiting now.
    pub fn in_flight(&self) -> usize {
        self.queue
            .saturating_sub(self.admissions.available_permits())
    }

    /// How long a sign-in attempt for `account` (when the form names one) from `address` at `now` (milliseconds
    /// since the epoch) must wait, without counting it (for steps that are not guesses, such as beginning a multi-step method).
    pub fn check(
        &self,
        account: Option<&str>,
        address: IpAddr,
        now: i64,
    ) -> Result<(), RetryAfter> {
        let address = address_bucket(address);
        let mut delay = wait(
            &self.addresses,
            &address,
            ADDRESS_FREE,
            ADDRESS_MAX_DELAY,
            now,
        );
        if let Some(account) = account {
            let pair = (account.to_owned(), address);
            delay = delay.max(wait(&self.pairs, &pair, PAIR_FREE, PAIR_MAX_DELAY, now));
            let trusted = lock(&self.trusted)
                .map
                .get(&pair)
                .is_some_and(|until| *until > now);
            if !trusted {
                let key = account.to_owned();
                delay = delay.max(wait(
                    &self.accounts,
                    &key,
                    ACCOUNT_FREE,
                    ACCOUNT_MAX_DELAY,
                    now,
                ));
            }
        }
        if delay > 0 {
            Err(RetryAfter(((delay + MS - 1) / MS) as u64))
        } else {
            Ok(())
        }
    }

    /// A sign-in attempt about to be verified at `now` (milliseconds since the epoch): refused with the wait when it must wait, else counted as a failure
    /// at once — before the verification, in one critical section with the check, so that concurrent attempts
    /// see each other — and [`succeeded`](Self::succeeded) takes it back.
    pub fn attempt(
        &self,
        account: Option<&str>,
        address: IpAddr,
        now: i64,
    ) -> Result<(), RetryAfter> {
        let _one_at_a_time = lock(&self.serial);
        self.check(account, address, now)?;
        self.failed(account, address, now);
        Ok(())
    }

    /// Records a failure.
    fn failed(&self, account: Option<&str>, address: IpAddr, now: i64) {
        let address = address_bucket(address);
        bump(&self.addresses, address, now);
        if let Some(account) = account {
            bump(&self.pairs, (account.to_owned(), address), now);
            bump(&self.accounts, account.to_owned(), now);
        }
    }

    /// Records a successful sign-in at `now` (milliseconds since the epoch): the attempt's count on the address is taken back, the pair's and the
    /// account's failures are forgotten, and the address is trusted for the account (exempt from the account's
    /// back-off) for [`TRUSTED_FOR`].
    pub fn succeeded(&self, account: &str, address: IpAddr, now: i64) {
        let address = address_bucket(address);
        if let Some(f) = lock(&self.addresses).map.get_mut(&address) {
            f.count = f.count.saturating_sub(1);
        }
        let pair = (account.to_owned(), address);
        lock(&self.pairs).map.remove(&pair);
        lock(&self.accounts).map.remove(account);
        let mut trusted = lock(&self.trusted);
        trusted.make_room(|until| *until);
        trusted
            .map
            .insert(pair, now.saturating_add(TRUSTED_FOR * MS));
    }

    /// Takes one unit of anonymous stored work for `address` at `now_ms` (milliseconds), or says how long to
    /// wait.
    pub fn allow_work(&self, address: IpAddr, now_ms: i64) -> Result<(), RetryAfter> {
        let address = address_bucket(address);
        let now = now_ms as f64 / 1000.0;
        let mut t = lock(&self.work);
        t.make_room(|b| b.at as i64);
        let (burst, rate) = (self.work_burst, self.work_per_second);
        let b = t.map.entry(address).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + (now - b.at).max(0.0) * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(RetryAfter(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn pair_backs_off_exponentially_up_to_its_cap() {
        let t = Throttle::new(1.0, 60.0);
        let mut now = 1_000_000 * MS;
        for _ in 0..PAIR_FREE {
            assert_eq!(t.check(Some("alice"), A, now), Ok(()));
            t.failed(Some("alice"), A, now);
        }
        assert_eq!(t.check(Some("alice"), A, now), Err(RetryAfter(1)));
        // A whole second: not what remains of the second the failure fell in.
        now += MS - 1;
        assert_eq!(t.check(Some("alice"), A, now), Err(RetryAfter(1)));
        now += 1;
        assert_eq!(t.check(Some("alice"), A, now), Ok(()));
        t.failed(Some("alice"), A, now);
        assert_eq!(t.check(Some("alice"), A, now), Err(RetryAfter(2)));
        // 14 failures: past the pair's cap, under the address's threshold.
        for _ in 0..10 {
            t.failed(Some("alice"), A, now);
        }
        assert_eq!(
            t.check(Some("alice"), A, now),
            Err(RetryAfter(PAIR_MAX_DELAY as u64))
        );
        // Another address is not held back by this pair (the account's own threshold is higher).
        assert!(t.check(Some("alice"), B, now).is_err(), "account back-off");
        now += FORGET_AFTER * MS;
        assert_eq!(t.check(Some("alice"), A, now), Ok(()));
    }

    #[test]
    fn account_back_off_is_short_and_spares_trusted_addresses() {
        let t = Throttle::new(1.0, 60.0);
        let now = 1_000_000 * MS;
        t.succeeded("alice", B, now);
        for i in 0..100u8 {
            let attacker = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, i));
            t.failed(Some("alice"), attacker, now);
        }
        let fresh = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));
        assert_eq!(
            t.check(Some("alice"), fresh, now),
            Err(RetryAfter(ACCOUNT_MAX_DELAY as u64))
        );
        assert_eq!(t.check(Some("alice"), B, now), Ok(()), "trusted address");
        assert_eq!(
            t.check(Some("alice"), fresh, now + ACCOUNT_MAX_DELAY * MS),
            Ok(())
        );
    }

    #[test]
    fn address_back_off_covers_every_account() {
        let t = Throttle::new(1.0, 60.0);
        let now = 1_000_000 * MS;
        for i in 0..ADDRESS_FREE {
            t.failed(Some(&format!("user{i}")), A, now);
        }
        assert!(t.check(Some("someone-else"), A, now).is_err());
        assert!(t.check(None, A, now).is_err());
        assert_eq!(t.check(Some("someone-else"), B, now), Ok(()));
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_mapped_ones_as_ipv4() {
        let t = Throttle::new(1.0, 60.0);
        let now = 1_000_000 * MS;
        for i in 0..ADDRESS_FREE {
            let ip: IpAddr = format!("2001:db8:1:1::{:x}", i + 1).parse().unwrap();
            t.failed(Some(&format!("user{i}")), ip, now);
        }
        let same_64: IpAddr = "2001:db8:1:1:ffff::1".parse().unwrap();
        assert!(t.check(Some("x"), same_64, now).is_err());
        let other_64: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        assert_eq!(t.check(Some("x"), other_64, now), Ok(()));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_bucket(mapped), A);
    }

    #[test]
    fn an_attempt_counts_before_it_is_verified_and_success_takes_it_back() {
        let t = Throttle::new(1.0, 60.0);
        let now = 1_000_000 * MS;
        for _ in 0..PAIR_FREE {
            assert_eq!(t.attempt(Some("alice"), A, now), Ok(()));
        }
        assert!(
            t.attempt(Some("alice"), A, now).is_err(),
            "in flight counts"
        );
        t.succeeded("alice", A, now);
        assert_eq!(t.attempt(Some("alice"), A, now), Ok(()));
        assert_eq!(
            lock(&t.addresses).map[&A].count,
            PAIR_FREE,
            "one taken back"
        );
    }

    #[test]
    fn work_bucket_refills() {
        let t = Throttle::new(1.0, 60.0);
        let mut now = 5_000_000;
        for _ in 0..60 {
            assert_eq!(t.allow_work(A, now), Ok(()));
        }
        assert_eq!(t.allow_work(A, now), Err(RetryAfter(1)));
        assert_eq!(t.allow_work(B, now), Ok(()));
        now += 1000;
        assert_eq!(t.allow_work(A, now), Ok(()));
        assert!(t.allow_work(A, now).is_err());
    }

    #[test]
    fn tables_stay_bounded() {
        let t = Throttle::new(1.0, 60.0);
        for i in 0..(MAX_ENTRIES as u32 + 10) {
            t.failed(Some(&i.to_string()), A, i64::from(i));
        }
        assert!(lock(&t.accounts).map.len() <= MAX_ENTRIES);
    }
}
