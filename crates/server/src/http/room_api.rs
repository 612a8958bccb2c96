//! What the room API (`/api/rooms/{room}/…`, with an admin token for the room) does
//! with the room's conversation and door: send data messages into the room, download the
//! chat transcript, see who waits.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{ChatMessage, PollInfo, Sender};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::auth::{Admin, Authorized};
use crate::http::error::{error_response, json_body};
use crate::http::file_response::content_disposition;
use crate::room::chat::{self, Outgoing};
use crate::room::no_one_in;
use crate::state::{AppState, unix_millis};

/// The body of `POST /api/rooms/{room}/data`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
#[utoipa::path(
    post,
    path = "/api/rooms/{room}/data",
    operation_id = "sendData",
    tag = "rooms",
    params(("room" = String, Path, description = "The room's name")),
    request_body = DataRequest,
    responses(
        (status = 204, description = "Delivered"),
        (status = "4XX", description = "Refused, or no such room", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TranscriptQuery {
    /// `json` (the default) or `txt`.
    #[serde(default)]
    format: Option<String>,
}

/// A room's chat and polls.
#[derive(Debug, Serialize, ToSchema)]
pub struct Transcript {
    room: String,
    /// Messages to everyone, oldest first.
    messages: Vec<ChatMessage>,
    polls: Vec<PollInfo>,
}

/// `GET /api/rooms/{room}/transcript[?format=txt]`: the room's chat (messages to
/// everyone) as JSON, or as plain text to save.
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/transcript",
    operation_id = "getTranscript",
    tag = "rooms",
    params(("room" = String, Path, description = "The room's name"), TranscriptQuery),
    responses(
        (status = 200, description = "The chat as JSON, or with `format=txt` as text",
            content((Transcript = "application/json"), (String = "text/plain"))),
        (status = "4XX", description = "Refused, or no such room", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
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
        None | Some("json") => Json(Transcript {
            messages: r.chat().all().cloned().collect(),
            polls: r.polls().all(),
            room,
        })
        .into_response(),
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

/// Who waits at a room's door.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitingList {
    room: String,
    /// Oldest first.
    waiting: Vec<Sender>,
}

/// `GET /api/rooms/{room}/waiting`: who is in the waiting room, oldest first.
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/waiting",
    operation_id = "listWaiting",
    tag = "participants",
    params(("room" = String, Path, description = "The room's name")),
    responses(
        (status = 200, description = "The waiting room", body = WaitingList),
        (status = "4XX", description = "Refused, or no such room", body = ApiError),
    ),
    security(("token" = ["roomAdmin"])),
)]
pub async fn waiting(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Admin>,
) -> Response {
    let rooms = state.rooms();
    let Some(r) = rooms.room(&room) else {
        return error_response(no_one_in(&room));
    };
    let waiting = r.lobby().waiting_list();
    Json(WaitingList { room, waiting }).into_response()
}
