//! Rooms through the server API: list them (`roomList` grant), create one with its
//! settings and limits (`roomCreate`), and with a room's admin token get it, change it,
//! list its tracks and end it.
//!
//! A room made through the API before anyone joins is kept for its empty timeout; the
//! first participant keeps it going. In a cluster the list holds the rooms that run on
//! the node asked, and a room is created on the node the cluster places it on (`307`
//! there when that is another).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moim_proto::error::ApiError;
use moim_proto::names;
use moim_proto::signal::{BroadcastInfo, RecordingInfo, RoomMode, RoomSettings, TrackInfo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::cluster::Placement;
use crate::http::auth::{Admin, Authorized, RoomCreate, RoomList, Server};
use crate::http::error::{error_response, json_body};
use crate::http::page::PageQuery;
use crate::http::placement::redirect;
use crate::room::lobby::SettingsChange;
use crate::room::{Room, admission, moderation, no_one_in};
use crate::state::AppState;

/// A room as the API describes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomInfo {
    /// Its name, which its links and tokens carry.
    name: String,
    /// Participants in it (players of its stream not counted).
    participants: usize,
    /// People in its waiting room.
    waiting: usize,
    /// When it was made on its node, in milliseconds since the Unix epoch.
    created_at: u64,
    settings: RoomSettings,
    /// The server recording running, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    recording: Option<RecordingInfo>,
    /// The broadcast running, if the room is live.
    #[serde(skip_serializing_if = "Option::is_none")]
    broadcast: Option<BroadcastInfo>,
}

impl RoomInfo {
    fn of(name: &str, room: &Room) -> RoomInfo {
        RoomInfo {
            name: name.to_owned(),
            participants: room.roster().iter().filter(|p| !p.hidden).count(),
            waiting: room.lobby().waiting().count(),
            created_at: room.created_at(),
            settings: room.settings(),
            recording: room.recording().info(),
            broadcast: room.broadcast_running().map(|b| b.info.clone()),
        }
    }
}

/// A page of rooms.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomPage {
    rooms: Vec<RoomInfo>,
    /// The name to ask `after` for the next page; `null` on the last.
    next: Option<String>,
}

/// `GET /api/rooms`: the rooms running on this node, by name.
#[utoipa::path(
    get,
    path = "/api/rooms",
    operation_id = "listRooms",
    tag = "rooms",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of rooms", body = RoomPage),
        (status = "4XX", description = "Refused", body = ApiError),
    ),
    security(("token" = ["roomList"])),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    _: Server<RoomList>,
    Query(query): Query<PageQuery>,
) -> Response {
    let rooms: Vec<RoomInfo> = {
        let rooms = state.rooms();
        rooms
            .names()
            .iter()
            .filter_map(|name| Some(RoomInfo::of(name, rooms.room(name)?)))
            .collect()
    };
    match query.page(rooms, |r| &r.name) {
        Ok(page) => Json(RoomPage {
            rooms: page.items,
            next: page.next,
        })
        .into_response(),
        Err(e) => error_response(e),
    }
}

/// What a room's settings can be changed to; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SettingsRequest {
    /// No one new may join.
    #[serde(default)]
    locked: Option<bool>,
    /// Newcomers wait until a host admits them.
    #[serde(default)]
    waiting_room: Option<bool>,
    #[serde(default)]
    mode: Option<RoomMode>,
    /// At most this many participants (0: no limit).
    #[serde(default)]
    max_participants: Option<u32>,
    /// Seconds the room is kept once empty.
    #[serde(default)]
    empty_timeout: Option<u32>,
}

impl SettingsRequest {
    fn change(&self) -> SettingsChange {
        SettingsChange {
            locked: self.locked,
            waiting_room: self.waiting_room,
            mode: self.mode,
            max_participants: self.max_participants,
            empty_timeout: self.empty_timeout,
        }
    }
}

/// The body of `POST /api/rooms`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateRequest {
    /// The room's name: letters, digits, `-`, `_` and `.`, at most 64.
    name: String,
    #[serde(flatten)]
    settings: SettingsRequest,
}

const SETTINGS_SHAPE: &str = "{locked?, waiting_room?, mode?: \"meeting\"|\"audio\", \
     max_participants?, empty_timeout?}";

