//! The IO loop around one [`Router`]: a thread owning its own socket of the shared UDP port
//! and the channels to the other workers.
//!
//! It waits for a datagram, a command, a message from another worker or the router's next
//! timeout, hands it to the router, then sends what the router wants sent, relays what it
//! has for other workers and passes its events to the control plane.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::MediaStats;
use crate::command::Command;
use crate::event::MediaEvent;
use crate::relay::{Relay, WorkerId};
use crate::router::Router;
use crate::udp::MediaSocket;

/// Longest sleep when the router has no timer.
const IDLE_WAKE: Duration = Duration::from_millis(500);
/// How often the shared counters are refreshed.
const STATS_INTERVAL: Duration = Duration::from_millis(250);

/// What one worker is connected to.
pub(crate) struct WorkerLinks {
    pub me: WorkerId,
    pub commands: mpsc::Receiver<Command>,
    pub events: mpsc::Sender<MediaEvent>,
    /// Messages from other workers, tagged with the sender.
    pub relays_in: mpsc::Receiver<(WorkerId, Relay)>,
    /// Every worker's inbox, by worker index (this worker's own is never used).
    pub relays_out: Vec<mpsc::Sender<(WorkerId, Relay)>>,
    pub stats: Arc<Mutex<MediaStats>>,
}

/// Runs the IO loop until the command channel closes.
pub(crate) async fn run(socket: UdpSocket, candidate: SocketAddr, links: WorkerLinks) {
    let WorkerLinks {
        me,
        mut commands,
        events,
        mut relays_in,
        relays_out,
        stats,
    } = links;
    let mut router = Router::for_worker(candidate, me, relays_out.len());
    let mut socket = match MediaSocket::new(socket) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot set up the media socket: {e}");
            return;
        }
    };
    info!(%candidate, worker = me.0, "media worker running");
    let mut relay_drops: u64 = 0;
    let mut next_stats = Instant::now();
    loop {
        let deadline = router
            .next_timeout()
            .unwrap_or_else(|| Instant::now() + IDLE_WAKE);
        tokio::select! {
            readable = socket.readable() => {
                if let Err(e) = readable {
                    warn!("UDP socket failed: {e}");
                    continue;
                }
                let now = Instant::now();
                if let Err(e) = socket.read_all(|source, datagram| {
                    router.handle_datagram(now, source, datagram);
                }) {
                    warn!("UDP receive failed: {e}");
                }
            },
            command = commands.recv() => match command {
                Some(command) => router.handle_command(Instant::now(), command),
                None => break,
            },
            Some((from, relay)) = relays_in.recv() => {
                router.handle_relay(Instant::now(), from, relay);
            },
            _ = tokio::time::sleep_until(deadline.into()) => router.handle_timeout(Instant::now()),
        }
        while let Some(transmit) = router.poll_transmit() {
            socket.send(transmit.destination, &transmit.contents);
        }
        socket.flush();
        while let Some((to, relay)) = router.poll_relay() {
            if relays_out[to.0].try_send((me, relay)).is_err() {
                relay_drops += 1;
                if relay_drops.is_power_of_two() {
                    warn!(
                        worker = to.0,
                        relay_drops, "a media worker is not keeping up; relay dropped"
                    );
                }
            }
        }
        if Instant::now() >= next_stats {
            next_stats = Instant::now() + STATS_INTERVAL;
            *stats.lock().unwrap_or_else(|e| e.into_inner()) = MediaStats {
                router: router.stats(),
                datagrams_sent: socket.sent,
                send_drops: socket.send_drops,
                relay_drops,
            };
        }
        while let Some(event) = router.poll_event() {
            if let Err(e) = events.try_send(event) {
                error!("control plane is not keeping up; media event dropped: {e}");
            }
        }
    }
    info!(worker = me.0, "media worker stopped");
}
