//! The TURN server's IO: a UDP socket and a TCP listener on one port, a TLS listener, and
//! a UDP socket per allocation, all driving one [`TurnServer`] behind a lock that is never
//! held across an await.
//!
//! Relayed media is copied once into a buffer each task keeps; a slow stream client makes
//! its relay task wait on the write, so what it cannot take is dropped by the kernel at the
//! relay socket rather than queued here.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;
use tracing::{debug, warn};

use crate::credentials::TurnSecret;
use crate::message::stream_frame_len;
use crate::server::{Client, Outcome, RelayPorts, Transport, TurnServer};

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often expired allocations are closed.
const EXPIRY_TICK: Duration = Duration::from_secs(5);
/// The largest datagram or stream message relayed: WebRTC keeps its packets under the
/// path MTU, so 4 KiB is ample; a stream client framing more is cut off. Each
/// allocation and each stream client holds one such buffer (4,096 of each at most: 32 MiB).
pub const MAX_MESSAGE: usize = 4096;

/// One of Moim's media addresses, as clients see it and as this host reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The address in Moim's ICE candidates.
    pub advertised: SocketAddr,
    /// Where the media socket is reached from this host (differs behind a 1:1 NAT, or when
    /// the media listens on all interfaces).
    pub local: SocketAddr,
}

/// How to run the TURN server.
#[derive(Clone, Debug)]
pub struct TurnConfig {
    /// Where UDP and TCP clients reach it (one port for both).
    pub listen: SocketAddr,
    /// Where TLS clients reach it, with the certificate to present.
    pub tls: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
    /// The IP relayed addresses are bound on.
    pub relay_ip: IpAddr,
    /// The IP relayed addresses are announced with.
    pub advertise_ip: IpAddr,
    /// The only addresses media may be relayed to.
    pub peers: Vec<Peer>,
    /// The secret credentials are signed with.
    pub secret: TurnSecret,
    /// Allocations open at once.
    pub max_allocations: usize,
    /// TCP and TLS connections open at once.
    pub max_connections: usize,
}

/// A running TURN server.
#[derive(Clone, Debug)]
pub struct TurnService {
    listen: SocketAddr,
    tls: Option<SocketAddr>,
    shared: Arc<Mutex<Shared>>,
}

struct Shared {
    server: TurnServer,
    relays: HashMap<SocketAddr, Relay>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.server.fmt(f)
    }
}

struct Relay {
    socket: Arc<UdpSocket>,
    task: AbortHandle,
}

struct Context {
    shared: Arc<Mutex<Shared>>,
    config: TurnConfig,
}

impl Context {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where a peer is reached from here.
    fn local(&self, peer: SocketAddr) -> SocketAddr {
        self.config
            .peers
            .iter()
            .find(|p| p.advertised == peer)
            .map_or(peer, |p| p.local)
    }

    /// How a datagram's source is presented to clients.
    fn advertised(&self, from: SocketAddr) -> SocketAddr {
        self.config
            .peers
            .iter()
            .find(|p| p.local == from)
            .map_or(from, |p| p.advertised)
    }
}

/// Where a client's messages go back to.
#[derive(Clone)]
enum Sink {
    Udp(Arc<UdpSocket>, SocketAddr),
    Stream(Arc<tokio::sync::Mutex<Pin<Box<dyn AsyncWrite + Send>>>>),
}

impl Sink {
    async fn send(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Udp(socket, to) => socket.send_to(bytes, to).await.map(|_| ()),
            Sink::Stream(writer) => writer.lock().await.write_all(bytes).await,
        }
    }
}

/// Opens relay sockets for the allocation being made, and closes them.
struct Ports<'a> {
    context: &'a Arc<Context>,
    relays: &'a mut HashMap<SocketAddr, Relay>,
    sink: Option<&'a Sink>,
}

impl RelayPorts for Ports<'_> {
    fn open(&mut self, _client: Client) -> io::Result<SocketAddr> {
        let sink = self.sink.ok_or(io::ErrorKind::Unsupported)?.clone();
        let socket = std::net::UdpSocket::bind((self.context.config.relay_ip, 0))?;
        socket.set_nonblocking(true)?;
        let socket = Arc::new(UdpSocket::from_std(socket)?);
        let relay = SocketAddr::new(
            self.context.config.advertise_ip,
            socket.local_addr()?.port(),
        );
        let task = tokio::spawn(relay_loop(
            socket.clone(),
            relay,
            sink,
            self.context.clone(),
        ))
        .abort_handle();
        debug!(%relay, "TURN allocation opened");
        self.relays.insert(relay, Relay { socket, task });
        Ok(relay)
    }

    fn close(&mut self, relay: SocketAddr) {
        if let Some(r) = self.relays.remove(&relay) {
            debug!(%relay, "TURN allocation closed");
            r.task.abort();
        }
    }
}

