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
use serde::Deserialize;
use serde_json::json;

use crate::http::auth::{Admin, Authorized};
use crate::http::error::{error_response, json_body};
use crate::http::file_response::content_disposition;
use crate::room::chat::{self, Outgoing};
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
