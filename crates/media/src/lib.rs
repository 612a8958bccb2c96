//! Moim's media plane: the SFU that forwards WebRTC media between sessions.
//!
//! The control plane talks to it through a [`MediaPlane`] handle: it sends [`Command`]s
//! (publish an offer, open a subscriber connection, answer, mute, remove a participant) and
//! receives [`MediaEvent`]s (track published/unpublished, subscriber offer, session closed).
//! Both directions are bounded channels, so neither side can grow the other's memory.
//!
//! Inside, a worker thread owns one UDP socket shared by every session and drives the
//! [`Router`], a sans-IO state machine built on `str0m::Rtc`: datagrams are routed to
//! sessions in O(1) ([`demux`]), frames fan out to subscriptions ([`subscription`]) with a
//! simulcast layer chosen per subscriber, and keyframe requests are merged per layer
//! ([`track`]).

pub mod command;
pub mod demux;
pub mod error;
pub mod event;
mod forward;
pub mod ids;
mod play;
mod publish;
pub mod router;
pub mod session;
mod subscribe;
pub mod subscription;
pub mod track;
mod udp;
mod worker;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread;

use tokio::sync::{mpsc, oneshot};

pub use command::{Command, Follow, PlayAnswer, PublishAnswer};
pub use error::MediaError;
pub use event::{MediaEvent, PublishedTrack};
pub use ids::{ParticipantId, RoomId, SessionId, TrackId};
pub use router::{Router, RouterStats};

/// Kernel buffer size asked for the media socket, so that a burst (a keyframe to many
/// subscribers) is not dropped by the socket before the worker reads or the NIC sends it.
const SOCKET_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// Capacity of the command and event channels.
const CHANNEL_CAPACITY: usize = 4096;

/// Where the media plane listens and what it advertises.
#[derive(Debug, Clone, Copy)]
pub struct MediaConfig {
    /// The UDP address to bind, e.g. `127.0.0.1:7882` or `0.0.0.0:7882`.
    pub bind: SocketAddr,
    /// The address put in ICE candidates; the bind address unless it is unspecified.
    pub advertise: SocketAddr,
}

/// A snapshot of the media plane's counters, refreshed by the worker a few times a second.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MediaStats {
    pub router: RouterStats,
    /// Datagrams handed to the kernel.
    pub datagrams_sent: u64,
    /// Datagrams dropped because the socket's send buffer was full.
    pub send_drops: u64,
}

/// The control plane's handle on the media plane.
#[derive(Debug, Clone)]
pub struct MediaPlane {
    commands: mpsc::Sender<Command>,
    local_addr: SocketAddr,
    stats: Arc<Mutex<MediaStats>>,
}

impl MediaPlane {
    /// Binds the UDP socket and starts the worker thread. Returns the handle and the
    /// stream of events.
    pub fn start(config: MediaConfig) -> std::io::Result<(MediaPlane, mpsc::Receiver<MediaEvent>)> {
        str0m::crypto::from_feature_flags().install_process_default();
        let socket = bind_udp(config.bind)?;
        let local_addr = socket.local_addr()?;
        let mut advertise = config.advertise;
        if advertise.port() == 0 {
            advertise.set_port(local_addr.port());
        }
        let (command_tx, command_rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (event_tx, event_rx) = mpsc::channel(CHANNEL_CAPACITY);
        let stats = Arc::new(Mutex::new(MediaStats::default()));
        let worker_stats = stats.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        thread::Builder::new()
            .name("moim-media".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let socket = tokio::net::UdpSocket::from_std(socket)
                        .expect("a non-blocking socket inside a runtime");
                    worker::run(socket, advertise, command_rx, event_tx, worker_stats).await;
                });
            })?;
        Ok((
            MediaPlane {
                commands: command_tx,
                local_addr,
                stats,
            },
            event_rx,
        ))
    }

    /// The latest counters.
    pub fn stats(&self) -> MediaStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The UDP address the media plane is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sends a command without waiting; fails when the media plane is overloaded or gone.
    pub fn send(&self, command: Command) -> Result<(), MediaError> {
        self.commands.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => MediaError::Busy,
            mpsc::error::TrySendError::Closed(_) => MediaError::Closed,
        })
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

/// A non-blocking UDP socket with large kernel buffers (the kernel may cap them).
fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}
