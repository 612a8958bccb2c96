//! Moim's media plane: the SFU that forwards WebRTC media between sessions.
//!
//! The control plane talks to it through a [`MediaPlane`] handle: it sends [`Command`]s
//! (publish an offer, open a subscriber connection, answer, mute, remove a participant) and
//! receives [`MediaEvent`]s (track published/unpublished, subscriber offer, session closed).
//! Both directions are bounded channels, so neither side can grow the other's memory.
//!
//! Inside, worker threads (one per core by default) each own a socket of the one shared UDP
//! port (`SO_REUSEPORT`) and drive a [`Router`], a sans-IO state machine built on
//! `str0m::Rtc`: datagrams are routed to sessions in O(1) ([`demux`]), frames fan out to
//! subscriptions ([`subscription`]) with a simulcast layer chosen per subscriber, and
//! keyframe requests are merged per layer ([`track`]). A participant's sessions live on one
//! worker ([`placement`]); a room spans workers, its tracks' frames crossing between them
//! through bounded queues ([`relay`]).

#![deny(missing_docs)]

pub mod allocation;
mod bandwidth;
pub mod command;
pub mod data;
pub mod demux;
mod drive;
pub mod dynacast;
pub mod egress;
pub mod error;
pub mod event;
mod forward;
mod ice_restart;
pub mod ids;
mod lifecycle;
pub mod nodes;
pub mod outbox;
pub mod overload;
pub mod packets;
mod pending;
pub mod placement;
mod play;
mod publish;
pub mod quality;
pub mod rate;
pub mod relay;
pub mod router;
pub mod sdp;
pub mod session;
pub mod speech;
pub mod stats;
pub mod stun;
mod subscribe;
pub mod subscription;
mod tcp;
mod timers;
pub mod track;
mod track_control;
mod udp;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use tokio::sync::{mpsc, oneshot};

pub use crate::tcp::PER_ADDRESS as TCP_CONNECTIONS_PER_ADDRESS;

use crate::placement::Placement;
use crate::relay::WorkerId;
use crate::stun::IceKey;
use crate::worker::WorkerLinks;
pub use nodes::NodeLinks;

pub use command::{Command, Follow, PlayAnswer, PublishAnswer};
pub use egress::{EgressFrame, EgressSender, FrameCodec, Tap};
pub use error::MediaError;
pub use event::{MediaEvent, PublishedTrack};
pub use ids::{ParticipantId, RoomId, SessionId, TrackId};
pub use packets::Forwarding;
pub use publish::MAX_TRACKS_PER_PUBLISHER;
pub use router::Router;
pub use stats::{Delays, RouterStats};

/// Kernel buffer size asked for the media socket, so that a burst (a keyframe to many
/// subscribers) is not dropped by the socket before the worker reads or the NIC sends it.
const SOCKET_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// Capacity of the command and event channels.
const CHANNEL_CAPACITY: usize = 4096;

/// Capacity of each worker's inbox of messages from the other workers: about a second of
/// frames of a few dozen tracks.
const RELAY_CAPACITY: usize = 8192;

/// Where the media plane listens and what it advertises.
#[derive(Debug, Clone, Copy)]
pub struct MediaConfig {
    /// The UDP address to bind, e.g. `127.0.0.1:7882` or `0.0.0.0:7882`.
    pub bind: SocketAddr,
    /// The address put in ICE candidates; the bind address unless it is unspecified.
    pub advertise: SocketAddr,
    /// The TCP address to listen on for ICE-TCP (`127.0.0.1:7881`), if any; its candidates
    /// advertise `advertise`'s IP.
    pub tcp_bind: Option<SocketAddr>,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Receiving sessions estimate their bandwidth (`bandwidth.rs`).
    pub bandwidth_estimation: bool,
    /// Sound goes with RED (RFC 2198) where the browser offers it.
    pub audio_red: bool,
    /// How frames are sent on to subscribers.
    pub forwarding: Forwarding,
}

