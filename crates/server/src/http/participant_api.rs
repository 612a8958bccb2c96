//! Participants through the server API, with an admin token for their room: list them,
//! look at one (with its connection's latest numbers), change its name and grants live,
//! mute its tracks, remove it, decide about those waiting, make speakers.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moim_media::ParticipantId;
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{NetworkStats, ParticipantInfo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::auth::{Admin, Authorized};
use crate::http::error::{error_response, json_body};
use crate::http::page::PageQuery;
use crate::room::admission::{self, ParticipantChange};
use crate::room::participant::{Link, Participant};
use crate::room::{Room, moderation, no_one_in};
use crate::state::AppState;

/// What a participant may do now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Permissions {
    can_publish: bool,
    can_subscribe: bool,
    can_publish_data: bool,
    room_admin: bool,
    room_record: bool,
}

/// How the participant is connected.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// The meeting app or an SDK, over the signaling WebSocket.
    Signaling,
    /// A WHIP publisher (an encoder, OBS).
    Whip,
}

/// A participant as the API describes it: as announced to the room, and what the server
/// knows of it besides.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantDetails {
    #[serde(flatten)]
    info: ParticipantInfo,
    permissions: Permissions,
    connection: Connection,
    /// When it came, in milliseconds since the Unix epoch.
    joined_at: u64,
    /// Its connection's latest numbers (every two seconds), once measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<NetworkStats>,
}

impl ParticipantDetails {
    fn of(p: &Participant) -> ParticipantDetails {
        let g = &p.grants;
        ParticipantDetails {
            info: p.info(),
            permissions: Permissions {
                can_publish: g.can_publish,
                can_subscribe: g.can_subscribe,
                can_publish_data: g.can_publish_data,
                room_admin: g.room_admin,
                room_record: g.room_record,
            },
            connection: match p.link {
                Link::Socket(_) => Connection::Signaling,
                Link::Http { .. } => Connection::Whip,
            },
            joined_at: p.joined_at,
            stats: p.stats,
        }
    }
}

/// A page of participants.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantPage {
    participants: Vec<ParticipantDetails>,
    /// The identity to ask `after` for the next page; `null` on the last.
    next: Option<String>,
}

/// `GET /api/rooms/{room}/participants`: those in the room, by identity (players of its
/// stream are not listed).
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/participants",
    operation_id = "listParticipants",
    tag = "participants",
    params(("room" = String, Path, description = "The room's name"), PageQuery),
    responses(
        (status = 200, description = "A page of participants", body = ParticipantPage),
        (status = "4XX", description = "Refused, or no such room", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Admin>,
    Query(query): Query<PageQuery>,
) -> Response {
    let everyone: Vec<ParticipantDetails> = {
        let rooms = state.rooms();
        let Some(r) = rooms.room(&room) else {
            return error_response(no_one_in(&room));
        };
        r.roster()
            .iter()
            .filter(|p| !p.hidden)
            .map(ParticipantDetails::of)
            .collect()
    };
    match query.page(everyone, |p| &p.info.identity) {
        Ok(page) => Json(ParticipantPage {
            participants: page.items,
            next: page.next,
        })
        .into_response(),
        Err(e) => error_response(e),
    }
}

/// `GET /api/rooms/{room}/participants/{identity}`: one participant, with its
/// connection's numbers.
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/participants/{identity}",
    operation_id = "getParticipant",
    tag = "participants",
    params(
        ("room" = String, Path, description = "The room's name"),
        ("identity" = String, Path, description = "The participant's identity"),
    ),
    responses(
        (status = 200, description = "The participant", body = ParticipantDetails),
        (status = "4XX", description = "Refused, or no such participant", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path((room, identity)): Path<(String, String)>,
    _: Authorized<Admin>,
) -> Response {
    let rooms = state.rooms();
    let Some(r) = rooms.room(&room) else {
        return error_response(no_one_in(&room));
    };
    match r.roster().find_identity(&identity).filter(|p| !p.hidden) {
        Some(p) => Json(ParticipantDetails::of(p)).into_response(),
        None => error_response(no_such(&identity)),
    }
}

/// Grants that change live; those absent stay.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionsChange {
    #[serde(default)]
    can_publish: Option<bool>,
    #[serde(default)]
    can_publish_data: Option<bool>,
    #[serde(default)]
    room_admin: Option<bool>,
    #[serde(default)]
    room_record: Option<bool>,
}

/// The body of `PATCH /api/rooms/{room}/participants/{identity}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// A new display name.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    permissions: Option<PermissionsChange>,
}

