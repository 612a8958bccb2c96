//! ICE over TCP (RFC 6544) for clients whose networks block UDP: every session offers a
//! passive host candidate on the node's TCP port, and packets travel over a client's
//! connection framed as RFC 4571 says (each one after its length in two bytes).
//!
//! One listener accepts the connections. It reads a connection's first frame, a STUN
//! binding request whose USERNAME starts with the session's local ufrag, and hands the
//! connection to the worker that owns the session (the ufrag's first two hex digits, as
//! `demux.rs` routes datagrams). The worker then reads the connection's frames through a
//! task of its own runtime, and writes its packets into a buffer that a writer task
//! empties, so neither way ever blocks the worker. Each direction reuses its buffers: no
//! allocation per packet once a connection runs. One address holds at most
//! [`PER_ADDRESS`] connections at once, so that nobody exhausts the node's sockets.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tracing::{debug, warn};

use crate::demux::ufrag_worker;
use crate::stun;

/// A frame's length is two bytes: 65535 at most.
const MAX_FRAME: usize = u16::MAX as usize;
/// How long a new connection has to send its first STUN request.
const FIRST_FRAME_WITHIN: Duration = Duration::from_secs(10);
/// Bytes waiting to be written to one connection at most; packets beyond are dropped, as
/// a congested network would (the client's congestion control then slows down).
const OUT_LIMIT: usize = 512 * 1024;
/// Bytes read from a connection at a time.
const READ_CHUNK: usize = 64 * 1024;
/// Chunks of frames read but not yet taken by the worker, per worker.
const IN_QUEUE: usize = 256;
/// Connections handed to a worker and not yet taken.
const LINK_QUEUE: usize = 64;
/// Connections one address may hold at once, waiting for their first frame or running:
/// every participant needs two, and an office behind one NAT shares its address. Beyond,
/// new connections are closed at once.
pub const PER_ADDRESS: usize = 64;

/// How many connections each address holds.
#[derive(Clone, Default)]
struct Addresses(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl Addresses {
    /// A place for one more connection from `ip`, if it has fewer than [`PER_ADDRESS`].
    fn take(&self, ip: IpAddr) -> Option<AddressSlot> {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(ip).or_default();
        if *count >= PER_ADDRESS {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            addresses: self.clone(),
            ip,
        })
    }
}

/// One connection's place among its address's; given back when dropped.
struct AddressSlot {
    addresses: Addresses,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.addresses.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// A client's connection on its way to the worker owning its session, with its first
/// frame (the STUN request that named the session).
pub(crate) struct TcpLink {
    stream: std::net::TcpStream,
    remote: SocketAddr,
    first: Vec<u8>,
    slot: AddressSlot,
}

/// The channels that bring a worker its connections.
pub(crate) fn link_channel() -> (mpsc::Sender<TcpLink>, mpsc::Receiver<TcpLink>) {
    mpsc::channel(LINK_QUEUE)
}

/// Accepts connections and hands each to the worker of its session (by index in
/// `workers`), until the listener fails.
pub(crate) async fn listen(listener: TcpListener, workers: Vec<mpsc::Sender<TcpLink>>) {
    let workers = Arc::new(workers);
    let addresses = Addresses::default();
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!("ICE-TCP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = addresses.take(remote.ip()) else {
            debug!(%remote, "ICE-TCP connection refused: too many from this address");
            continue;
        };
        let workers = workers.clone();
        tokio::spawn(async move {
            if let Err(e) = hand_over(stream, remote, slot, &workers).await {
                debug!(%remote, "ICE-TCP connection refused: {e}");
            }
        });
    }
}

