//! `/api/rooms/{room}/recordings/…`: start, stop, list and download server recordings,
//! with a token holding the record or admin grant for the room.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::RecordingInfo;
use moim_proto::signal::RecordingKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::auth::{Authorized, Record};
use crate::http::error::{error_response, json_body};
use crate::http::file_response::file_response;
use crate::recording::manifest::Manifest;
use crate::recording::{self, is_folder_name};
use crate::state::AppState;

/// The body of `POST /api/rooms/{room}/recordings`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = RecordingRequest)]
pub struct StartRequest {
    kind: RecordingKind,
}

/// `POST /api/rooms/{room}/recordings`: starts recording the room → `201` with it.
#[utoipa::path(
    post,
    path = "/api/rooms/{room}/recordings",
    operation_id = "startRecording",
    tag = "recordings",
    params(("room" = String, Path, description = "The room's name")),
    request_body = StartRequest,
    responses(
        (status = 201, description = "Recording", body = RecordingInfo),
        (status = "4XX", description = "Refused: no such room, one runs already (`conflict`), no room on disk (`storage_full`)", body = ApiError),
    ),
    security(("token" = ["roomRecord", "roomAdmin"])),
)]
pub async fn start(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Record>,
    body: Result<Json<StartRequest>, JsonRejection>,
) -> Response {
    let shape = "{kind: \"track\" | \"participant\" | \"composite\" | \"audio_only\"}";
    let request = match json_body(body, shape) {
        Ok(request) => request,
        Err(e) => return error_response(e),
    };
    let starting = state.clone();
    let kind = request.kind;
    match tokio::task::spawn_blocking(move || recording::start(&starting, &room, kind)).await {
        Ok(Ok(info)) => (StatusCode::CREATED, Json(info)).into_response(),
        Ok(Err(e)) => error_response(e),
        Err(_) => error_response(ApiError::new(
            ErrorCode::Internal,
            "Starting the recording failed.",
        )),
    }
}

/// `DELETE /api/rooms/{room}/recordings/{id}`: stops the running recording and answers
/// with its manifest once its files are complete.
#[utoipa::path(
    delete,
    path = "/api/rooms/{room}/recordings/{id}",
    operation_id = "stopRecording",
    tag = "recordings",
    params(("room" = String, Path, description = "The room's name"), ("id" = String, Path, description = "The recording's id (`RC_…`)")),
    responses(
        (status = 200, description = "Stopped; its manifest", body = Manifest),
        (status = "4XX", description = "Refused, or it does not run", body = ApiError),
    ),
    security(("token" = ["roomRecord", "roomAdmin"])),
)]
pub async fn stop(
    State(state): State<Arc<AppState>>,
    Path((room, id)): Path<(String, String)>,
    _: Authorized<Record>,
) -> Response {
    let running = state
        .rooms()
        .room(&room)
        .and_then(|r| r.recording().running().map(|rec| rec.info.id == id));
    if running != Some(true) {
        return error_response(not_running(&id));
    }
    let stopping = state.clone();
    let done = tokio::task::spawn_blocking(move || recording::stop(&stopping, &room)).await;
    match done {
        Ok(Ok(manifest)) => Json(manifest).into_response(),
        Ok(Err(e)) => error_response(e),
        Err(_) => error_response(ApiError::new(
            ErrorCode::Internal,
            "Stopping the recording failed.",
        )),
    }
}

/// A room's recordings.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingList {
    room: String,
    /// Their manifests, newest first.
    recordings: Vec<Manifest>,
}

/// `GET /api/rooms/{room}/recordings`: the room's recordings (their manifests), newest
/// first.
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/recordings",
    operation_id = "listRecordings",
    tag = "recordings",
    params(("room" = String, Path, description = "The room's name")),
    responses(
        (status = 200, description = "The room's recordings", body = RecordingList),
        (status = "4XX", description = "Refused", body = ApiError),
    ),
    security(("token" = ["roomRecord", "roomAdmin"])),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Record>,
) -> Response {
    let dir = state.config.recordings_dir.clone();
    let listed = room.clone();
    let Ok(recordings) = tokio::task::spawn_blocking(move || recording::list(&dir, &listed)).await
    else {
        return error_response(ApiError::new(
            ErrorCode::Internal,
            "Listing recordings failed.",
        ));
    };
    Json(RecordingList { room, recordings }).into_response()
}

/// `GET /api/rooms/{room}/recordings/{id}`: one recording's manifest.
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/recordings/{id}",
    operation_id = "getRecording",
    tag = "recordings",
    params(("room" = String, Path, description = "The room's name"), ("id" = String, Path, description = "The recording's id (`RC_…`)")),
    responses(
        (status = 200, description = "Its manifest", body = Manifest),
        (status = "4XX", description = "Refused, or no such recording", body = ApiError),
    ),
    security(("token" = ["roomRecord", "roomAdmin"])),
)]
pub async fn manifest(
    State(state): State<Arc<AppState>>,
    Path((room, id)): Path<(String, String)>,
    _: Authorized<Record>,
) -> Response {
    let dir = state.config.recordings_dir.clone();
    let listed = tokio::task::spawn_blocking(move || recording::list(&dir, &room)).await;
    match listed.unwrap_or_default().into_iter().find(|m| m.id == id) {
        Some(manifest) => Json(manifest).into_response(),
        None => error_response(no_recording(&id)),
    }
}

/// `GET /api/rooms/{room}/recordings/{id}/{file}`: a file of a recording (with `Range`
/// requests).
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/recordings/{id}/{file}",
    operation_id = "downloadRecordingFile",
    tag = "recordings",
    params(("room" = String, Path, description = "The room's name"), ("id" = String, Path, description = "The recording's id (`RC_…`)"), ("file" = String, Path, description = "A file its manifest names")),
    responses(
        (status = 200, description = "The file (`video/webm`, `video/mp4`, `audio/ogg`, `application/json`)", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 206, description = "The range asked for"),
        (status = "4XX", description = "Refused, or no such file", body = ApiError),
    ),
    security(("token" = ["roomRecord", "roomAdmin"])),
)]
pub async fn download(
    State(state): State<Arc<AppState>>,
    Path((room, id, file)): Path<(String, String, String)>,
    _: Authorized<Record>,
    headers: HeaderMap,
) -> Response {
    if ![&room, &id, &file].iter().all(|n| is_folder_name(n)) {
        return error_response(no_recording(&id));
    }
    let path = state
        .config
        .recordings_dir
        .join(&room)
        .join(&id)
        .join(&file);
    match file_response(&path, &headers, content_type(&file), &file).await {
        Some(response) => response,
        None => error_response(ApiError::new(
            ErrorCode::NotFound,
            format!("Recording {id} has no file \"{file}\"."),
        )),
    }
}

/// The content type of a recording's file, by its extension.
pub fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("webm") => "video/webm",
        Some("mp4") => "video/mp4",
        Some("ogg") => "audio/ogg",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn not_running(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("Recording {id} is not running in this room."),
    )
}

fn no_recording(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("There is no recording {id} of this room."),
    )
}