/// `PATCH /api/rooms/{room}/participants/{identity}`: changes a participant's name and
/// grants live, as a new token would; the room is told. One who may no longer publish has
/// its tracks unpublished at once.
#[utoipa::path(
    patch,
    path = "/api/rooms/{room}/participants/{identity}",
    operation_id = "updateParticipant",
    tag = "participants",
    params(
        ("room" = String, Path, description = "The room's name"),
        ("identity" = String, Path, description = "The participant's identity"),
    ),
    request_body = UpdateRequest,
    responses(
        (status = 200, description = "The participant as changed", body = ParticipantDetails),
        (status = "4XX", description = "Refused, or no such participant", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Path((room, identity)): Path<(String, String)>,
    _: Authorized<Admin>,
    body: Result<Json<UpdateRequest>, JsonRejection>,
) -> Response {
    let shape =
        "{name?, permissions?: {can_publish?, can_publish_data?, room_admin?, room_record?}}";
    let request = match json_body(body, shape) {
        Ok(request) => request,
        Err(e) => return error_response(e),
    };
    let permissions = request.permissions.unwrap_or_default();
    let change = ParticipantChange {
        name: request.name,
        can_publish: permissions.can_publish,
        can_publish_data: permissions.can_publish_data,
        room_admin: permissions.room_admin,
        room_record: permissions.room_record,
    };
    let mut rooms = state.rooms();
    let Some(r) = rooms.room_mut(&room) else {
        return error_response(no_one_in(&room));
    };
    let Some(target) = visible(r, &identity) else {
        return error_response(no_such(&identity));
    };
    if let Err(e) = admission::update_participant(&state, r, target, change) {
        return error_response(e);
    }
    match r.roster().get(target) {
        Some(p) => Json(ParticipantDetails::of(p)).into_response(),
        None => error_response(no_such(&identity)),
    }
}

/// The body of `POST /api/rooms/{room}/participants/{identity}/mute`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MuteRequest {
    /// The track's sid (`TR_…`).
    track: String,
    muted: bool,
    /// The participant may not unmute it until a host allows it.
    #[serde(default)]
    lock: bool,
}

/// `POST /api/rooms/{room}/participants/{identity}/mute`: mutes (and optionally locks) a
/// participant's track, or with `muted: false` allows unmuting it.
#[utoipa::path(
    post,
    path = "/api/rooms/{room}/participants/{identity}/mute",
    operation_id = "muteTrack",
    tag = "participants",
    params(
        ("room" = String, Path, description = "The room's name"),
        ("identity" = String, Path, description = "The participant's identity"),
    ),
    request_body = MuteRequest,
    responses(
        (status = 204, description = "Done"),
        (status = "4XX", description = "Refused, or no such participant or track", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
pub async fn mute(
    State(state): State<Arc<AppState>>,
    Path((room, identity)): Path<(String, String)>,
    _: Authorized<Admin>,
    body: Result<Json<MuteRequest>, JsonRejection>,
) -> Response {
    let request = match json_body(body, "{track, muted, lock?}") {
        Ok(request) => request,
        Err(e) => return error_response(e),
    };
    on_participant(&state, &room, &identity, |r, target| {
        moderation::mute_track(
            &state,
            r,
            target,
            &request.track,
            request.muted,
            request.lock,
        )
    })
}

/// The query of `DELETE /api/rooms/{room}/participants/{identity}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// Keep the identity out of the room from now on.
    #[serde(default)]
    ban: bool,
}

/// `DELETE /api/rooms/{room}/participants/{identity}[?ban=true]`: removes a participant
/// (it is told `removed`, or `banned`).
#[utoipa::path(
    delete,
    path = "/api/rooms/{room}/participants/{identity}",
    operation_id = "removeParticipant",
    tag = "participants",
    params(
        ("room" = String, Path, description = "The room's name"),
        ("identity" = String, Path, description = "The participant's identity"),
        RemoveQuery,
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = "4XX", description = "Refused, or no such participant", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
pub async fn remove(
    State(state): State<Arc<AppState>>,
    Path((room, identity)): Path<(String, String)>,
    Query(query): Query<RemoveQuery>,
    _: Authorized<Admin>,
) -> Response {
    let target = state
        .rooms()
        .room(&room)
        .and_then(|r| r.roster().find_identity(&identity))
        .map(|p| p.id);
    let Some(target) = target else {
        return error_response(no_such(&identity));
    };
    match moderation::remove(&state, &room, target, query.ban) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e),
    }
}

