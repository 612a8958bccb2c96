//! The limits every client meets are written down once, in the "Limits" table of
//! `docs/configuration.md`; this test holds the table to the constants the code uses, so
//! the two cannot drift apart.

#[cfg(test)]
mod tests {
    use std::time::Duration;

    const TABLE: &str = include_str!("../../../docs/configuration.md");

    /// The table's row that names `constant` in its last column.
    fn row(constant: &str) -> &'static str {
        let named = format!("`{constant}`");
        TABLE
            .lines()
            .filter(|l| l.starts_with('|'))
            .find(|l| {
                l.rsplit('|')
                    .nth(1)
                    .is_some_and(|last| last.contains(&named))
            })
            .unwrap_or_else(|| panic!("docs/configuration.md names no limit {constant}"))
    }

    fn seconds(d: Duration) -> String {
        format!("{} s", d.as_secs())
    }

    fn size(bytes: usize) -> String {
        if bytes >= 1 << 20 {
            format!("{} MiB", bytes >> 20)
        } else {
            format!("{} KiB", bytes >> 10)
        }
    }

    fn count(n: usize) -> String {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    #[test]
    fn the_documented_limits_are_the_ones_the_code_uses() {
        let limits = [
            ("JOIN_DEADLINE", seconds(crate::signal::JOIN_DEADLINE)),
            ("SEND_TIMEOUT", seconds(crate::signal::SEND_TIMEOUT)),
            ("IDLE_TIMEOUT", seconds(crate::signal::IDLE_TIMEOUT)),
            (
                "OUTBOX_CAPACITY",
                count(crate::room::outbox::OUTBOX_CAPACITY),
            ),
            ("RESUME_GRACE", seconds(crate::room::outbox::RESUME_GRACE)),
            ("RESUME_WINDOW", count(crate::room::outbox::RESUME_WINDOW)),
            (
                "MAX_MESSAGE_BYTES",
                size(moim_proto::signal::MAX_MESSAGE_BYTES),
            ),
            ("MAX_FRAME_BYTES", size(crate::signal::MAX_FRAME_BYTES)),
            ("MAX_OFFER_BYTES", size(crate::http::whip::MAX_OFFER_BYTES)),
            (
                "MAX_API_BODY_BYTES",
                size(crate::http::error::MAX_API_BODY_BYTES),
            ),
            (
                "MAX_FOREIGN_ADDRESSES",
                count(moim_media::demux::MAX_FOREIGN_ADDRESSES),
            ),
            (
                "MAX_TRACKS_PER_PUBLISHER",
                count(moim_media::MAX_TRACKS_PER_PUBLISHER),
            ),
            ("MAX_CONNECTIONS", count(crate::ingest::MAX_CONNECTIONS)),
            (
                "MAX_HELD_REQUESTS",
                count(crate::http::hls::MAX_HELD_REQUESTS),
            ),
            ("HOLD_LIMIT", seconds(crate::http::hls::HOLD_LIMIT)),
            ("START_WAIT", seconds(crate::http::hls::START_WAIT)),
            (
                "KEY_LIFETIME_SECONDS",
                format!("{} s", crate::broadcast::access::KEY_LIFETIME_SECONDS),
            ),
            (
                "KEEP_ENDED",
                seconds(crate::broadcast::playback::KEEP_ENDED),
            ),
            (
                "MAX_TURN_ALLOCATIONS",
                count(crate::turn::MAX_TURN_ALLOCATIONS),
            ),
            (
                "MAX_TURN_CONNECTIONS",
                count(crate::turn::MAX_TURN_CONNECTIONS),
            ),
            (
                "HANDSHAKE_TIMEOUT",
                seconds(moim_turn::service::HANDSHAKE_TIMEOUT),
            ),
            ("MAX_MESSAGE", size(moim_turn::service::MAX_MESSAGE)),
            (
                "PUBLISH_DEADLINE",
                seconds(crate::ingest::session::PUBLISH_DEADLINE),
            ),
            (
                "FAILURES_PER_ACCOUNT",
                format!(
                    "{} per account",
                    crate::account::limiter::FAILURES_PER_ACCOUNT
                ),
            ),
            (
                "FAILURES_PER_ADDRESS",
                format!(
                    "{} per address",
                    crate::account::limiter::FAILURES_PER_ADDRESS
                ),
            ),
            (
                "FAILURE_WINDOW",
                seconds(crate::account::limiter::FAILURE_WINDOW),
            ),
            (
                "MIN_PASSWORD_CHARS",
                format!(
                    "{} characters",
                    crate::account::password::MIN_PASSWORD_CHARS
                ),
            ),
            (
                "MAX_PASSWORD_BYTES",
                size(crate::account::password::MAX_PASSWORD_BYTES),
            ),
            (
                "MAX_AVATAR_BYTES",
                size(crate::http::account_api::MAX_AVATAR_BYTES),
            ),
            (
                "INVITE_DAYS",
                format!("{} days", crate::account::INVITE_DAYS),
            ),
        ];
        for (constant, value) in limits {
            let row = row(constant);
            assert!(
                row.contains(&value),
                "docs/configuration.md says of {constant}: {row}\nbut the code has {value}"
            );
        }
        assert_eq!(count(16_384), "16,384");
    }
}
