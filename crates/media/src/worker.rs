//! The IO loop around one [`Router`]: a thread owning its own socket of the shared UDP port,
//! the ICE-TCP connections of its sessions (`tcp.rs`) and the channels to the other
//! workers.
//!
//! It waits for a datagram, a TCP frame, a command, a message from another worker or the
//! router's next timeout, hands it to the router, then sends what the router wants sent,
//! relays what it has for other workers and passes its events to the control plane.
//!
//! Nothing that changes the state of a room is lost to a full queue: relays of tracks and
//! interests wait in the [`RelayOutbox`], and events stay in the router until the control
//! plane's channel has room (the router itself drops only clients' data messages when
//! they pile up). Media may be dropped under overload, and is counted.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::MediaStats;
use crate::command::Command;
use crate::event::MediaEvent;
use crate::outbox::RelayOutbox;
use crate::packets::Forwarding;
use crate::relay::{Relay, WorkerId};
use crate::router::Router;
use crate::stun::IceKey;
use crate::tcp::{TcpConnections, TcpIn, TcpLink, frames};
use crate::udp::MediaSocket;
use str0m::net::Protocol;

/// Longest sleep when the router has no timer.
const IDLE_WAKE: Duration = Duration::from_millis(500);
/// How soon to look again when relays or events wait for room in a full queue.
const RETRY_WAKE: Duration = Duration::from_millis(5);
/// How often the shared counters are refreshed.
const STATS_INTERVAL: Duration = Duration::from_millis(250);

/// What one worker is connected to.
pub(crate) struct WorkerLinks {
    pub me: WorkerId,
    /// How many workers the media plane has (`relays_out` also reaches its gateway).
    pub workers: usize,
    pub commands: mpsc::Receiver<Command>,
    pub events: mpsc::Sender<MediaEvent>,
    /// Messages from other workers, tagged with the sender.
    pub relays_in: mpsc::Receiver<(WorkerId, Relay)>,
    /// Every worker's inbox, by worker index (this worker's own is never used).
    pub relays_out: Vec<mpsc::Sender<(WorkerId, Relay)>>,
    pub stats: Arc<Mutex<MediaStats>>,
    /// The node's ICE key, shared by every worker.
    pub ice_key: IceKey,
    /// The ICE-TCP candidate and the connections the listener hands over, if the node
    /// listens on TCP.
    pub tcp: Option<(SocketAddr, mpsc::Receiver<TcpLink>)>,
    /// Receiving sessions estimate their bandwidth.
    pub bandwidth_estimation: bool,
    /// Sound goes with RED where the browser offers it.
    pub audio_red: bool,
    /// How frames are sent on to subscribers.
    pub forwarding: Forwarding,
}