/// `POST /api/rooms`: makes a room with its settings → `201` with it; a room of that name
/// that runs already is answered as it is (`200`).
#[utoipa::path(
    post,
    path = "/api/rooms",
    operation_id = "createRoom",
    tag = "rooms",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "Created", body = RoomInfo),
        (status = 200, description = "The room runs already; it is as it was", body = RoomInfo),
        (status = 307, description = "The cluster placed it on another node: ask there"),
        (status = "4XX", description = "Refused", body = ApiError),
    ),
    security(("token" = ["roomCreate"])),
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    _: Server<RoomCreate>,
    body: Result<Json<CreateRequest>, JsonRejection>,
) -> Response {
    let shape = format!("{{name, {}", &SETTINGS_SHAPE[1..]);
    let request = match json_body(body, &shape) {
        Ok(request) => request,
        Err(e) => return error_response(e),
    };
    let name = request.name;
    if let Err(e) = names::check_room(&name) {
        return error_response(e);
    }
    if !state.rooms().contains(&name) {
        match state.cluster.place(&name).await {
            Ok(Placement::Here) => {}
            Ok(Placement::At(node)) => return redirect(&format!("{}/api/rooms", node.url)),
            Err(e) => return error_response(e),
        }
    }
    let mut rooms = state.rooms();
    let created = rooms.create(&name, request.settings.change());
    let Some(room) = rooms.room(&name) else {
        return error_response(no_one_in(&name));
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(RoomInfo::of(&name, room))).into_response()
}

/// `GET /api/rooms/{room}`: the room.
#[utoipa::path(
    get,
    path = "/api/rooms/{room}",
    operation_id = "getRoom",
    tag = "rooms",
    params(("room" = String, Path, description = "The room's name")),
    responses(
        (status = 200, description = "The room", body = RoomInfo),
        (status = "4XX", description = "Refused, or no such room", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Admin>,
) -> Response {
    let rooms = state.rooms();
    match rooms.room(&room).filter(|r| !r.is_mirror()) {
        Some(r) => Json(RoomInfo::of(&room, r)).into_response(),
        None => error_response(no_one_in(&room)),
    }
}

/// `PATCH /api/rooms/{room}`: changes the room's settings (everyone in it is told) and
/// answers with the room.
#[utoipa::path(
    patch,
    path = "/api/rooms/{room}",
    operation_id = "updateRoom",
    tag = "rooms",
    params(("room" = String, Path, description = "The room's name")),
    request_body = SettingsRequest,
    responses(
        (status = 200, description = "The room as changed", body = RoomInfo),
        (status = "4XX", description = "Refused, or no such room", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Admin>,
    body: Result<Json<SettingsRequest>, JsonRejection>,
) -> Response {
    let request = match json_body(body, SETTINGS_SHAPE) {
        Ok(request) => request,
        Err(e) => return error_response(e),
    };
    if let Err(e) = admission::change_settings(&state, &room, request.change()) {
        return error_response(e);
    }
    let rooms = state.rooms();
    match rooms.room(&room) {
        Some(r) => Json(RoomInfo::of(&room, r)).into_response(),
        None => error_response(no_one_in(&room)),
    }
}

/// `DELETE /api/rooms/{room}`: ends the meeting for everyone (they are told
/// `meeting_ended`) and the room goes.
#[utoipa::path(
    delete,
    path = "/api/rooms/{room}",
    operation_id = "endRoom",
    tag = "rooms",
    params(("room" = String, Path, description = "The room's name")),
    responses(
        (status = 204, description = "Ended"),
        (status = "4XX", description = "Refused, or no such room", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
pub async fn end(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Admin>,
) -> Response {
    match moderation::end_meeting(&state, &room) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(_) => error_response(no_one_in(&room)),
    }
}

/// A published track and whose it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedTrack {
    #[serde(flatten)]
    track: TrackInfo,
    /// The identity of the participant who publishes it.
    publisher: String,
}

/// The tracks of a room.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackList {
    tracks: Vec<PublishedTrack>,
}

/// `GET /api/rooms/{room}/tracks`: every track published in the room.
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/tracks",
    operation_id = "listTracks",
    tag = "rooms",
    params(("room" = String, Path, description = "The room's name")),
    responses(
        (status = 200, description = "The room's tracks", body = TrackList),
        (status = "4XX", description = "Refused, or no such room", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
pub async fn tracks(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Admin>,
) -> Response {
    let rooms = state.rooms();
    let Some(r) = rooms.room(&room) else {
        return error_response(no_one_in(&room));
    };
    let tracks = r
        .roster()
        .iter()
        .filter(|p| !p.hidden)
        .flat_map(|p| {
            p.tracks.iter().map(|t| PublishedTrack {
                track: t.clone(),
                publisher: p.identity.clone(),
            })
        })
        .collect();
    Json(TrackList { tracks }).into_response()
}