/// Reads the first frame of a connection and passes it on to the worker it names.
async fn hand_over(
    mut stream: TcpStream,
    remote: SocketAddr,
    slot: AddressSlot,
    workers: &[mpsc::Sender<TcpLink>],
) -> io::Result<()> {
    let first = tokio::time::timeout(FIRST_FRAME_WITHIN, read_frame(&mut stream))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no STUN request in time"))??;
    let worker = stun::username(&first)
        .and_then(|u| u.split(':').next())
        .and_then(|ufrag| ufrag_worker(ufrag, workers.len()))
        .ok_or_else(|| io::Error::other("the first frame names no session"))?;
    let link = TcpLink {
        stream: stream.into_std()?,
        remote,
        first,
        slot,
    };
    workers[worker.0]
        .try_send(link)
        .map_err(|_| io::Error::other("the worker is not taking connections"))
}

async fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let length = usize::from(stream.read_u16().await?);
    let mut frame = vec![0; length];
    stream.read_exact(&mut frame).await?;
    Ok(frame)
}

/// What a worker's connection tasks tell it.
pub(crate) enum TcpIn {
    /// Whole frames read from the client at `from`, each after its two-byte length.
    Frames { from: SocketAddr, chunk: Vec<u8> },
    /// The client at `from` closed its connection (or it failed).
    Closed(SocketAddr),
}

/// The frames of a chunk read from a connection.
pub(crate) fn frames(chunk: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = chunk;
    std::iter::from_fn(move || {
        let length = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
        let frame = rest.get(2..2 + length)?;
        rest = &rest[2 + length..];
        Some(frame)
    })
}

/// Packets waiting to be written to one connection, and the writer task's wake-up.
struct Outgoing {
    waiting: Mutex<Vec<u8>>,
    wake: Notify,
}

/// A worker's TCP connections, by the client's address.
pub(crate) struct TcpConnections {
    out: HashMap<SocketAddr, Arc<Outgoing>>,
    to_worker: mpsc::Sender<TcpIn>,
    /// Chunks read from the connections, for the worker to take.
    pub incoming: mpsc::Receiver<TcpIn>,
    /// Chunks of the reading tasks, given back to be read into again.
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Packets dropped: their connection's buffer was full.
    pub send_drops: u64,
}

impl Default for TcpConnections {
    fn default() -> TcpConnections {
        let (to_worker, incoming) = mpsc::channel(IN_QUEUE);
        TcpConnections {
            out: HashMap::new(),
            to_worker,
            incoming,
            spare: Arc::default(),
            send_drops: 0,
        }
    }
}

impl TcpConnections {
    /// Takes a connection handed over by the listener (on the worker's runtime); its first
    /// frame is for the caller to deliver.
    pub fn add(&mut self, link: TcpLink) -> io::Result<(SocketAddr, Vec<u8>)> {
        let stream = TcpStream::from_std(link.stream)?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        let outgoing = Arc::new(Outgoing {
            waiting: Mutex::new(Vec::new()),
            wake: Notify::new(),
        });
        if let Some(old) = self.out.insert(link.remote, outgoing.clone()) {
            old.wake.notify_one();
        }
        tokio::spawn(read_loop(
            reader,
            link.slot,
            link.remote,
            Arc::downgrade(&outgoing),
            self.to_worker.clone(),
            self.spare.clone(),
        ));
        tokio::spawn(write_loop(writer, outgoing));
        Ok((link.remote, link.first))
    }

    /// Queues a packet for the client at `to`; false when there is no connection to it.
    pub fn send(&mut self, to: SocketAddr, packet: &[u8]) -> bool {
        let Some(outgoing) = self.out.get(&to) else {
            return false;
        };
        let Ok(length) = u16::try_from(packet.len()) else {
            self.send_drops += 1;
            return true;
        };
        let mut waiting = outgoing.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.len() + 2 + packet.len() > OUT_LIMIT {
            self.send_drops += 1;
            return true;
        }
        let wake = waiting.is_empty();
        waiting.extend_from_slice(&length.to_be_bytes());
        waiting.extend_from_slice(packet);
        drop(waiting);
        if wake {
            outgoing.wake.notify_one();
        }
        true
    }

