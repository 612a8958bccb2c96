//! One encoder's RTMP connection: it publishes to `live/{token}`, where the stream key is
//! an access token with the publish grant for a room. The token is checked like a bearer
//! token on WHIP, the publisher joins the room through its gate ([`Publisher::join`]),
//! and from then on each video message becomes an H.264 frame and each audio message goes
//! through the AAC → Opus transcoder. Video with B-frames, which WebRTC viewers cannot
//! play, is encoded again without them from its next keyframe on. Anything refused closes
//! the connection, with the reason in the server's log (RTMP has no error a client shows).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;

use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use scuffle_rtmp::ServerSession;
use scuffle_rtmp::session::server::{ServerSessionError, SessionData, SessionHandler};
use tokio::net::TcpStream;
use tracing::{info, warn};

use crate::ingest::flv::{self, Refusal, VideoIn};
use crate::ingest::publisher::{Outgoing, Publisher};
use crate::ingest::transcode::Transcoder;
use crate::state::AppState;

/// The application name in the RTMP URL (`rtmp://HOST:1935/live`).
pub const APP: &str = "live";
/// How long a connection may take to start publishing.
pub const PUBLISH_DEADLINE: Duration = Duration::from_secs(10);

/// Serves one connection until the encoder stops or something is refused.
pub async fn run(state: Arc<AppState>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let publishing = Arc::new(AtomicBool::new(false));
    let handler = Handler {
        state,
        peer,
        published: publishing.clone(),
        stream: None,
    };
    let session = ServerSession::new(stream, handler);
    let deadline = async {
        tokio::time::sleep(PUBLISH_DEADLINE).await;
        if publishing.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = session.run() => {
            if let Err(e) = result {
                info!(%peer, "RTMP connection ended: {e}");
            }
        }
        () = deadline => warn!(%peer, "RTMP connection closed: it did not publish within {PUBLISH_DEADLINE:?}"),
    }
}

struct Handler {
    state: Arc<AppState>,
    peer: SocketAddr,
    published: Arc<AtomicBool>,
    stream: Option<Stream>,
}

/// A stream being published.
struct Stream {
    room: String,
    publisher: Publisher,
    video: Video,
    /// The last AVC sequence header (a re-encoder starts with it).
    sequence_header: Option<Bytes>,
    audio: Option<Transcoder>,
}

/// How the stream's video reaches the room.
enum Video {
    /// As it is.
    Forward(VideoIn),
    /// Encoded again without B-frames, from the first keyframe after they showed.
    Reencode {
        transcoder: Transcoder,
        started: bool,
    },
}

impl Handler {
    /// Checks the stream key and joins its room.
    async fn start(&mut self, app: &str, key: &str) -> Result<Stream, ApiError> {
        if app != APP {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("RTMP publishes to rtmp://HOST/{APP}/<token>, not to \"{app}\"."),
            ));
        }
        if self.stream.is_some() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "One RTMP connection publishes one stream.",
            ));
        }
        // Some encoders append query parameters to the key.
        let token = key.split('?').next().unwrap_or_default();
        let claims = self.state.verify(token)?;
        if !claims.video.can_publish {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "The stream key's access token does not allow publishing.",
            ));
        }
        let room = claims.video.room.clone();
        let identity = claims.sub.clone();
        let publisher = Publisher::join(self.state.clone(), &room, claims).await?;
        info!(peer = %self.peer, room, identity, "RTMP publisher joined");
        Ok(Stream {
            room,
            publisher,
            video: Video::Forward(VideoIn::default()),
            sequence_header: None,
            audio: None,
        })
    }
}