/// A snapshot of the media plane's counters, refreshed by the worker a few times a second.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MediaStats {
    /// What the worker's router holds, forwarded and dropped (summed over the workers by
    /// [`MediaPlane::stats`]).
    pub router: RouterStats,
    /// Datagrams handed to the kernel.
    pub datagrams_sent: u64,
    /// Datagrams dropped because the socket's send buffer was full.
    pub send_drops: u64,
    /// Messages to other workers dropped because their inbox was full.
    pub relay_drops: u64,
    /// Relays of state and events waiting for room in a full queue (now, not in total).
    pub state_waiting: u64,
    /// How long received datagrams waited in the media socket: from the kernel's receipt
    /// to the worker reading them. It grows when a worker falls behind.
    pub receive_waits: Delays,
}

impl std::ops::AddAssign for MediaStats {
    fn add_assign(&mut self, other: MediaStats) {
        self.router += other.router;
        self.datagrams_sent += other.datagrams_sent;
        self.send_drops += other.send_drops;
        self.relay_drops += other.relay_drops;
        self.state_waiting += other.state_waiting;
        self.receive_waits += other.receive_waits;
    }
}

/// The control plane's handle on the media plane.
#[derive(Debug, Clone)]
pub struct MediaPlane {
    /// Each worker's command inbox, by worker index.
    commands: Vec<mpsc::Sender<Command>>,
    placement: Arc<Mutex<Placement>>,
    local_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
    stats: Vec<Arc<Mutex<MediaStats>>>,
    nodes: NodeLinks,
    /// New participants refused because every worker was shedding load.
    refused: Arc<AtomicU64>,
}

