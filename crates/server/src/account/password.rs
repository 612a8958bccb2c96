//! Passwords: argon2id at the crate's defaults (19 MiB, two passes, one lane), hashed and
//! checked off the async threads, each taking about 25 ms of a core; at most two per core
//! at once, so that a burst of sign-ins waits instead of taking gigabytes and the
//! blocking threads others need.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;

/// The shortest password taken, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password taken, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Refuses a password too short or too long to be one.
pub fn check(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::new(
            ErrorCode::MalformedMessage,
            format!("A password has at least {MIN_PASSWORD_CHARS} characters."),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::new(
            ErrorCode::MalformedMessage,
            format!("A password has at most {MAX_PASSWORD_BYTES} bytes."),
        ));
    }
    Ok(())
}

/// The PHC string of `password`'s hash, with a new salt.
pub async fn hash(password: String) -> String {
    let _turn = turn().await;
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .expect("hashing does not panic")
}

/// A turn at hashing: at most two per core at once.
async fn turn() -> tokio::sync::SemaphorePermit<'static> {
    static TURNS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let turns = TURNS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::sync::Semaphore::new(2 * cores)
    });
    turns
        .acquire()
        .await
        .expect("the semaphore is never closed")
}

/// The PHC string of `password`'s hash, on this thread (the command line).
pub fn hash_now(password: &str) -> String {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16 bytes is a salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 takes any password of at most 4 GiB")
        .to_string()
}

/// Whether `password` is the one `hash` (a PHC string) was made from. Without a hash (an
/// unknown email, a user of the identity provider) a hash of nothing is checked instead,
/// so that the answer takes as long either way.
pub async fn verify(hash: Option<String>, password: String) -> bool {
    let _turn = turn().await;
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| decoy().to_owned());
        let matches = PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        known && matches
    })
    .await
    .unwrap_or(false)
}

/// A hash no password is checked against for real, made once.
fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_now(&format!("{:032x}", rand::random::<u128>())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_matches_its_hash_only() {
        let hash = hash("correct horse".into()).await;
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify(Some(hash.clone()), "correct horse".into()).await);
        assert!(!verify(Some(hash), "correct horsE".into()).await);
        assert!(!verify(None, "correct horse".into()).await);
        assert!(!verify(Some("not a hash".into()), "x".into()).await);
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert!(check("1234567").is_err());
        assert!(check("12345678").is_ok());
        assert!(check(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
    }
}