/// `POST /api/rooms/{room}/participants/{identity}/admit`: lets someone in from the
/// waiting room.
#[utoipa::path(
    post,
    path = "/api/rooms/{room}/participants/{identity}/admit",
    operation_id = "admitParticipant",
    tag = "participants",
    params(
        ("room" = String, Path, description = "The room's name"),
        ("identity" = String, Path, description = "The identity waiting"),
    ),
    responses(
        (status = 204, description = "Let in"),
        (status = "4XX", description = "Refused, or no one of that identity waits", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
pub async fn admit(
    State(state): State<Arc<AppState>>,
    Path((room, identity)): Path<(String, String)>,
    _: Authorized<Admin>,
) -> Response {
    decide(&state, &room, &identity, admission::admit)
}

/// `POST /api/rooms/{room}/participants/{identity}/reject`: turns someone in the waiting
/// room away (it is told `rejected`).
#[utoipa::path(
    post,
    path = "/api/rooms/{room}/participants/{identity}/reject",
    operation_id = "rejectParticipant",
    tag = "participants",
    params(
        ("room" = String, Path, description = "The room's name"),
        ("identity" = String, Path, description = "The identity waiting"),
    ),
    responses(
        (status = 204, description = "Turned away"),
        (status = "4XX", description = "Refused, or no one of that identity waits", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
pub async fn reject(
    State(state): State<Arc<AppState>>,
    Path((room, identity)): Path<(String, String)>,
    _: Authorized<Admin>,
) -> Response {
    decide(&state, &room, &identity, admission::reject)
}

/// Runs `decision` on the one waiting with `identity` in `room`: 204 when done.
fn decide(
    state: &AppState,
    room: &str,
    identity: &str,
    decision: impl FnOnce(&AppState, &str, ParticipantId) -> Result<(), ApiError>,
) -> Response {
    let target = state.rooms().room(room).and_then(|r| {
        r.lobby()
            .waiting()
            .find(|w| w.identity == identity)
            .map(|w| w.id)
    });
    let Some(target) = target else {
        return error_response(ApiError::new(
            ErrorCode::NotFound,
            format!("No one with identity \"{identity}\" is waiting."),
        ));
    };
    match decision(state, room, target) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e),
    }
}

/// The body of `POST /api/rooms/{room}/participants/{identity}/speaker`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SpeakerRequest {
    /// A speaker, or a listener again.
    speaker: bool,
}

/// `POST /api/rooms/{room}/participants/{identity}/speaker`: makes a listener of an audio
/// room a speaker (`{"speaker": true}`) or a listener again.
#[utoipa::path(
    post,
    path = "/api/rooms/{room}/participants/{identity}/speaker",
    operation_id = "setSpeaker",
    tag = "participants",
    params(
        ("room" = String, Path, description = "The room's name"),
        ("identity" = String, Path, description = "The participant's identity"),
    ),
    request_body = SpeakerRequest,
    responses(
        (status = 204, description = "Done"),
        (status = "4XX", description = "Refused (not an audio room, a host), or no such participant", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
pub async fn set_speaker(
    State(state): State<Arc<AppState>>,
    Path((room, identity)): Path<(String, String)>,
    _: Authorized<Admin>,
    body: Result<Json<SpeakerRequest>, JsonRejection>,
) -> Response {
    let request = match json_body(body, "{speaker}") {
        Ok(request) => request,
        Err(e) => return error_response(e),
    };
    on_participant(&state, &room, &identity, |r, target| {
        admission::set_speaker(&state, r, target, request.speaker)
    })
}

/// Runs `action` on the participant with `identity` in `room`: 204 when it succeeds.
fn on_participant(
    state: &AppState,
    room: &str,
    identity: &str,
    action: impl FnOnce(&mut Room, ParticipantId) -> Result<(), ApiError>,
) -> Response {
    let mut rooms = state.rooms();
    let Some(r) = rooms.room_mut(room) else {
        return error_response(no_one_in(room));
    };
    let Some(target) = visible(r, identity) else {
        return error_response(no_such(identity));
    };
    match action(r, target) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e),
    }
}

/// The announced participant of `identity` in `room`.
fn visible(room: &Room, identity: &str) -> Option<ParticipantId> {
    room.roster()
        .find_identity(identity)
        .filter(|p| !p.hidden)
        .map(|p| p.id)
}

fn no_such(identity: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("No participant \"{identity}\" in this room."),
    )
}
