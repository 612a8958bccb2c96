//! `/watch/{room}`: the page viewers of a broadcast open, and what it asks the server
//! without a token. A public broadcast is open to anyone; a private one to whoever has its
//! key (`?key=`, the one in its HLS URL, [`crate::broadcast::access`]).
//!
//! - `GET /watch/{room}`: the page (`web/app/watch.html`).
//! - `GET /watch/{room}/info`: whether the room is live, where its HLS playlist is, and
//!   how many watch it over WebRTC.
//! - `POST /watch/{room}/whep`: WHEP play of the broadcast's source, as a hidden viewer;
//!   the session's `Location` is under `/whep/{room}/`, where `DELETE` ends it.
//!
//! In a cluster, a node the room does not run on answers these from the room's node and
//! plays its own mirror of the room (`cluster/relay/watch.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::BroadcastOutput;
use moim_proto::token::{Claims, GrantPreset, Grants};
use serde::{Deserialize, Serialize};

use crate::broadcast::access;
use crate::broadcast::live::COMPOSITE;
use crate::broadcast::playback::Playback;
use crate::cluster::relay::{self, RELAY_IDENTITY};
use crate::http::error::error_response;
use crate::http::placement::Elsewhere;
use crate::http::whip;
use crate::room::participant::Link;
use crate::state::{AppState, unix_now};

/// What the watch page learns of a room's broadcast.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WatchInfo {
    /// A broadcast runs now (else it ended and `hls` plays it back).
    pub live: bool,
    /// The source has sent its first picture: the playlists are there.
    pub started: bool,
    /// The multivariant playlist, with the key for a private broadcast; `None` when the
    /// broadcast is not offered over HLS (only restreamed).
    pub hls: Option<String>,
    /// Where to `POST` a WHEP offer to watch with sub-second delay (while live); `None`
    /// for the meeting's composite grid, which plays over HLS only.
    pub whep: Option<String>,
    /// The source's display name, while it is in the room.
    pub source_name: Option<String>,
    /// People watching over WebRTC now (WHEP players of the room, on every node).
    pub viewers: usize,
    /// When the broadcast started, milliseconds since the Unix epoch.
    pub started_at: u64,
}

impl WatchInfo {
    /// Whether the broadcast plays over WebRTC now, and if not, why.
    pub fn webrtc_playable(&self) -> Result<(), ApiError> {
        match (&self.whep, self.live) {
            (None, _) => Err(WatchInfo::grid_only()),
            (Some(_), false) => Err(WatchInfo::ended()),
            (Some(_), true) => Ok(()),
        }
    }

    fn grid_only() -> ApiError {
        ApiError::new(
            ErrorCode::NotFound,
            "The meeting's grid plays over HLS only; its playlist is in the watch page's info.",
        )
    }

    fn ended() -> ApiError {
        ApiError::new(
            ErrorCode::NotFound,
            "The broadcast ended; its HLS playlist plays it back.",
        )
    }
}

/// `GET /watch/{room}/info`.
#[utoipa::path(
    get,
    path = "/watch/{room}/info",
    operation_id = "getWatchInfo",
    tag = "watch",
    params(("room" = String, Path, description = "The room's name"), ("key" = Option<String>, Query, description = "The key of a private broadcast")),
    responses(
        (status = 200, description = "The room's broadcast", body = WatchInfo),
        (status = "4XX", description = "Not live and nothing to watch back, or a private broadcast without its key", body = ApiError),
    ),
)]
pub async fn info(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    elsewhere: Option<Extension<Elsewhere>>,
    headers: HeaderMap,
) -> Response {
    let key = query.get("key").map(String::as_str);
    if let Some(Extension(Elsewhere(node))) = elsewhere {
        return relay::watch::info(&state, &room, &node, key).await;
    }
    state.relays.watch.take_report(&state, &room, &headers);
    let playback = match watchable(&state, &room, key) {
        Ok(playback) => playback,
        Err(e) => return error_response(e),
    };
    let (source_name, viewers) = {
        let rooms = state.rooms();
        let roster = rooms.room(&room).map(|r| r.roster());
        let source = roster.and_then(|r| r.find_identity(&playback.info.source));
        let relay = format!("{RELAY_IDENTITY}~");
        let viewers = roster.map_or(0, |r| {
            r.iter()
                .filter(|p| p.hidden && matches!(p.link, Link::Http { .. }))
                .filter(|p| !p.identity.starts_with(&relay))
                .count()
        });
        (source.map(|p| p.name.clone()), viewers)
    };
    let viewers = viewers + state.relays.watch.elsewhere(&room);
    let suffix = key.map(|k| format!("?key={k}")).unwrap_or_default();
    let offered = playback.info.outputs.contains(&BroadcastOutput::Hls);
    let hls = offered.then(|| match key {
        Some(key) => format!("/hls/{room}/{key}/index.m3u8"),
        None => format!("/hls/{room}/index.m3u8"),
    });
    Json(WatchInfo {
        live: !playback.is_ended(),
        started: !playback.renditions().all().is_empty(),
        hls,
        whep: (playback.info.source != COMPOSITE).then(|| format!("/watch/{room}/whep{suffix}")),
        source_name,
        viewers,
        started_at: playback.info.started_at,
    })
    .into_response()
}

/// `POST /watch/{room}/whep`: plays the live broadcast's source.
#[utoipa::path(
    post,
    path = "/watch/{room}/whep",
    operation_id = "watchPlay",
    tag = "watch",
    params(("room" = String, Path, description = "The room's name"), ("key" = Option<String>, Query, description = "The key of a private broadcast")),
    request_body(content = String, content_type = "application/sdp", description = "The SDP offer"),
    responses(
        (status = 201, description = "The SDP answer; `Location` is the session (under `/whep/{room}/`)",
            body = String, content_type = "application/sdp"),
        (status = "4XX", description = "Not live, HLS only (the composite grid), or a private broadcast without its key", body = ApiError),
    ),
)]
pub async fn play(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    elsewhere: Option<Extension<Elsewhere>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let key = query.get("key").map(String::as_str);
    if let Some(Extension(Elsewhere(node))) = elsewhere {
        return relay::watch::play(&state, &room, node, key, body).await;
    }
    let playback = match watchable(&state, &room, key) {
        Ok(playback) => playback,
        Err(e) => return error_response(e),
    };
    let playable = if playback.info.source == COMPOSITE {
        Err(WatchInfo::grid_only())
    } else if playback.is_ended() {
        Err(WatchInfo::ended())
    } else {
        Ok(())
    };
    if let Err(e) = playable {
        return error_response(e);
    }
    whip::play_participant(
        state.clone(),
        room.clone(),
        playback.info.source.clone(),
        viewer_claims(&state, &room),
        body,
    )
    .await
}

/// What a viewer of `room`'s broadcast may do: watch, nothing more, until the key would
/// expire.
pub fn viewer_claims(state: &AppState, room: &str) -> Claims {
    Claims {
        iss: state.config.api_key.clone(),
        sub: "viewer".to_owned(),
        name: Some("Viewer".to_owned()),
        nbf: 0,
        exp: unix_now() + access::KEY_LIFETIME_SECONDS,
        video: Grants::preset(room, GrantPreset::Viewer),
    }
}

/// The room's broadcast, if `key` (or its being public) lets one watch it.
fn watchable(state: &AppState, room: &str, key: Option<&str>) -> Result<Arc<Playback>, ApiError> {
    let playback = state.playbacks.get(room).ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("Room \"{room}\" is not live and has no broadcast to watch back."),
        )
    })?;
    playback.let_in(&state.config.api_secret, room, key, unix_now())?;
    Ok(playback)
}