impl Stream {
    /// Takes one video message: forwards its picture, or hands it to the re-encoder.
    async fn video(
        &mut self,
        peer: SocketAddr,
        timestamp: u32,
        data: Bytes,
    ) -> Result<(), ServerSessionError> {
        // FLV: frame type in the high nibble (1: keyframe), codec 7 (AVC) in the low one,
        // then the AVC packet type (0: sequence header).
        let first = data.first().copied().unwrap_or(0);
        let header = first & 0x0f == 7 && data.get(1) == Some(&0);
        let keyframe = first >> 4 == 1 && !header;
        if header {
            self.sequence_header = Some(data.clone());
        }
        match &mut self.video {
            Video::Forward(video) => match video.tag(timestamp, data) {
                Ok(Some(picture)) => {
                    let frame = Outgoing::Video {
                        ms: picture.ms,
                        profile: video.profile().unwrap_or(77),
                        data: picture.data,
                    };
                    if self.publisher.frames.send(frame).await.is_err() {
                        return Err(refuse());
                    }
                }
                // The SPS says so: re-encoded from the first keyframe, before any
                // picture with B-frames reaches the room.
                Ok(None) if header && video.reorders() == Some(true) => {
                    info!(%peer, room = self.room, "the video has B-frames (its SPS says); encoding it again without them");
                    self.reencode()?;
                }
                Ok(None) => {}
                // Pictures out of order although the SPS did not say: re-encoded from the
                // next keyframe.
                Err(Refusal::BFrames) => {
                    info!(%peer, room = self.room, "the video has B-frames; encoding it again without them");
                    self.reencode()?;
                }
                Err(e) => {
                    warn!(%peer, room = self.room, "RTMP stream refused: {e}");
                    return Err(refuse());
                }
            },
            Video::Reencode {
                transcoder,
                started,
            } => {
                if !*started {
                    let Some(header) = self.sequence_header.as_ref().filter(|_| keyframe) else {
                        return Ok(());
                    };
                    transcoder.tag(flv::VIDEO, timestamp, header);
                    *started = true;
                }
                transcoder.tag(flv::VIDEO, timestamp, &data);
            }
        }
        Ok(())
    }

    /// Sends the video through a re-encoder without B-frames from its next keyframe on.
    fn reencode(&mut self) -> Result<(), ServerSessionError> {
        let transcoder = Transcoder::video(self.publisher.frames.clone()).map_err(|e| {
            warn!(room = self.room, "RTMP video cannot be encoded again: {e}");
            refuse()
        })?;
        self.video = Video::Reencode {
            transcoder,
            started: false,
        };
        Ok(())
    }
}

/// scuffle-rtmp closes the connection on any error a handler returns; its error type has
/// no variant for a refusal of ours, so the reason is logged here and this one stands in.
fn refuse() -> ServerSessionError {
    ServerSessionError::PlayNotSupported
}

impl SessionHandler for Handler {
    async fn on_publish(
        &mut self,
        _stream_id: u32,
        app_name: &str,
        stream_name: &str,
    ) -> Result<(), ServerSessionError> {
        match self.start(app_name, stream_name).await {
            Ok(stream) => {
                self.stream = Some(stream);
                self.published.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                warn!(peer = %self.peer, code = ?e.code, "RTMP publish refused: {}", e.message);
                Err(refuse())
            }
        }
    }

    async fn on_unpublish(&mut self, _stream_id: u32) -> Result<(), ServerSessionError> {
        if let Some(stream) = self.stream.take() {
            info!(peer = %self.peer, room = stream.room, "RTMP publisher left");
        }
        Ok(())
    }

    async fn on_data(
        &mut self,
        _stream_id: u32,
        data: SessionData,
    ) -> Result<(), ServerSessionError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        match data {
            SessionData::Video { timestamp, data } => {
                stream.video(self.peer, timestamp, data).await?;
            }
            SessionData::Audio { timestamp, data } => {
                if stream.audio.is_none() {
                    match Transcoder::audio(stream.publisher.frames.clone()) {
                        Ok(audio) => stream.audio = Some(audio),
                        Err(e) => {
                            warn!(room = stream.room, "RTMP audio cannot be transcoded: {e}");
                            return Ok(());
                        }
                    }
                }
                if let Some(audio) = stream.audio.as_mut() {
                    audio.tag(flv::AUDIO, timestamp, &data);
                }
            }
            SessionData::Amf0 { .. } => {}
        }
        Ok(())
    }
}
