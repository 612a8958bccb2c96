//! Live streams for viewers outside the meeting (`docs/broadcast.md`). A broadcast takes
//! the frames of one source (a participant's camera and microphone, an RTMP encoder, or
//! the meeting's composite grid) from the media plane, the way a recording does, through
//! a bounded queue that never stalls forwarding, and offers them over LL-HLS with a
//! quality ladder.
//!
//! - [`live`]: a broadcast running in a room: the taps on its source and the thread
//!   feeding the ladder.
//! - [`ladder`]: the LL-HLS quality ladder: one `ffmpeg` child decodes the source once and
//!   encodes every rung (480p, 720p, 1080p at or below the source) with keyframes at the
//!   same times, and each rung is packaged by its own `hls::Segmenter`.
//! - [`playback`]: what HLS viewers read, apart from the rooms: each room's latest
//!   broadcast, live or ended.
//! - [`access`]: the signed, expiring path keys of private broadcasts.
//! - [`archive`]: the rungs' segments kept on disk, so an ended broadcast plays back.
//! - [`restream`]: the `rtmp` output: the top rung copied to an RTMP server.
//!
//! A room has at most one broadcast at a time: its HLS playlists are the room's
//! (`/hls/{room}/index.m3u8`).

pub mod access;
pub mod archive;
pub mod ladder;
pub mod live;
pub mod playback;
pub mod restream;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::names::check_identity;
use moim_proto::signal::{
    BroadcastInfo, BroadcastOutput, BroadcastPlayback, BroadcastStopReason, ServerMessage,
};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::broadcast::archive::ArchiveConfig;
use crate::broadcast::ladder::LadderConfig;
use crate::broadcast::live::{Broadcast, COMPOSITE};
use crate::broadcast::playback::Playback;
use crate::broadcast::restream::{RestreamState, RestreamStatus};
use crate::room::no_one_in;
use crate::state::{AppState, unix_millis, unix_now};
use crate::webhook::{Event, EventKind};

/// What a host asks for to make a room live (`POST /api/rooms/{room}/broadcasts`, or
/// `broadcast_start` in signaling).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[schema(as = BroadcastRequest)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The identity of the participant shown, or `composite` for the meeting's grid.
    pub source: String,
    /// Where it goes; HLS when not said.
    #[serde(default = "hls_only")]
    pub outputs: Vec<BroadcastOutput>,
    /// Anyone may watch it.
    #[serde(default)]
    pub public: bool,
    /// Where the `rtmp` output goes (`rtmp://` or `rtmps://`, with the stream key).
    #[serde(default)]
    pub rtmp_url: Option<String>,
}

/// The longest RTMP destination URL taken.
const MAX_RTMP_URL: usize = 2048;

/// How long the key the restream reads the server's own HLS with works: a year, longer
/// than any broadcast.
const RESTREAM_KEY_SECONDS: u64 = 365 * 24 * 3600;

fn hls_only() -> Vec<BroadcastOutput> {
    vec![BroadcastOutput::Hls]
}

/// Whether a broadcast is live now or ended (and can be watched back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastState {
    /// Running; its source has not sent a picture yet (its playlists are not there yet).
    Waiting,
    /// Running, with playlists.
    Live,
    /// Stopped; its playlists end and stay watchable for a while.
    Ended,
}

/// A broadcast as the API shows it: what the room is told, its state and where to watch.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BroadcastView {
    /// What everyone in the room is told.
    #[serde(flatten)]
    pub info: BroadcastInfo,
    /// Live or ended.
    pub state: BroadcastState,
    /// Where to watch it.
    pub playback: BroadcastPlayback,
    /// Where its RTMP restream stands, while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restream: Option<RestreamStatus>,
}