impl MediaPlane {
    /// Binds the UDP port (a socket per worker) and starts the worker threads. Returns the
    /// handle and the stream of events.
    pub fn start(config: MediaConfig) -> std::io::Result<(MediaPlane, mpsc::Receiver<MediaEvent>)> {
        str0m::crypto::from_feature_flags().install_process_default();
        let workers = match config.workers {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(WorkerId::MAX - 1);
        let first = bind_udp(config.bind, workers > 1)?;
        let local_addr = first.local_addr()?;
        let mut sockets = vec![first];
        for _ in 1..workers {
            sockets.push(bind_udp(local_addr, true)?);
        }
        let mut advertise = config.advertise;
        if advertise.port() == 0 {
            advertise.set_port(local_addr.port());
        }
        let tcp_listener = config
            .tcp_bind
            .map(std::net::TcpListener::bind)
            .transpose()?;
        let tcp_addr = tcp_listener.as_ref().map(|l| l.local_addr()).transpose()?;
        let tcp_candidate = tcp_addr.map(|a| SocketAddr::new(advertise.ip(), a.port()));
        let (link_txs, link_rxs): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| tcp::link_channel()).unzip();
        let (event_tx, event_rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (relay_txs, relay_rxs): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| mpsc::channel(RELAY_CAPACITY)).unzip();
        // The gateway to other nodes is one more worker to the workers.
        let (gateway_tx, gateway_rx) = mpsc::channel(RELAY_CAPACITY);
        let nodes = NodeLinks::start(workers, relay_txs.clone(), gateway_rx)?;
        let mut relays_out = relay_txs.clone();
        relays_out.push(gateway_tx);
        let mut commands = Vec::new();
        let mut stats = Vec::new();
        let ice_key = IceKey::random();
        let inboxes = relay_rxs.into_iter().zip(link_rxs);
        for (index, (socket, (relays_in, links_in))) in sockets.into_iter().zip(inboxes).enumerate()
        {
            let (command_tx, command_rx) = mpsc::channel(CHANNEL_CAPACITY);
            let worker_stats = Arc::new(Mutex::new(MediaStats::default()));
            let links = WorkerLinks {
                me: WorkerId(index),
                workers,
                commands: command_rx,
                events: event_tx.clone(),
                relays_in,
                relays_out: relays_out.clone(),
                stats: worker_stats.clone(),
                ice_key: ice_key.clone(),
                tcp: tcp_candidate.map(|candidate| (candidate, links_in)),
                bandwidth_estimation: config.bandwidth_estimation,
                audio_red: config.audio_red,
                forwarding: config.forwarding,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            thread::Builder::new()
                .name(format!("moim-media-{index}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        let socket = tokio::net::UdpSocket::from_std(socket)
                            .expect("a non-blocking socket inside a runtime");
                        worker::run(socket, advertise, links).await;
                    });
                })?;
            commands.push(command_tx);
            stats.push(worker_stats);
        }
        if let Some(listener) = tcp_listener {
            listener.set_nonblocking(true)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            thread::Builder::new()
                .name("moim-ice-tcp".into())
                .spawn(move || {
                    runtime.block_on(async move {
                        let listener = tokio::net::TcpListener::from_std(listener)
                            .expect("a non-blocking listener inside a runtime");
                        tcp::listen(listener, link_txs).await;
                    });
                })?;
        }
        Ok((
            MediaPlane {
                commands,
                placement: Arc::new(Mutex::new(Placement::new(workers))),
                local_addr,
                tcp_addr,
                stats,
                nodes,
                refused: Arc::default(),
            },
            event_rx,
        ))
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.commands.len()
    }

    /// The latest counters, summed over the workers.
    pub fn stats(&self) -> MediaStats {
        let mut total = MediaStats::default();
        for stats in &self.stats {
            total += *stats.lock().unwrap_or_else(|e| e.into_inner());
        }
        total
    }

    /// The UDP address the media plane is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The TCP address ICE-TCP listens on, if it does.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The links of this node's rooms with other nodes (`nodes/`).
    pub fn nodes(&self) -> &NodeLinks {
        &self.nodes
    }

    /// Sends a command without waiting to the worker of its participant (placing a new
    /// participant), or to every worker for what every worker needs; fails when the media plane is
    /// overloaded or gone.
    pub fn send(&self, command: Command) -> Result<(), MediaError> {
        let worker = {
            let mut placement = self.placement.lock().unwrap_or_else(|e| e.into_inner());
            self.note_saturation(&mut placement);
            placement.route(&command)
        };
        if worker == Err(MediaError::Full) {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        match worker? {
            Some(worker) => try_send(&self.commands[worker.0], command),
            None => {
                // Every worker gets it or none does: a command half delivered would leave
                // the workers disagreeing.
                let permits = self
                    .commands
                    .iter()
                    .map(|commands| commands.try_reserve().map_err(busy_or_closed))
                    .collect::<Result<Vec<_>, _>>()?;
                for permit in permits {
                    if let Some(copy) = command.duplicate() {
                        permit.send(copy);
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether a new participant would be taken: some worker is not shedding load.
    pub fn admits(&self) -> bool {
        let mut placement = self.placement.lock().unwrap_or_else(|e| e.into_inner());
        self.note_saturation(&mut placement);
        placement.admits()
    }

    /// Lets a newcomer in, or refuses it ([`MediaError::Full`], counted in
    /// [`MediaPlane::refused`]) while every worker sheds load.
    pub fn admit(&self) -> Result<(), MediaError> {
        if self.admits() {
            return Ok(());
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        Err(MediaError::Full)
    }

    /// New participants refused since start because every worker was shedding load.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Tells placement which workers shed load now (their counters are a few hundred
    /// milliseconds old at most, and the levels change once a second at most).
    fn note_saturation(&self, placement: &mut Placement) {
        for (index, stats) in self.stats.iter().enumerate() {
            let level = stats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .router
                .overload_level;
            placement.set_saturated(WorkerId(index), level >= u64::from(overload::REFUSING));
        }
    }

    /// Sends a command built around a reply channel and waits for the reply.
    pub async fn request<T>(
        &self,
        make: impl FnOnce(command::Reply<T>) -> Command,
    ) -> Result<T, MediaError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.await.map_err(|_| MediaError::Closed)?
    }
}

fn try_send(commands: &mpsc::Sender<Command>, command: Command) -> Result<(), MediaError> {
    commands.try_send(command).map_err(busy_or_closed)
}

fn busy_or_closed<T>(e: mpsc::error::TrySendError<T>) -> MediaError {
    match e {
        mpsc::error::TrySendError::Full(_) => MediaError::Busy,
        mpsc::error::TrySendError::Closed(_) => MediaError::Closed,
    }
}

/// A non-blocking UDP socket with large kernel buffers (the kernel may cap them); with
/// `shared`, one of a group of sockets on the same port, the kernel spreading remote
/// addresses over them.
fn bind_udp(addr: SocketAddr, shared: bool) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    if shared {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}