    /// Forgets the connection to `remote`: its writer task ends.
    pub fn remove(&mut self, remote: SocketAddr) {
        if let Some(outgoing) = self.out.remove(&remote) {
            outgoing.wake.notify_one();
        }
    }

    /// Gives a chunk back once its frames were delivered, to be read into again.
    pub fn recycle(&mut self, mut chunk: Vec<u8>) {
        chunk.clear();
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < IN_QUEUE {
            spare.push(chunk);
        }
    }
}

/// Reads a connection and sends its whole frames to the worker, a chunk at a time, until
/// the client goes or the worker forgot the connection (`outgoing` is gone).
async fn read_loop(
    mut reader: OwnedReadHalf,
    // Held while the connection is read.
    _slot: AddressSlot,
    remote: SocketAddr,
    outgoing: Weak<Outgoing>,
    to_worker: mpsc::Sender<TcpIn>,
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
) {
    let mut buffer = Vec::with_capacity(READ_CHUNK + MAX_FRAME + 2);
    while outgoing.strong_count() > 0 {
        let start = buffer.len();
        buffer.resize(start + READ_CHUNK, 0);
        let read = match reader.read(&mut buffer[start..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buffer.truncate(start + read);
        let whole = whole_frames(&buffer);
        if whole == 0 {
            if buffer.len() > MAX_FRAME + 2 {
                break;
            }
            continue;
        }
        let mut chunk = spare
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        chunk.extend_from_slice(&buffer[..whole]);
        buffer.drain(..whole);
        // A full queue drops the chunk, as a full socket buffer drops datagrams.
        let _ = to_worker.try_send(TcpIn::Frames {
            from: remote,
            chunk,
        });
    }
    let _ = to_worker.send(TcpIn::Closed(remote)).await;
}

/// How many leading bytes of `buffer` are whole frames.
fn whole_frames(buffer: &[u8]) -> usize {
    let mut at = 0;
    while let Some(prefix) = buffer.get(at..at + 2) {
        let end = at + 2 + usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
        if end > buffer.len() {
            break;
        }
        at = end;
    }
    at
}

/// Writes what waits for a connection until the worker forgets it or the client goes.
async fn write_loop(mut writer: OwnedWriteHalf, outgoing: Arc<Outgoing>) {
    let mut sending = Vec::new();
    loop {
        outgoing.wake.notified().await;
        if Arc::strong_count(&outgoing) == 1 {
            break;
        }
        loop {
            std::mem::swap(
                &mut sending,
                &mut outgoing.waiting.lock().unwrap_or_else(|e| e.into_inner()),
            );
            if sending.is_empty() {
                break;
            }
            if writer.write_all(&sending).await.is_err() {
                return;
            }
            sending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_a_bounded_number_of_connections() {
        let addresses = Addresses::default();
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let mut held: Vec<AddressSlot> = (0..PER_ADDRESS)
            .map(|_| addresses.take(one).unwrap())
            .collect();
        assert!(addresses.take(one).is_none(), "one too many");
        assert!(
            addresses.take(other).is_some(),
            "another address is not affected"
        );
        held.pop();
        assert!(
            addresses.take(one).is_some(),
            "a place given back is taken again"
        );
        drop(held);
        assert!(
            addresses.0.lock().unwrap().is_empty(),
            "nothing kept for gone connections"
        );
    }

    #[test]
    fn a_chunk_splits_into_its_frames_and_a_partial_one_waits() {
        let mut bytes = vec![0, 3, b'a', b'b', b'c', 0, 1, b'd'];
        assert_eq!(whole_frames(&bytes), 8);
        let got: Vec<&[u8]> = frames(&bytes).collect();
        assert_eq!(got, [&b"abc"[..], &b"d"[..]]);
        bytes.extend_from_slice(&[0, 5, b'e']);
        assert_eq!(whole_frames(&bytes), 8, "the third is not whole yet");
        assert_eq!(whole_frames(&[0]), 0);
    }
}