/// Makes `room_name` live and tells everyone in it; returns the broadcast with its
/// playback URLs.
pub fn start(
    state: &AppState,
    room_name: &str,
    request: StartRequest,
) -> Result<BroadcastView, ApiError> {
    check_identity(&request.source).map_err(|_| {
        ApiError::new(
            ErrorCode::MalformedMessage,
            "The source is the identity of a participant of the room (1 to 128 characters).",
        )
    })?;
    if request.outputs.is_empty() {
        return Err(ApiError::new(
            ErrorCode::MalformedMessage,
            "A broadcast needs an output: \"outputs\": [\"hls\"].",
        ));
    }
    let rtmp_url = rtmp_destination(&request)?;
    let mut rooms = state.rooms();
    let room = rooms
        .room_mut(room_name)
        .ok_or_else(|| no_one_in(room_name))?;
    if let Some(running) = room.broadcast_running() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "Broadcast {} is already running in this room; stop it first.",
                running.info.id
            ),
        ));
    }
    let info = BroadcastInfo {
        id: format!("BC_{:x}", unix_millis()),
        source: request.source,
        outputs: request.outputs,
        public: request.public,
        started_at: unix_millis(),
    };
    let mut ladder = LadderConfig {
        rungs: state.config.broadcast_rungs.clone(),
        ..LadderConfig::default()
    };
    if state.config.broadcast_vod_window > 0 {
        ladder.archive = Some(ArchiveConfig::new(
            &state.config.broadcasts_dir,
            &info.id,
            Duration::from_secs(state.config.broadcast_vod_window),
        ));
    }
    let mut broadcast = Broadcast::start(info.clone(), ladder).map_err(|e| {
        warn!("cannot start a broadcast: {e}");
        ApiError::new(
            ErrorCode::Internal,
            "The server cannot start a broadcast now; its log says why.",
        )
    })?;
    if let Some(dest) = rtmp_url {
        let expires = unix_now() + RESTREAM_KEY_SECONDS;
        let key = access::key(&state.config.api_secret, room_name, &info.id, expires);
        let http = state.config.http_addr;
        let ip = match http.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        // ffmpeg does not check the certificate of an https:// input by default: the
        // server's own, made out to its public name, does not match this address.
        let scheme = if state.config.tls() { "https" } else { "http" };
        let folder = format!(
            "{scheme}://{}/hls/{room_name}/{key}/{}/",
            SocketAddr::new(ip, http.port()),
            info.id
        );
        broadcast.restream_to(folder, dest).map_err(|e| {
            warn!("cannot start a restream: {e}");
            ApiError::new(
                ErrorCode::Internal,
                "The server cannot start the restream now; its log says why.",
            )
        })?;
    }
    broadcast.attach(&state.media, room);
    state
        .playbacks
        .insert(room_name, broadcast.playback().clone());
    let view = view(
        state,
        room_name,
        broadcast.playback(),
        &info,
        broadcast.restream(),
    );
    *room.broadcast_mut() = Some(broadcast);
    room.refresh_stream(&state.media);
    room.broadcast(
        None,
        ServerMessage::Broadcast {
            broadcast: Some(info.clone()),
            playback: None,
            reason: None,
        },
    );
    info!(broadcast = %info.id, room = room_name, source = %info.source, "broadcast started");
    let started = Event::new(EventKind::BroadcastStarted, room_name);
    state.webhooks.emit(started.broadcast(info.clone()));
    Ok(view)
}

/// Stops the broadcast of `room_name` (only broadcast `id` when given) and tells everyone
/// in it.
pub fn stop(
    state: &AppState,
    room_name: &str,
    id: Option<&str>,
) -> Result<BroadcastView, ApiError> {
    stop_one(state, room_name, id, None)
}

/// Stops broadcast `id` of `room_name` by the server's own decision, telling everyone
/// why.
pub fn stop_because(
    state: &AppState,
    room_name: &str,
    id: &str,
    reason: BroadcastStopReason,
) -> Result<BroadcastView, ApiError> {
    info!(
        broadcast = id,
        room = room_name,
        ?reason,
        "stopping a broadcast"
    );
    stop_one(state, room_name, Some(id), Some(reason))
}

fn stop_one(
    state: &AppState,
    room_name: &str,
    id: Option<&str>,
    reason: Option<BroadcastStopReason>,
) -> Result<BroadcastView, ApiError> {
    let not_running =
        || ApiError::new(ErrorCode::NotFound, "No broadcast is running in this room.");
    let mut rooms = state.rooms();
    let room = rooms.room_mut(room_name).ok_or_else(not_running)?;
    let running = room.broadcast_mut();
    if running
        .as_ref()
        .is_none_or(|b| id.is_some_and(|id| b.info.id != id))
    {
        return Err(not_running());
    }
    let broadcast = running.take().expect("checked above");
    let info = broadcast.info.clone();
    let playback = broadcast.playback().clone();
    let restream = broadcast.restream();
    broadcast.stop(&state.media);
    let ended = Event::new(EventKind::BroadcastFinished, room_name);
    state.webhooks.emit(ended.broadcast(info.clone()));
    room.refresh_stream(&state.media);
    room.broadcast(
        None,
        ServerMessage::Broadcast {
            broadcast: None,
            playback: None,
            reason,
        },
    );
    let restream = restream.map(|mut r| {
        r.state = RestreamState::Stopped;
        r
    });
    Ok(view(state, room_name, &playback, &info, restream))
}

