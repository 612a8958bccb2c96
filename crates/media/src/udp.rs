//! Batched socket IO for the shared media port: datagrams are read many per system call
//! (`recvmmsg`, GRO), and consecutive datagrams to one destination are sent as one GSO
//! batch (one `sendmsg` the kernel splits), since a video frame to a subscriber is several
//! packets of the same size in a row.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::stats::Delays;

/// Datagrams read per receive call (buffers of `RECV_BUFFER` each).
const RECV_BATCH: usize = 32;
/// Room for one datagram, or for a GRO batch of them.
const RECV_BUFFER: usize = 64 * 1024;
/// Receive calls per [`MediaSocket::read_all`], so that sending is not starved by a busy
/// socket.
const RECV_ROUNDS: usize = 8;

/// The media socket with its batching state.
pub struct MediaSocket {
    socket: UdpSocket,
    state: UdpSocketState,
    recv_buffers: Vec<Vec<u8>>,
    recv_meta: Vec<RecvMeta>,
    batch: Vec<u8>,
    batch_to: Option<SocketAddr>,
    segment: usize,
    segments: usize,
    /// The batch ends with a short datagram; nothing more may join it.
    closed: bool,
    /// Datagrams dropped because the socket's send buffer was full.
    pub send_drops: u64,
    /// Datagrams handed to the kernel.
    pub sent: u64,
    /// How long the datagrams read waited in the socket (the kernel's receive timestamp to
    /// the read).
    pub waits: Delays,
    /// The least wait of the datagrams read since [`MediaSocket::take_least_wait`].
    least_wait: Option<Duration>,
}

impl MediaSocket {
    /// Wraps a bound, non-blocking socket.
    pub fn new(socket: UdpSocket) -> io::Result<MediaSocket> {
        let state = UdpSocketState::new((&socket).into())?;
        Ok(MediaSocket {
            socket,
            state,
            recv_buffers: (0..RECV_BATCH).map(|_| vec![0; RECV_BUFFER]).collect(),
            recv_meta: vec![RecvMeta::default(); RECV_BATCH],
            batch: Vec::with_capacity(64 * 1024),
            batch_to: None,
            segment: 0,
            segments: 0,
            closed: false,
            send_drops: 0,
            sent: 0,
            waits: Delays::default(),
            least_wait: None,
        })
    }

    /// Waits until datagrams can be read.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Reads what is queued, calling `on_datagram(source, bytes)` for each datagram, until
    /// the socket would block or [`RECV_ROUNDS`] batches were read.
    pub fn read_all(&mut self, mut on_datagram: impl FnMut(SocketAddr, &[u8])) -> io::Result<()> {
        for _ in 0..RECV_ROUNDS {
            let mut slices: Vec<IoSliceMut<'_>> = self
                .recv_buffers
                .iter_mut()
                .map(|b| IoSliceMut::new(b))
                .collect();
            let state = &self.state;
            let meta = &mut self.recv_meta;
            let socket = &self.socket;
            let read = socket.try_io(Interest::READABLE, || {
                state.recv(socket.into(), &mut slices, meta)
            });
            let count = match read {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            drop(slices);
            let read_at = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO);
            for (meta, buffer) in self.recv_meta.iter().zip(&self.recv_buffers).take(count) {
                let waited = meta.timestamp.map(|at| read_at.saturating_sub(at));
                let stride = meta.stride.max(1);
                for datagram in buffer[..meta.len].chunks(stride) {
                    if let Some(waited) = waited {
                        self.waits.record(waited);
                        self.least_wait = Some(self.least_wait.map_or(waited, |l| l.min(waited)));
                    }
                    on_datagram(meta.addr, datagram);
                }
            }
        }
        Ok(())
    }

    /// The least wait in the socket of the datagrams read since the last call, if any had
    /// a kernel timestamp.
    pub fn take_least_wait(&mut self) -> Option<Duration> {
        self.least_wait.take()
    }

    /// Queues a datagram; it goes out with the next ones to the same destination.
    pub fn send(&mut self, to: SocketAddr, datagram: &[u8]) {
        let joins = self.batch_to == Some(to)
            && !self.closed
            && datagram.len() <= self.segment
            && self.segments < self.state.max_gso_segments();
        if !joins {
            self.flush();
            self.batch_to = Some(to);
            self.segment = datagram.len();
        }
        self.batch.extend_from_slice(datagram);
        self.segments += 1;
        self.closed = datagram.len() < self.segment;
    }

    /// Sends the pending batch. A full send buffer drops it, as the network would.
    pub fn flush(&mut self) {
        let Some(to) = self.batch_to.take() else {
            return;
        };
        let transmit = Transmit {
            destination: to,
            ecn: None,
            contents: &self.batch,
            segment_size: (self.segments > 1).then_some(self.segment),
            src_ip: None,
        };
        let state = &self.state;
        let socket = &self.socket;
        let sent = socket.try_io(Interest::WRITABLE, || {
            state.try_send(socket.into(), &transmit)
        });
        match sent {
            Ok(()) => self.sent += self.segments as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.send_drops += self.segments as u64;
            }
            Err(e) => tracing::warn!(%to, "UDP send failed: {e}"),
        }
        self.batch.clear();
        self.segments = 0;
        self.closed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver() -> std::net::UdpSocket {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        socket
    }

    fn received(socket: &std::net::UdpSocket, count: usize) -> Vec<Vec<u8>> {
        let mut buf = [0; 2048];
        (0..count)
            .map(|_| {
                let n = socket.recv(&mut buf).unwrap();
                buf[..n].to_vec()
            })
            .collect()
    }

    #[tokio::test]
    async fn lone_datagrams_and_batches_all_arrive_in_the_order_they_were_sent() {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        std_socket.set_nonblocking(true).unwrap();
        let mut socket = MediaSocket::new(UdpSocket::from_std(std_socket).unwrap()).unwrap();
        // As the worker does, send once the runtime knows the socket can take datagrams.
        socket.socket.writable().await.unwrap();
        let (a, b) = (receiver(), receiver());
        let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        // Lone datagrams, alternating so that none joins another's batch.
        for i in 0..40u8 {
            socket.send(if i % 2 == 0 { to_a } else { to_b }, &[i; 20]);
        }
        // A frame of three packets to `a`: one GSO batch, after the lone ones.
        for i in 0..3u8 {
            socket.send(to_a, &[100 + i; 300]);
        }
        socket.send(to_b, &[200; 20]);
        socket.flush();
        let got_a = received(&a, 23);
        let got_b = received(&b, 21);
        let expected_a: Vec<Vec<u8>> = (0..40u8)
            .step_by(2)
            .map(|i| vec![i; 20])
            .chain((0..3u8).map(|i| vec![100 + i; 300]))
            .collect();
        let expected_b: Vec<Vec<u8>> = (1..40u8)
            .step_by(2)
            .map(|i| vec![i; 20])
            .chain([vec![200; 20]])
            .collect();
        assert_eq!(got_a, expected_a);
        assert_eq!(got_b, expected_b);
        assert_eq!(socket.sent, 44);
        assert_eq!(socket.send_drops, 0);
    }
}
