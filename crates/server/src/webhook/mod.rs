//! Webhooks: the rooms' events (a room started or finished, a participant joined or left,
//! a track published or unpublished, a recording or broadcast started or finished) posted
//! as JSON to the URLs of `webhook_urls`, signed with the API secret.
//!
//! Emitting never blocks and never waits for a receiver: each URL has a bounded queue
//! ([`delivery::CAPACITY`] events) and a task that posts them one at a time, in the order
//! they happened, each tried again with a growing pause while the receiver fails or does
//! not answer, for at most `webhook_retry_for`. A queue that is full (its receiver has
//! been away long) drops the newest events, counted in `/metrics`.

pub mod delivery;
pub mod event;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use delivery::Stats;
pub use event::{Event, EventKind, RecordingDetails};

use crate::config::Config;
use crate::outbound;

/// A receiver's URL, split as the outbound client asks for it.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// The URL as configured.
    pub url: String,
    /// `http[s]://host[:port]`.
    origin: String,
    /// The path and query (`/` when the URL has none).
    path: String,
}

impl Receiver {
    /// Reads a receiver's URL: `http://` or `https://`, a host, a path that can go in a
    /// request line as it is.
    pub fn parse(url: &str) -> anyhow::Result<Receiver> {
        let (origin, path) =
            outbound::split_url(url).map_err(|e| anyhow::anyhow!("webhook URL {url:?}: {e}"))?;
        Ok(Receiver {
            url: url.to_owned(),
            origin,
            path,
        })
    }
}

/// The `Moim-Signature` header's value for `body` sent at `t` (seconds since the Unix
/// epoch): `t=<t>,v1=<hex of HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, t: u64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// The events' way out: cheap to clone, never blocks; off when no URL is configured.
#[derive(Debug, Clone, Default)]
pub struct Webhooks {
    queues: Arc<[Arc<delivery::Queue>]>,
    stats: Arc<Stats>,
}

impl Webhooks {
    /// One queue and delivery task per URL of the config (call within the runtime).
    pub fn start(config: &Config) -> anyhow::Result<Webhooks> {
        let stats = Arc::new(Stats::default());
        let mut queues = Vec::new();
        for url in &config.webhook_urls {
            let queue = Arc::new(delivery::Queue::new(Receiver::parse(url)?));
            tokio::spawn(delivery::run(
                queue.clone(),
                config.api_secret.clone(),
                Duration::from_secs(config.webhook_retry_for),
                stats.clone(),
            ));
            queues.push(queue);
        }
        Ok(Webhooks {
            queues: queues.into(),
            stats,
        })
    }

    /// Whether any receiver is configured (events need not be made otherwise).
    pub fn on(&self) -> bool {
        !self.queues.is_empty()
    }

    /// Queues `event` for every receiver.
    pub fn emit(&self, event: Event) {
        if !self.on() {
            return;
        }
        let body: Arc<str> = match serde_json::to_string(&event) {
            Ok(body) => body.into(),
            Err(e) => {
                tracing::error!("cannot write a webhook event: {e}");
                return;
            }
        };
        for queue in self.queues.iter() {
            let pending = delivery::Pending {
                id: event.id.clone(),
                kind: event.event,
                body: body.clone(),
            };
            if !queue.push(pending) {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// What became of the events so far, and how many wait now.
    pub fn stats(&self) -> (&Stats, usize) {
        let waiting = self.queues.iter().map(|q| q.len()).sum();
        (&self.stats, waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receivers_url_splits_into_origin_and_path() {
        let r = Receiver::parse("https://hooks.example.com:8443/moim/events?team=7").unwrap();
        assert_eq!(
            (r.origin.as_str(), r.path.as_str()),
            ("https://hooks.example.com:8443", "/moim/events?team=7")
        );
        let r = Receiver::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(
            (r.origin.as_str(), r.path.as_str()),
            ("http://127.0.0.1:9000", "/")
        );
        let r = Receiver::parse("http://h?x=1").unwrap();
        assert_eq!(r.path, "/?x=1");
        for bad in [
            "ftp://h/x",
            "hooks.example.com/x",
            "https:///x",
            "http://u:p@h/",
            "http://h/a b",
        ] {
            assert!(Receiver::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_signature_is_the_hmac_of_the_time_and_the_body() {
        // HMAC-SHA256("secret", "1700000000.{}") as `openssl dgst -sha256 -hmac secret`
        // prints it.
        assert_eq!(
            signature("secret", 1_700_000_000, "{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }
}
