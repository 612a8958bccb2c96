//! The IO loop around the [`Router`]: one thread owning the shared UDP socket.
//!
//! It waits for a datagram, a command or the router's next timeout, hands it to the router,
//! then sends what the router wants sent and passes its events to the control plane.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::MediaStats;
use crate::command::Command;
use crate::event::MediaEvent;
use crate::router::Router;
use crate::udp::MediaSocket;

/// Longest sleep when the router has no timer.
const IDLE_WAKE: Duration = Duration::from_millis(500);
/// How often the shared counters are refreshed.
const STATS_INTERVAL: Duration = Duration::from_millis(250);

/// Runs the IO loop until the command channel closes.
pub(crate) async fn run(
    socket: UdpSocket,
    candidate: SocketAddr,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<MediaEvent>,
    stats: Arc<Mutex<MediaStats>>,
) {
    let mut router = Router::new(candidate);
    let mut socket = match MediaSocket::new(socket) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot set up the media socket: {e}");
            return;
        }
    };
    info!(%candidate, "media worker running");
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
            _ = tokio::time::sleep_until(deadline.into()) => router.handle_timeout(Instant::now()),
        }
        while let Some(transmit) = router.poll_transmit() {
            socket.send(transmit.destination, &transmit.contents);
        }
        socket.flush();
        if Instant::now() >= next_stats {
            next_stats = Instant::now() + STATS_INTERVAL;
            *stats.lock().unwrap_or_else(|e| e.into_inner()) = MediaStats {
                router: router.stats(),
                datagrams_sent: socket.sent,
                send_drops: socket.send_drops,
            };
        }
        while let Some(event) = router.poll_event() {
            if let Err(e) = events.try_send(event) {
                error!("control plane is not keeping up; media event dropped: {e}");
            }
        }
    }
    info!("media worker stopped");
}
