//! The room REST API (`/api/rooms/{room}/…`) for application servers and hosts, with an
//! admin token for the room: send data messages into the room, download the chat
//! transcript, moderate (mute, remove, end the meeting), set the room up (lock, waiting
//! room, audio mode), admit or reject newcomers, make speakers.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::RoomMode;
use serde::Deserialize;
use serde_json::json;

use crate::http::auth::{Admin, Authorized};
use crate::http::error::{error_response, json_body};
use crate::http::file_response::content_disposition;
use crate::room::admission;
use crate::room::chat::{self, Outgoing};
use crate::room::lobby::SettingsChange;
use crate::room::moderation;
use crate::room::no_one_in;
use crate::state::{AppState, unix_millis};

/// The body of `POST /api/rooms/{room}/data`.
#[derive(Debug, Deserialize)]
pub struct DataRequest {
    payload: String,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    /// `false` lets the message travel on the lossy data channel.
    #[serde(default)]
    reliable: Option<bool>,
}

/// `POST /api/rooms/{room}/data`: a data message from the server to the room, or to the
/// identities in `to`. 204 when delivered.
pub async fn send_data(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Admin>,
    body: Result<Json<DataRequest>, JsonRejection>,
) -> Response {
    let request = match json_body(body, "{payload, topic?, to?, reliable?}") {
        Ok(request) => request,
        Err(e) => return error_response(e),
    };
    let mut rooms = state.rooms();
    let Some(r) = rooms.room_mut(&room) else {
        return error_response(no_one_in(&room));
    };
    let outgoing = Outgoing::Data {
        payload: request.payload,
        topic: request.topic,
        reliable: request.reliable.unwrap_or(true),
    };
    let now = Instant::now();
    match chat::send(
        r,
        &state.media,
        None,
        outgoing,
        request.to,
        now,
        unix_millis(),
    ) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e),
    }
}

/// The query of `GET /api/rooms/{room}/transcript`.
#[derive(Debug, Deserialize)]
pub struct TranscriptQuery {
    #[serde(default)]
    format: Option<String>,
}

/// `GET /api/rooms/{room}/transcript[?format=txt]`: the room's chat (messages to
/// everyone) as JSON, or as plain text to save.
pub async fn transcript(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    Query(query): Query<TranscriptQuery>,
    _: Authorized<Admin>,
) -> Response {
    let rooms = state.rooms();
    let Some(r) = rooms.room(&room) else {
        return error_response(no_one_in(&room));
    };
    match query.format.as_deref() {
        None | Some("json") => {
            let messages: Vec<_> = r.chat().all().collect();
            let polls = r.polls().all();
            Json(json!({ "room": room, "messages": messages, "polls": polls })).into_response()
        }
        Some("txt") => {
            let text = chat::transcript_text(&room, r.chat(), &r.polls().all());
            let mut response = text.into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            if let Ok(v) = HeaderValue::from_str(&content_disposition(&format!("{room}-chat.txt")))
            {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Some(other) => error_response(ApiError::new(
            ErrorCode::MalformedMessage,
            format!("Unknown transcript format \"{other}\"; use json or txt."),
        )),
    }
}

/// The body of `POST /api/rooms/{room}/participants/{identity}/mute`.
#[derive(Debug, Deserialize)]
pub struct MuteRequest {
    track: String,
    muted: bool,
    #[serde(default)]
    lock: bool,
}

/// `POST /api/rooms/{room}/participants/{identity}/mute`: mutes (and optionally locks) a
/// participant's track, or with `muted: false` allows unmuting it. 204 when done.
pub async fn mute_participant(
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

/// Runs `action` on the participant with `identity` in `room`: 204 when it succeeds.
fn on_participant(
    state: &AppState,
    room: &str,
    identity: &str,
    action: impl FnOnce(&mut crate::room::Room, moim_media::ParticipantId) -> Result<(), ApiError>,
) -> Response {
    let mut rooms = state.rooms();
    let Some(r) = rooms.room_mut(room) else {
        return error_response(no_one_in(room));
    };
    let Some(target) = r.roster().find_identity(identity).map(|p| p.id) else {
        return error_response(no_such(identity));
    };
    match action(r, target) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e),
    }
}

/// The query of `DELETE /api/rooms/{room}/participants/{identity}`.
#[derive(Debug, Deserialize)]
pub struct RemoveQuery {
    #[serde(default)]
    ban: bool,
}

/// `DELETE /api/rooms/{room}/participants/{identity}[?ban=true]`: removes a participant.
pub async fn remove_participant(
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

/// `DELETE /api/rooms/{room}`: ends the meeting for everyone.
pub async fn end_meeting(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Admin>,
) -> Response {
    match moderation::end_meeting(&state, &room) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(_) => error_response(no_one_in(&room)),
    }
}

fn no_such(identity: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("No participant \"{identity}\" in this room."),
    )
}

/// The body of `PATCH /api/rooms/{room}`.
#[derive(Debug, Deserialize)]
pub struct SettingsRequest {
    #[serde(default)]
    locked: Option<bool>,
    #[serde(default)]
    waiting_room: Option<bool>,
    #[serde(default)]
    mode: Option<RoomMode>,
}

/// `PATCH /api/rooms/{room}`: changes the room's settings; answers with all of them.
pub async fn change_settings(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Admin>,
    body: Result<Json<SettingsRequest>, JsonRejection>,
) -> Response {
    let shape = "{locked?, waiting_room?, mode?: \"meeting\"|\"audio\"}";
    let request = match json_body(body, shape) {
        Ok(request) => request,
        Err(e) => return error_response(e),
    };
    let change = SettingsChange {
        locked: request.locked,
        waiting_room: request.waiting_room,
        mode: request.mode,
    };
    match admission::change_settings(&state, &room, change) {
        Ok(settings) => Json(json!({ "room": room, "settings": settings })).into_response(),
        Err(e) => error_response(e),
    }
}

/// `GET /api/rooms/{room}/waiting`: who is in the waiting room, oldest first.
pub async fn waiting(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Admin>,
) -> Response {
    let rooms = state.rooms();
    let Some(r) = rooms.room(&room) else {
        return error_response(no_one_in(&room));
    };
    Json(json!({ "room": room, "waiting": r.lobby().waiting_list() })).into_response()
}

/// `POST /api/rooms/{room}/participants/{identity}/admit` and `…/reject`: decides about
/// someone in the waiting room. 204 when done.
pub async fn admit_or_reject(
    State(state): State<Arc<AppState>>,
    Path((room, identity, action)): Path<(String, String, String)>,
    _: Authorized<Admin>,
) -> Response {
    let target = state.rooms().room(&room).and_then(|r| {
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
    let done = match action.as_str() {
        "admit" => admission::admit(&state, &room, target),
        "reject" => admission::reject(&state, &room, target),
        _ => {
            return error_response(ApiError::new(
                ErrorCode::NotFound,
                format!("Unknown action \"{action}\"; use admit or reject."),
            ));
        }
    };
    match done {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e),
    }
}

/// The body of `POST /api/rooms/{room}/participants/{identity}/speaker`.
#[derive(Debug, Deserialize)]
pub struct SpeakerRequest {
    speaker: bool,
}

/// `POST /api/rooms/{room}/participants/{identity}/speaker`: makes a listener of an audio
/// room a speaker (`{"speaker": true}`) or a listener again. 204 when done.
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
