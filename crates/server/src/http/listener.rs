//! The HTTP listener: accepts connections and serves the app on each (HTTP/1.1 and
//! WebSocket upgrades, over TLS when the server has a certificate), with the limits a
//! stranger meets before any handler runs: the TLS handshake and a request's headers must
//! each arrive within the header timeout (a connection that sends nothing, or half a
//! request, is closed), and one address holds at most so many connections at once,
//! WebSockets included.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

/// How long connections get to finish once the server stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection may do before a handler sees it.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request's headers must have arrived within this time.
    pub header_timeout: Duration,
    /// Connections one address may hold at once; 0 for no limit.
    pub per_address: usize,
}

/// Serves `app` on `listener` (over TLS with `tls`) until `shutdown` completes, then lets
/// the connections finish (for at most [`DRAIN_TIMEOUT`]).
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let counts = Counts::default();
    let (stop_tx, stop_rx) = watch::channel(());
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: let some close.
                warn!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = counts.take(peer.ip(), limits.per_address) else {
            debug!(%peer, "too many connections from this address; refused");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let counted = Counted {
            stream,
            _slot: slot,
        };
        // Handlers that need the client's address (sign-in's rate limit) read it as
        // `ConnectInfo`.
        let router = TowerToHyperService::new(app.clone());
        let service = service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.call(request)
        });
        let stop = stop_rx.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let Some(acceptor) = tls else {
                return serve_connection(counted, service, limits, stop, peer).await;
            };
            match tokio::time::timeout(limits.header_timeout, acceptor.accept(counted)).await {
                Ok(Ok(stream)) => serve_connection(stream, service, limits, stop, peer).await,
                Ok(Err(e)) => debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => debug!(%peer, "no TLS handshake within the header timeout; closed"),
            }
        });
    }
    drop(stop_tx);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        warn!("connections still open after the server stopped; closing them");
    }
}

/// Serves one connection until it ends or the server stops.
async fn serve_connection<S, H>(
    stream: S,
    service: H,
    limits: Limits,
    mut stop: watch::Receiver<()>,
    peer: SocketAddr,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: hyper::service::HttpService<Incoming>,
    H::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    H::ResBody: 'static,
    <H::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let io = TokioIo::new(stream);
    let mut conn = pin!(builder.serve_connection(io, service).with_upgrades());
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                debug!(%peer, "connection ended: {e}");
            }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Connections per address.
#[derive(Debug, Default, Clone)]
struct Counts(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl Counts {
    /// A slot for one more connection from `ip`, unless it holds `max` already (0: any).
    fn take(&self, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if max != 0 && *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot {
            counts: self.clone(),
            ip,
        })
    }
}

/// One connection's place in its address's count, given back when the connection (or the
/// WebSocket it became) closes.
#[derive(Debug)]
struct Slot {
    counts: Counts,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// A TCP stream holding its connection's slot for as long as it lives.
struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_share_and_gets_slots_back() {
        let counts = Counts::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let a = counts.take(ip, 2).unwrap();
        let _b = counts.take(ip, 2).unwrap();
        assert!(counts.take(ip, 2).is_none(), "a third is refused");
        assert!(counts.take(other, 2).is_some(), "others are not");
        drop(a);
        assert!(
            counts.take(ip, 2).is_some(),
            "a slot given back is free again"
        );
        assert!(counts.take(ip, 0).is_some(), "0 is no limit");
    }
}