/// Binds UDP and TCP on one port. Asked for any port (0), it takes the port the system gives
/// the UDP socket and tries again with another if that number is already taken for TCP.
async fn bind_pair(listen: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    const ATTEMPTS: usize = 16;
    let mut attempt = 0;
    loop {
        let udp = UdpSocket::bind(listen).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if listen.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                attempt += 1;
                if attempt == ATTEMPTS {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

impl TurnService {
    /// Binds the listeners and starts serving.
    pub async fn start(config: TurnConfig) -> io::Result<TurnService> {
        let (udp, tcp) = bind_pair(config.listen).await?;
        let udp = Arc::new(udp);
        let listen = udp.local_addr()?;
        let tls = match &config.tls {
            Some((addr, tls)) => Some((
                TcpListener::bind(addr).await?,
                tokio_rustls::TlsAcceptor::from(tls.clone()),
            )),
            None => None,
        };
        let tls_addr = tls.as_ref().map(|(l, _)| l.local_addr()).transpose()?;
        let server = TurnServer::new(
            config.secret.clone(),
            config.peers.iter().map(|p| p.advertised).collect(),
            config.max_allocations,
        );
        let shared = Arc::new(Mutex::new(Shared {
            server,
            relays: HashMap::new(),
        }));
        let connections = Arc::new(Semaphore::new(config.max_connections));
        let context = Arc::new(Context {
            shared: shared.clone(),
            config,
        });
        tokio::spawn(udp_loop(udp, context.clone()));
        tokio::spawn(accept_loop(tcp, None, connections.clone(), context.clone()));
        if let Some((listener, acceptor)) = tls {
            tokio::spawn(accept_loop(
                listener,
                Some(acceptor),
                connections,
                context.clone(),
            ));
        }
        tokio::spawn(expiry_loop(context));
        Ok(TurnService {
            listen,
            tls: tls_addr,
            shared,
        })
    }

    /// Where UDP and TCP clients reach it.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Where TLS clients reach it, if it listens for them.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls
    }

    /// How many allocations are open.
    pub fn allocations(&self) -> usize {
        let shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.server.allocations()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Hands one client message to the server and sends what it says.
async fn handle(
    context: &Arc<Context>,
    client: Client,
    packet: &[u8],
    sink: &Sink,
    out: &mut Vec<u8>,
) {
    let relayed = {
        let mut guard = context.lock();
        let Shared { server, relays } = &mut *guard;
        let mut ports = Ports {
            context,
            relays,
            sink: Some(sink),
        };
        match server.from_client(client, packet, Instant::now(), unix_now(), &mut ports, out) {
            Outcome::Nothing => return,
            Outcome::Reply => None,
            Outcome::Relay { relay, peer, data } => match ports.relays.get(&relay) {
                Some(r) => Some((r.socket.clone(), context.local(peer), data)),
                None => return,
            },
        }
    };
    match relayed {
        // A full socket drops the datagram, as the network would.
        Some((socket, peer, data)) => {
            let _ = socket.try_send_to(data, peer);
        }
        None => {
            if let Err(e) = sink.send(out).await {
                debug!(?client, error = %e, "TURN reply not sent");
            }
        }
    }
}

async fn udp_loop(socket: Arc<UdpSocket>, context: Arc<Context>) {
    let mut buf = vec![0; MAX_MESSAGE];
    let mut out = Vec::with_capacity(2048);
    loop {
        let (len, from) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                debug!(error = %e, "TURN UDP receive failed");
                continue;
            }
        };
        let client = Client {
            transport: Transport::Udp,
            addr: from,
        };
        let sink = Sink::Udp(socket.clone(), from);
        handle(&context, client, &buf[..len], &sink, &mut out).await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    connections: Arc<Semaphore>,
    context: Arc<Context>,
) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            warn!(%from, "TURN connection refused: too many open");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let client = Client {
            transport: Transport::Stream(NEXT.fetch_add(1, Ordering::Relaxed)),
            addr: from,
        };
        let context = context.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_stream(stream, client, &context).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_stream(stream, client, &context).await,
                        Ok(Err(e)) => debug!(%from, error = %e, "TURN TLS handshake failed"),
                        Err(_) => debug!(%from, "TURN TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Reads framed messages from a TCP or TLS client until it closes, then closes its
/// allocation.
async fn serve_stream<S>(stream: S, client: Client, context: &Arc<Context>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, writer) = tokio::io::split(stream);
    let sink = Sink::Stream(Arc::new(tokio::sync::Mutex::new(Box::pin(writer))));
    let mut buf = vec![0; MAX_MESSAGE];
    let mut out = Vec::with_capacity(2048);
    let mut filled = 0;
    'read: loop {
        match reader.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
        let mut start = 0;
        while let Some(len) = stream_frame_len(&buf[start..filled]) {
            if len > MAX_MESSAGE {
                break 'read;
            }
            if filled - start < len {
                break;
            }
            handle(context, client, &buf[start..start + len], &sink, &mut out).await;
            start += len;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
    let mut guard = context.lock();
    let Shared { server, relays } = &mut *guard;
    server.remove(
        client,
        &mut Ports {
            context,
            relays,
            sink: None,
        },
    );
}

/// Relays datagrams that reach an allocation's socket to its client.
async fn relay_loop(socket: Arc<UdpSocket>, relay: SocketAddr, sink: Sink, context: Arc<Context>) {
    let mut buf = vec![0; MAX_MESSAGE];
    let mut out = Vec::with_capacity(2048);
    loop {
        let Ok((len, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let peer = context.advertised(from);
        let deliver = context
            .lock()
            .server
            .from_peer(relay, peer, &buf[..len], Instant::now(), &mut out)
            .is_some();
        if deliver && sink.send(&out).await.is_err() {
            // The client's stream is gone; its reader closes the allocation.
            return;
        }
    }
}

async fn expiry_loop(context: Arc<Context>) {
    let mut tick = tokio::time::interval(EXPIRY_TICK);
    loop {
        tick.tick().await;
        let mut guard = context.lock();
        let Shared { server, relays } = &mut *guard;
        server.expire(
            Instant::now(),
            &mut Ports {
                context: &context,
                relays,
                sink: None,
            },
        );
    }
}
