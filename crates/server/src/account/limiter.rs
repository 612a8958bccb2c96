//! The sign-in rate limit: failed attempts counted per account and per address over a
//! window; past the limit, sign-in is refused (before the password is checked) until the
//! window ends. Unknown emails count like known ones, so the limit tells nobody which
//! exist. Each node counts its own attempts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins one account may have within [`FAILURE_WINDOW`].
pub const FAILURES_PER_ACCOUNT: u32 = 10;
/// Failed sign-ins one address may make within [`FAILURE_WINDOW`].
pub const FAILURES_PER_ADDRESS: u32 = 30;
/// The window failed sign-ins are counted over.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The most accounts and addresses tracked at once; past it the oldest windows go first.
const MAX_TRACKED: usize = 100_000;

/// What is counted: an account (its email) or an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Failed sign-ins, counted.
#[derive(Debug, Default)]
pub struct Limiter {
    windows: Mutex<HashMap<Key, Window>>,
}

impl Limiter {
    /// Seconds until `email` from `address` may try again, if it may not now.
    pub fn wait(&self, email: &str, address: IpAddr, now: Instant) -> Option<u64> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let over = |key: Key, limit: u32| {
            windows
                .get(&key)
                .filter(|w| w.failures >= limit && now < w.started + FAILURE_WINDOW)
                .map(|w| (w.started + FAILURE_WINDOW - now).as_secs().max(1))
        };
        over(Key::Account(email.to_owned()), FAILURES_PER_ACCOUNT)
            .max(over(Key::Address(address), FAILURES_PER_ADDRESS))
    }

    /// Counts a failed sign-in.
    pub fn failed(&self, email: &str, address: IpAddr, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, w| now < w.started + FAILURE_WINDOW);
        }
        for key in [Key::Account(email.to_owned()), Key::Address(address)] {
            let window = windows.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now >= window.started + FAILURE_WINDOW {
                *window = Window {
                    started: now,
                    failures: 0,
                };
            }
            window.failures += 1;
        }
    }

    /// Forgets an account's failures once it signed in.
    pub fn succeeded(&self, email: &str) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.remove(&Key::Account(email.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_held_back_after_its_failures_until_the_window_ends() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        let here: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..FAILURES_PER_ACCOUNT {
            assert_eq!(limiter.wait("a@x", here, t0), None);
            limiter.failed("a@x", here, t0);
        }
        assert_eq!(
            limiter.wait("a@x", here, t0),
            Some(FAILURE_WINDOW.as_secs())
        );
        // Another account from the same address may still try.
        assert_eq!(limiter.wait("b@x", here, t0), None);
        assert_eq!(limiter.wait("a@x", here, t0 + FAILURE_WINDOW), None);
    }

    #[test]
    fn an_address_trying_many_accounts_is_held_back() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        let here: IpAddr = [10, 0, 0, 2].into();
        for n in 0..FAILURES_PER_ADDRESS {
            limiter.failed(&format!("u{n}@x"), here, t0);
        }
        assert!(limiter.wait("fresh@x", here, t0).is_some());
        assert_eq!(limiter.wait("fresh@x", [10, 0, 0, 3].into(), t0), None);
    }

    #[test]
    fn signing_in_forgets_the_accounts_failures() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        let here: IpAddr = [10, 0, 0, 4].into();
        for _ in 0..FAILURES_PER_ACCOUNT {
            limiter.failed("a@x", here, t0);
        }
        limiter.succeeded("a@x");
        assert_eq!(limiter.wait("a@x", here, t0), None);
    }
}
