//! The IO loop around the [`Router`]: one thread owning the shared UDP socket.
//!
//! It waits for a datagram, a command or the router's next timeout, hands it to the router,
//! then sends what the router wants sent and passes its events to the control plane.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::command::Command;
use crate::event::MediaEvent;
use crate::router::Router;

/// Largest datagram read; WebRTC keeps packets well under this.
const RECV_BUFFER: usize = 2048;
/// Longest sleep when the router has no timer.
const IDLE_WAKE: Duration = Duration::from_millis(500);

/// Runs the IO loop until the command channel closes.
pub(crate) async fn run(
    socket: UdpSocket,
    candidate: SocketAddr,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<MediaEvent>,
) {
    let mut router = Router::new(candidate);
    let mut buf = vec![0u8; RECV_BUFFER];
    info!(%candidate, "media worker running");
    loop {
        let deadline = router
            .next_timeout()
            .unwrap_or_else(|| Instant::now() + IDLE_WAKE);
        tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, source)) => router.handle_datagram(Instant::now(), source, &buf[..n]),
                Err(e) => warn!("UDP receive failed: {e}"),
            },
            command = commands.recv() => match command {
                Some(command) => router.handle_command(Instant::now(), command),
                None => break,
            },
            _ = tokio::time::sleep_until(deadline.into()) => router.handle_timeout(Instant::now()),
        }
        while let Some(transmit) = router.poll_transmit() {
            if let Err(e) = send(&socket, &transmit.contents, transmit.destination) {
                warn!(to = %transmit.destination, "UDP send failed: {e}");
            }
        }
        while let Some(event) = router.poll_event() {
            if let Err(e) = events.try_send(event) {
                error!("control plane is not keeping up; media event dropped: {e}");
            }
        }
    }
    info!("media worker stopped");
}

/// Sends without waiting: a full socket buffer drops the datagram like the network would.
fn send(socket: &UdpSocket, contents: &[u8], to: SocketAddr) -> io::Result<()> {
    match socket.try_send_to(contents, to) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        other => other.map(|_| ()),
    }
}