/// Stops every broadcast (the server is shutting down) and waits for their ladders and
/// restreams to end their `ffmpeg` children.
pub fn stop_all(state: &AppState) {
    let running = state.rooms().broadcasts_running();
    for room in running {
        if let Err(e) = stop(state, &room, None) {
            warn!(room, "stopping a broadcast failed: {}", e.message);
        }
    }
    let left = live::wait_for_ladders(Duration::from_secs(20));
    if left > 0 {
        warn!(ladders = left, "broadcast ladders still finishing at exit");
    }
}

/// The broadcasts of `room_name`: the one running, or else the last one while it can be
/// watched back.
pub fn list(state: &AppState, room_name: &str) -> Vec<BroadcastView> {
    let running = state
        .rooms()
        .room(room_name)
        .and_then(|r| r.broadcast_running())
        .map(|b| (b.info.clone(), b.restream()));
    let Some(playback) = state.playbacks.get(room_name) else {
        return Vec::new();
    };
    let shown = running
        .filter(|(info, _)| info.id == playback.info.id)
        .or_else(|| playback.is_ended().then(|| (playback.info.clone(), None)));
    shown
        .map(|(info, restream)| view(state, room_name, &playback, &info, restream))
        .into_iter()
        .collect()
}

/// A broadcast with its state and playback URLs (a fresh key for a private one).
fn view(
    state: &AppState,
    room_name: &str,
    playback: &Arc<Playback>,
    info: &BroadcastInfo,
    restream: Option<RestreamStatus>,
) -> BroadcastView {
    let (hls, watch, expires_at) = if playback.is_public() {
        (
            format!("/hls/{room_name}/index.m3u8"),
            format!("/watch/{room_name}"),
            None,
        )
    } else {
        let expires = unix_now() + access::KEY_LIFETIME_SECONDS;
        let key = access::key(&state.config.api_secret, room_name, &info.id, expires);
        (
            format!("/hls/{room_name}/{key}/index.m3u8"),
            format!("/watch/{room_name}?key={key}"),
            Some(expires),
        )
    };
    let state = if playback.is_ended() {
        BroadcastState::Ended
    } else if playback.renditions().all().is_empty() {
        BroadcastState::Waiting
    } else {
        BroadcastState::Live
    };
    BroadcastView {
        info: info.clone(),
        state,
        playback: BroadcastPlayback {
            hls,
            expires_at,
            watch,
            whep: (info.source != COMPOSITE)
                .then(|| format!("/whep/{room_name}/{}", path_segment(&info.source))),
        },
        restream,
    }
}

/// The `rtmp` output's destination: given exactly when the output is asked for, an
/// `rtmp://` or `rtmps://` URL.
fn rtmp_destination(request: &StartRequest) -> Result<Option<String>, ApiError> {
    let wanted = request.outputs.contains(&BroadcastOutput::Rtmp);
    match (&request.rtmp_url, wanted) {
        (None, false) => Ok(None),
        (Some(url), true)
            if (url.starts_with("rtmp://") || url.starts_with("rtmps://"))
                && url.len() <= MAX_RTMP_URL
                && !url.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            Ok(Some(url.clone()))
        }
        (Some(_), true) => Err(ApiError::new(
            ErrorCode::MalformedMessage,
            format!(
                "rtmp_url is an rtmp:// or rtmps:// URL with the stream key, at most {MAX_RTMP_URL} characters, without spaces."
            ),
        )),
        (None, true) => Err(ApiError::new(
            ErrorCode::MalformedMessage,
            "The rtmp output needs its destination: \"rtmp_url\": \"rtmp://host/app/key\".",
        )),
        (Some(_), false) => Err(ApiError::new(
            ErrorCode::MalformedMessage,
            "rtmp_url is for the rtmp output: add \"rtmp\" to \"outputs\".",
        )),
    }
}

/// Text as one URL path segment (or query value): everything but unreserved characters
/// percent-encoded.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
