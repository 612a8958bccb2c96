//! The clients' sockets. A datagram is read with the time the kernel received it
//! (`SO_TIMESTAMPNS`, through quinn-udp), so that the tester's own lag, from that moment
//! to handling the datagram, is measured apart from the delay before its socket; where the
//! kernel coalesced datagrams (GRO), one read returns several.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use quinn_udp::{RecvMeta, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Room for one datagram or a GRO batch of them.
pub const RECV_BUFFER: usize = 64 * 1024;

/// A client connection's socket.
pub struct ClientSocket {
    socket: UdpSocket,
    state: UdpSocketState,
}

/// What one read returned.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// Bytes in the buffer.
    pub len: usize,
    /// Size of each datagram in the buffer (the last may be shorter).
    pub stride: usize,
    pub source: SocketAddr,
    /// Since the kernel received the datagrams.
    pub lag: Duration,
}

impl ClientSocket {
    /// A socket on a free port of `ip`.
    pub async fn bind(ip: IpAddr) -> io::Result<ClientSocket> {
        let socket = UdpSocket::bind((ip, 0)).await?;
        let state = UdpSocketState::new((&socket).into())?;
        Ok(ClientSocket { socket, state })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Sends `datagram` if the socket can take it now; a full socket drops it, as a
    /// congested network would.
    pub fn send_to(&self, datagram: &[u8], to: SocketAddr) {
        let _ = self.socket.try_send_to(datagram, to);
    }

    /// Waits for datagrams and reads them into `buf` ([`RECV_BUFFER`] bytes).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Arrival> {
        loop {
            self.socket.readable().await?;
            let mut meta = [RecvMeta::default()];
            let mut bufs = [IoSliceMut::new(buf)];
            let read = self.socket.try_io(Interest::READABLE, || {
                self.state.recv((&self.socket).into(), &mut bufs, &mut meta)
            });
            match read {
                Ok(_) => {
                    let [meta] = meta;
                    return Ok(Arrival {
                        len: meta.len,
                        stride: meta.stride.max(1),
                        source: meta.addr,
                        lag: meta.timestamp.map_or(Duration::ZERO, since),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Time since `unix` (a kernel timestamp); zero if the clock says it is in the future.
fn since(unix: Duration) -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(Duration::ZERO, |now| now.saturating_sub(unix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_datagram_comes_with_the_time_it_waited_in_the_socket() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let (a, b) = (
            UdpSocket::bind((ip, 0)).await.unwrap(),
            ClientSocket::bind(ip).await.unwrap(),
        );
        let mut buf = vec![0; RECV_BUFFER];
        // The first socket on a machine to ask for receive times has the kernel turn them
        // on through deferred work: until it has run, a datagram is stamped only when read.
        let mut arrivals = Vec::new();
        for _ in 0..10 {
            a.send_to(b"hello", b.local_addr().unwrap()).await.unwrap();
            // Readable once the kernel has queued it (on a busy machine loopback delivery
            // itself can come late), then left waiting there.
            b.socket.readable().await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
            let arrival = b.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..arrival.len], b"hello");
            assert_eq!(arrival.source, a.local_addr().unwrap());
            arrivals.push(arrival);
            if arrival.lag >= Duration::from_millis(25) {
                break;
            }
        }
        let last = arrivals.last().unwrap();
        assert!(last.lag >= Duration::from_millis(25), "{arrivals:?}");
        assert!(last.lag < Duration::from_secs(5), "{arrivals:?}");
    }

    #[tokio::test]
    async fn a_batch_sent_as_one_arrives_whole() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let b = ClientSocket::bind(ip).await.unwrap();
        let a = UdpSocket::bind((ip, 0)).await.unwrap();
        let state = UdpSocketState::new((&a).into()).unwrap();
        let contents: Vec<u8> = (0..2500u32).map(|i| (i / 1000) as u8).collect();
        let transmit = quinn_udp::Transmit {
            destination: b.local_addr().unwrap(),
            ecn: None,
            contents: &contents,
            segment_size: Some(1000),
            src_ip: None,
        };
        state.try_send((&a).into(), &transmit).unwrap();
        let mut buf = vec![0; RECV_BUFFER];
        let mut sizes = Vec::new();
        while sizes.iter().sum::<usize>() < 2500 {
            let arrival = b.recv(&mut buf).await.unwrap();
            for datagram in buf[..arrival.len].chunks(arrival.stride) {
                sizes.push(datagram.len());
            }
        }
        assert_eq!(sizes, [1000, 1000, 500]);
    }
}