/// Runs the IO loop until the command channel closes.
pub(crate) async fn run(socket: UdpSocket, candidate: SocketAddr, links: WorkerLinks) {
    let WorkerLinks {
        me,
        workers,
        mut commands,
        events,
        mut relays_in,
        relays_out,
        stats,
        ice_key,
        tcp: tcp_setup,
        bandwidth_estimation,
        audio_red,
        forwarding,
    } = links;
    let mut router = Router::for_worker(candidate, me, workers, ice_key);
    if relays_out.len() > workers {
        router.link_nodes();
    }
    router.estimate_bandwidth(bandwidth_estimation);
    router.audio_red(audio_red);
    router.forwarding(forwarding);
    let mut tcp = TcpConnections::default();
    let mut tcp_links = tcp_setup.map(|(tcp_candidate, links)| {
        router.offer_tcp(tcp_candidate);
        links
    });
    let mut socket = match MediaSocket::new(socket) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot set up the media socket: {e}");
            return;
        }
    };
    info!(%candidate, worker = me.0, "media worker running");
    let mut outbox = RelayOutbox::new(me, relays_out);
    let mut next_stats = Instant::now();
    let mut events_waiting = false;
    loop {
        let mut deadline = router
            .next_timeout()
            .unwrap_or_else(|| Instant::now() + IDLE_WAKE);
        if events_waiting || outbox.has_waiting() {
            deadline = deadline.min(Instant::now() + RETRY_WAKE);
        }
        tokio::select! {
            readable = socket.readable() => {
                if let Err(e) = readable {
                    warn!("UDP socket failed: {e}");
                    continue;
                }
                let now = Instant::now();
                if let Err(e) = socket.read_all(|source, datagram| {
                    router.take_datagram(now, source, datagram);
                }) {
                    warn!("UDP receive failed: {e}");
                }
                router.settle(now);
                if let Some(least) = socket.take_least_wait() {
                    router.socket_waited(now, least);
                }
            },
            command = commands.recv() => match command {
                Some(command) => router.handle_command(Instant::now(), command),
                None => break,
            },
            Some((from, relay)) = relays_in.recv() => {
                router.handle_relay(Instant::now(), from, relay);
            },
            Some(link) = next_link(&mut tcp_links) => match tcp.add(link) {
                Ok((remote, first)) => {
                    if !router.handle_tcp_frame(Instant::now(), remote, &first) {
                        tcp.remove(remote);
                    }
                }
                Err(e) => warn!("cannot take an ICE-TCP connection: {e}"),
            },
            Some(input) = tcp.incoming.recv() => match input {
                TcpIn::Frames { from, chunk } => {
                    let now = Instant::now();
                    for frame in frames(&chunk) {
                        router.handle_tcp_frame(now, from, frame);
                    }
                    tcp.recycle(chunk);
                }
                TcpIn::Closed(remote) => tcp.remove(remote),
            },
            _ = tokio::time::sleep_until(deadline.into()) => router.handle_timeout(Instant::now()),
        }
        while let Some(transmit) = router.poll_transmit() {
            if transmit.proto == Protocol::Tcp {
                tcp.send(transmit.destination, &transmit.contents);
            } else {
                socket.send(transmit.destination, &transmit.contents);
            }
        }
        socket.flush();
        outbox.retry();
        while let Some((to, relay)) = router.poll_relay() {
            if !outbox.send(to, relay) && outbox.dropped.is_power_of_two() {
                warn!(
                    worker = to.0,
                    relay_drops = outbox.dropped,
                    "a media worker is not keeping up; media relay dropped"
                );
            }
        }
        if Instant::now() >= next_stats {
            next_stats = Instant::now() + STATS_INTERVAL;
            *stats.lock().unwrap_or_else(|e| e.into_inner()) = MediaStats {
                router: router.stats(),
                datagrams_sent: socket.sent,
                send_drops: socket.send_drops + tcp.send_drops,
                relay_drops: outbox.dropped,
                state_waiting: (outbox.waiting() + router.pending.events_waiting()) as u64,
                receive_waits: socket.waits,
            };
        }
        let was_waiting = events_waiting;
        events_waiting = !pass_events(&mut router, &events);
        if events_waiting && !was_waiting {
            warn!("control plane is not keeping up; its events wait in the media worker");
        }
    }
    info!(worker = me.0, "media worker stopped");
}

/// The next connection the ICE-TCP listener hands over; never, without one.
async fn next_link(links: &mut Option<mpsc::Receiver<TcpLink>>) -> Option<TcpLink> {
    match links {
        Some(links) => links.recv().await,
        None => std::future::pending().await,
    }
}

/// Hands the router's events to the control plane while its channel has room; the rest
/// stay in the router for the next round. False when some are left.
fn pass_events(router: &mut Router, events: &mpsc::Sender<MediaEvent>) -> bool {
    loop {
        let permit = match events.try_reserve() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Full(())) => return !router.has_events(),
            Err(mpsc::error::TrySendError::Closed(())) => return true,
        };
        match router.poll_event() {
            Some(event) => permit.send(event),
            None => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ParticipantId, SessionId};

    #[test]
    fn events_wait_in_the_router_while_the_control_plane_is_behind() {
        let mut router = Router::new("127.0.0.1:9".parse().unwrap());
        for n in 0..3 {
            router.pending.announce(MediaEvent::SessionClosed {
                participant: ParticipantId(n),
                session: SessionId(n),
            });
        }
        let (tx, mut rx) = mpsc::channel(1);
        assert!(!pass_events(&mut router, &tx), "one fits, two wait");
        assert!(router.has_events());
        let mut got = vec![rx.try_recv().unwrap()];
        while router.has_events() {
            pass_events(&mut router, &tx);
            got.push(rx.try_recv().unwrap());
        }
        assert_eq!(got.len(), 3, "none lost");
        assert!(matches!(
            got[2],
            MediaEvent::SessionClosed {
                session: SessionId(2),
                ..
            }
        ));
    }
}
