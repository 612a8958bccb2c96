//! One receiver's queue and the task that posts its events, one at a time and in order,
//! each tried again while the receiver fails, for a bounded time.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::sync::Notify;
use tracing::warn;

use super::{EventKind, Receiver, signature};
use crate::outbound;
use crate::state::unix_now;

/// Events a receiver's queue holds at most; past it, the newest are dropped.
pub const CAPACITY: usize = 1000;
/// The first pause before an event is tried again; each next one doubles, up to
/// [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);

/// What became of the events, over every receiver.
#[derive(Debug, Default)]
pub struct Stats {
    /// Taken by a receiver (a `2xx` answer).
    pub delivered: AtomicU64,
    /// Given up after `webhook_retry_for`.
    pub failed: AtomicU64,
    /// Dropped because a receiver's queue was full.
    pub dropped: AtomicU64,
    /// Attempts that failed (a refusal, no answer, an answer other than `2xx`).
    pub failed_attempts: AtomicU64,
}

/// An event on its way to one receiver.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: String,
    pub kind: EventKind,
    /// The JSON, made once for every receiver.
    pub body: Arc<str>,
}

/// A receiver and the events waiting for it, oldest first.
#[derive(Debug)]
pub struct Queue {
    receiver: Receiver,
    events: Mutex<VecDeque<Pending>>,
    wake: Notify,
}

impl Queue {
    pub fn new(receiver: Receiver) -> Queue {
        Queue {
            receiver,
            events: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
        }
    }

    /// Adds an event at the end; false (and nothing added) when the queue is full.
    pub fn push(&self, pending: Pending) -> bool {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if events.len() >= CAPACITY {
            return false;
        }
        events.push_back(pending);
        drop(events);
        self.wake.notify_one();
        true
    }

    /// Events waiting (the one being delivered included).
    pub fn len(&self) -> usize {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn front(&self) -> Option<Pending> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.front().cloned()
    }

    fn pop(&self) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
    }
}

/// Delivers the queue's events for as long as the server runs.
pub async fn run(queue: Arc<Queue>, secret: String, retry_for: Duration, stats: Arc<Stats>) {
    loop {
        let Some(next) = queue.front() else {
            queue.wake.notified().await;
            continue;
        };
        if deliver(&queue.receiver, &next, &secret, retry_for, &stats).await {
            stats.delivered.fetch_add(1, Ordering::Relaxed);
        } else {
            stats.failed.fetch_add(1, Ordering::Relaxed);
        }
        queue.pop();
    }
}

/// Posts one event until the receiver takes it (true) or `retry_for` has passed.
async fn deliver(
    receiver: &Receiver,
    pending: &Pending,
    secret: &str,
    retry_for: Duration,
    stats: &Stats,
) -> bool {
    let first = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        let Err(e) = attempt(receiver, pending, secret).await else {
            return true;
        };
        stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
        if first.elapsed() + pause > retry_for {
            warn!(
                url = %receiver.url,
                event = pending.kind.as_str(),
                id = %pending.id,
                "webhook event given up after {:?}: {e:#}",
                first.elapsed()
            );
            return false;
        }
        warn!(url = %receiver.url, event = pending.kind.as_str(), "webhook failed, trying again in {pause:?}: {e:#}");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// One post of the event, signed now.
async fn attempt(receiver: &Receiver, pending: &Pending, secret: &str) -> anyhow::Result<()> {
    let headers = format!(
        "Content-Type: application/json\r\nUser-Agent: moim/{}\r\nMoim-Event: {}\r\n\
         Moim-Delivery: {}\r\nMoim-Signature: {}\r\n",
        env!("CARGO_PKG_VERSION"),
        pending.kind.as_str(),
        pending.id,
        signature(secret, unix_now(), &pending.body)
    );
    let reply = outbound::request(
        &receiver.origin,
        "POST",
        &receiver.path,
        &headers,
        &pending.body,
    )
    .await?;
    if !(200..300).contains(&reply.status) {
        bail!("the receiver answered {}", reply.status);
    }
    Ok(())
}
