//! Live streams coming in from encoders (OBS, ffmpeg, hardware encoders) over RTMP: the
//! listener on `rtmp_addr`, each connection's session (`session.rs`), the FLV tags turned
//! into H.264 frames (`flv.rs`), AAC turned into Opus and B-frames removed by `ffmpeg`
//! children (`transcode.rs`), and the WebRTC
//! publisher through which the stream joins its room like any other participant
//! (`publisher.rs`).

pub mod flv;
pub mod publisher;
pub mod session;
pub mod transcode;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::warn;

use crate::state::AppState;

/// RTMP connections served at once; more are closed at once (each one holds a peer
/// connection and an audio transcoder).
pub const MAX_CONNECTIONS: usize = 64;

/// Accepts encoders' connections until the process ends.
pub async fn serve(listener: TcpListener, state: Arc<AppState>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!("RTMP listener: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            warn!(%peer, "RTMP connection refused: {MAX_CONNECTIONS} are open already");
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            session::run(state, stream, peer).await;
            drop(slot);
        });
    }
}
