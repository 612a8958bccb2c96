//! Restreaming a broadcast to an RTMP server (YouTube, Twitch, any other): an `ffmpeg`
//! child reads the broadcast's top rung from the server's own HLS output over loopback and
//! copies it, H.264 and AAC as they are, to the destination in FLV. No second encoding:
//! the ladder's top rung already is what RTMP servers take.
//!
//! A destination that refuses or drops is tried again, after 1, 2, 4 … up to 30 s (back
//! to 1 s after a run that lasted a minute); its state and last error are visible in the
//! broadcast API.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use moim_egress::hls::Availability;
use serde::Serialize;
use tracing::{info, warn};

use crate::broadcast::ladder::Renditions;

/// The longest wait before trying a destination again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run that lasted this long was a success: the next failure waits 1 s again.
const GOOD_RUN: Duration = Duration::from_secs(60);
/// A run that has lasted this long is taken as connected.
const CONNECTED_AFTER: Duration = Duration::from_secs(5);

/// Where a restream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RestreamState {
    /// Waiting for the broadcast's first picture, or connecting.
    Connecting,
    /// Sending.
    Live,
    /// The destination refused or dropped; trying again soon.
    Retrying,
    /// The broadcast stopped.
    Stopped,
}

/// A restream as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RestreamStatus {
    /// The destination, its last path segment (the stream key) hidden.
    pub url: String,
    pub state: RestreamState,
    /// Times the destination refused or dropped the stream.
    pub failures: u32,
    /// ffmpeg's last error line, after a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// What the restream's thread keeps: the status, and since when its child runs.
struct Shared {
    status: RestreamStatus,
    running_since: Option<Instant>,
}

/// A running restream; stopping it ends its child.
pub struct Restream {
    status: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    child: Arc<Mutex<Option<Child>>>,
}

impl Restream {
    /// Starts sending the broadcast whose rungs are `renditions` and whose rung playlists
    /// are at `{hls_folder}{rung}/index.m3u8` (an `http://` URL on this server) to `dest`.
    pub fn start(
        renditions: Renditions,
        hls_folder: String,
        dest: String,
    ) -> std::io::Result<Restream> {
        let status = Arc::new(Mutex::new(Shared {
            status: RestreamStatus {
                url: masked(&dest),
                state: RestreamState::Connecting,
                failures: 0,
                last_error: None,
            },
            running_since: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let child = Arc::new(Mutex::new(None));
        {
            let (status, stop, child) = (status.clone(), stop.clone(), child.clone());
            std::thread::Builder::new()
                .name("moim-restream".into())
                .spawn(move || run(&renditions, &hls_folder, &dest, &status, &stop, &child))?;
        }
        Ok(Restream {
            status,
            stop,
            child,
        })
    }

    /// Where it stands now: connected once its child has run a few seconds.
    pub fn status(&self) -> RestreamStatus {
        let shared = lock(&self.status);
        let mut status = shared.status.clone();
        if status.state == RestreamState::Connecting
            && shared
                .running_since
                .is_some_and(|t| t.elapsed() >= CONNECTED_AFTER)
        {
            status.state = RestreamState::Live;
        }
        status
    }

    /// Ends it (its child is killed; the destination sees the stream end).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(mut child) = lock(&self.child).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        lock(&self.status).status.state = RestreamState::Stopped;
    }
}

impl Drop for Restream {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The restream's thread: (re)starts the child until stopped.
fn run(
    renditions: &Renditions,
    hls_folder: &str,
    dest: &str,
    status: &Mutex<Shared>,
    stop: &AtomicBool,
    slot: &Mutex<Option<Child>>,
) {
    let pause = |d: Duration| {
        let until = Instant::now() + d;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // The top rung, once its first segment is complete: ffmpeg then finds both tracks
    // in what it reads first.
    let rung = loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if let Some(top) = renditions.all().last()
            && top.availability(0, None) == Availability::Ready
        {
            break top.rung().name.clone();
        }
        pause(Duration::from_millis(200));
    };
    let source = format!("{hls_folder}{rung}/index.m3u8");
    let mut backoff = Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        lock(status).status.state = RestreamState::Connecting;
        let spawned = Command::new("ffmpeg")
            // From the newest segment: older ones would go out in a burst.
            .args([
                "-nostdin",
                "-v",
                "error",
                "-live_start_index",
                "-1",
                "-i",
                &source,
            ])
            .args([
                "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-f", "flv", dest,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                warn!("cannot start ffmpeg for a restream: {e}");
                lock(status).status.last_error = Some(e.to_string());
                pause(MAX_BACKOFF);
                continue;
            }
        };
        let stderr = child.stderr.take();
        *lock(slot) = Some(child);
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let started = Instant::now();
        lock(status).running_since = Some(started);
        info!(source = %source, "restream started");
        // ffmpeg's errors, the last one kept; reading ends when the child does.
        let last_error =
            stderr.and_then(|stderr| BufReader::new(stderr).lines().map_while(Result::ok).last());
        if let Some(mut child) = lock(slot).take() {
            let _ = child.wait();
        }
        lock(status).running_since = None;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if started.elapsed() >= GOOD_RUN {
            backoff = Duration::from_secs(1);
        }
        {
            let mut shared = lock(status);
            let s = &mut shared.status;
            s.failures += 1;
            s.state = RestreamState::Retrying;
            s.last_error = last_error.or_else(|| Some("the destination closed the stream".into()));
            warn!(url = %s.url, failures = s.failures, error = ?s.last_error, "restream dropped; trying again");
        }
        pause(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    // Stopped just as a child started: it goes too.
    if let Some(mut child) = lock(slot).take() {
        let _ = child.kill();
        let _ = child.wait();
    }
    lock(status).status.state = RestreamState::Stopped;
}

/// `url` with its last path segment (an RTMP stream key) hidden.
fn masked(url: &str) -> String {
    match url.rsplit_once('/') {
        Some((head, key))
            if !key.is_empty() && head.contains("://") && head.matches('/').count() >= 3 =>
        {
            format!("{head}/…")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_key_is_hidden() {
        assert_eq!(
            masked("rtmp://a.rtmp.youtube.com/live2/abcd-efgh"),
            "rtmp://a.rtmp.youtube.com/live2/…"
        );
        assert_eq!(masked("rtmp://host/live"), "rtmp://host/live");
    }
}
