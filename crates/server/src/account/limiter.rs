//! The sign-in rate limit: attempts counted per account (and, for access codes, per room)
//! and per address over a window, each counted before its password or code is checked
//! (so that attempts sent together cannot all pass) and forgiven when it succeeds; past
//! the limit, attempts are refused before anything is checked until the window ends.
//! Unknown emails count like known ones, so the limit tells nobody which exist. Each node
//! counts its own attempts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins one account (or wrong codes one room) may have within
/// [`FAILURE_WINDOW`].
pub const FAILURES_PER_ACCOUNT: u32 = 10;
/// Failed sign-ins one address may make within [`FAILURE_WINDOW`].
pub const FAILURES_PER_ADDRESS: u32 = 30;
/// The window failed sign-ins are counted over.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The most accounts, rooms and addresses tracked at once; past it, the windows that
/// ended go first, then those with a single failure.
const MAX_TRACKED: usize = 100_000;

/// What an attempt is at.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// Signing in to the account of this email.
    Account(&'a str),
    /// The access code of this room.
    Room(&'a str),
}

/// What is counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Room(String),
    Address(IpAddr),
}

impl From<Subject<'_>> for Key {
    fn from(subject: Subject<'_>) -> Key {
        match subject {
            Subject::Account(email) => Key::Account(email.to_owned()),
            Subject::Room(room) => Key::Room(room.to_owned()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Attempts, counted.
#[derive(Debug, Default)]
pub struct Limiter {
    windows: Mutex<HashMap<Key, Window>>,
}

impl Limiter {
    /// Counts an attempt at `subject` from `address`, or refuses it with the seconds until
    /// it may be tried again.
    pub fn attempt(&self, subject: Subject<'_>, address: IpAddr, now: Instant) -> Result<(), u64> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let keys = [
            (Key::from(subject), FAILURES_PER_ACCOUNT),
            (Key::Address(address), FAILURES_PER_ADDRESS),
        ];
        let wait = keys
            .iter()
            .filter_map(|(key, limit)| {
                windows
                    .get(key)
                    .filter(|w| w.failures >= *limit && now < w.started + FAILURE_WINDOW)
                    .map(|w| (w.started + FAILURE_WINDOW - now).as_secs().max(1))
            })
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        if windows.len() >= MAX_TRACKED {
            make_room(&mut windows, now);
        }
        for (key, _) in keys {
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
        Ok(())
    }

    /// An attempt that succeeded: the subject's failures are forgotten, and the address's
    /// count no longer holds this one.
    pub fn succeeded(&self, subject: Subject<'_>, address: IpAddr) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.remove(&Key::from(subject));
        if let Some(window) = windows.get_mut(&Key::Address(address)) {
            window.failures = window.failures.saturating_sub(1);
        }
    }
}

/// Frees a quarter of the table: ended windows, then windows with one failure, then all.
fn make_room(windows: &mut HashMap<Key, Window>, now: Instant) {
    let goal = MAX_TRACKED * 3 / 4;
    windows.retain(|_, w| now < w.started + FAILURE_WINDOW);
    if windows.len() > goal {
        windows.retain(|_, w| w.failures > 1);
    }
    if windows.len() > goal {
        windows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    #[test]
    fn an_account_is_held_back_after_its_failures_until_the_window_ends() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..FAILURES_PER_ACCOUNT {
            assert_eq!(limiter.attempt(Subject::Account("a@x"), HERE, t0), Ok(()));
        }
        assert_eq!(
            limiter.attempt(Subject::Account("a@x"), HERE, t0),
            Err(FAILURE_WINDOW.as_secs())
        );
        // Another account from the same address, and a room's code, may still be tried.
        assert_eq!(limiter.attempt(Subject::Account("b@x"), HERE, t0), Ok(()));
        assert_eq!(limiter.attempt(Subject::Room("a@x"), HERE, t0), Ok(()));
        let later = t0 + FAILURE_WINDOW;
        assert_eq!(
            limiter.attempt(Subject::Account("a@x"), HERE, later),
            Ok(())
        );
    }

    #[test]
    fn an_address_trying_many_accounts_is_held_back() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        for n in 0..FAILURES_PER_ADDRESS {
            let email = format!("u{n}@x");
            assert_eq!(limiter.attempt(Subject::Account(&email), HERE, t0), Ok(()));
        }
        assert!(
            limiter
                .attempt(Subject::Account("fresh@x"), HERE, t0)
                .is_err()
        );
        let elsewhere = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 3));
        assert_eq!(
            limiter.attempt(Subject::Account("fresh@x"), elsewhere, t0),
            Ok(())
        );
    }

    #[test]
    fn succeeding_forgives_the_attempt_and_the_accounts_failures() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..FAILURES_PER_ACCOUNT - 1 {
            limiter.attempt(Subject::Account("a@x"), HERE, t0).unwrap();
        }
        limiter.attempt(Subject::Account("a@x"), HERE, t0).unwrap();
        limiter.succeeded(Subject::Account("a@x"), HERE);
        assert_eq!(limiter.attempt(Subject::Account("a@x"), HERE, t0), Ok(()));
        // Many people signing in rightly from one address (an office) are never held back.
        for n in 0..FAILURES_PER_ADDRESS * 2 {
            let email = format!("ok{n}@x");
            limiter.attempt(Subject::Account(&email), HERE, t0).unwrap();
            limiter.succeeded(Subject::Account(&email), HERE);
        }
    }
}
