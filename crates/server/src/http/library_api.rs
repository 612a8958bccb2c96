//! The recordings library through the app: a room's recordings for its owner and
//! co-hosts (signed in), their files to play and download, renaming and deleting.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::account_auth::Session;
use crate::http::error::{error_response, json_body};
use crate::http::file_response::file_response;
use crate::http::recording_api::content_type;
use crate::recording::is_folder_name;
use crate::recording::library::{self, LibraryEntry};
use crate::state::AppState;
use crate::store::transcripts::KeptChat;

/// A room's library.
#[derive(Debug, Serialize, ToSchema)]
pub struct Library {
    /// Newest first, at most 100.
    recordings: Vec<LibraryEntry>,
    /// The chats of its ended meetings, when the room keeps them; newest first, at most
    /// 100.
    chats: Vec<KeptChat>,
}

/// The body of a rename.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingRename {
    title: String,
}

/// `GET /api/account/rooms/{room}/recordings`: the room's recordings.
#[utoipa::path(
    get,
    path = "/api/account/rooms/{room}/recordings",
    operation_id = "listLibrary",
    tag = "account",
    params(("room" = String, Path, description = "An owned room's name")),
    responses(
        (status = 200, description = "The room's recordings, newest first", body = Library),
        (status = 403, description = "Not the room's owner or a co-host", body = ApiError),
    ),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(room): Path<String>,
) -> Response {
    let listed = async {
        let recordings = library::list(&state, &session.user, &room).await?;
        let chats = library::chats(&state, &session.user, &room).await?;
        Ok::<_, ApiError>(Library { recordings, chats })
    };
    match listed.await {
        Ok(library) => Json(library).into_response(),
        Err(e) => error_response(e),
    }
}

/// `PATCH /api/account/recordings/{id}`: renames a recording.
#[utoipa::path(
    patch,
    path = "/api/account/recordings/{id}",
    operation_id = "renameRecording",
    tag = "account",
    params(("id" = String, Path, description = "The recording's id (`RC_…`)")),
    request_body = RecordingRename,
    responses(
        (status = 204, description = "Renamed"),
        (status = "4XX", description = "Refused: not the room's owner or a co-host, no such recording, a bad title", body = ApiError),
    ),
)]
pub async fn rename(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<String>,
    body: Result<Json<RecordingRename>, JsonRejection>,
) -> Response {
    let result = async {
        let request = json_body(body, "{title}")?;
        library::rename(&state, &session.user, &id, &request.title).await
    };
    match result.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e),
    }
}

/// `DELETE /api/account/recordings/{id}`: deletes a recording and its files.
#[utoipa::path(
    delete,
    path = "/api/account/recordings/{id}",
    operation_id = "deleteRecording",
    tag = "account",
    params(("id" = String, Path, description = "The recording's id (`RC_…`)")),
    responses(
        (status = 204, description = "Deleted, files and all"),
        (status = "4XX", description = "Refused: not the room's owner or a co-host, no such recording, still running (`conflict`)", body = ApiError),
    ),
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    match library::delete(&state, &session.user, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e),
    }
}

/// `GET /api/account/recordings/{id}/{file}`: a file of a recording, to play (with
/// `Range` requests) or download.
#[utoipa::path(
    get,
    path = "/api/account/recordings/{id}/{file}",
    operation_id = "getLibraryFile",
    tag = "account",
    params(("id" = String, Path, description = "The recording's id (`RC_…`)"), ("file" = String, Path, description = "A file its manifest names")),
    responses(
        (status = 200, description = "The file", body = Vec<u8>, content_type = "video/webm"),
        (status = 206, description = "The range asked for"),
        (status = "4XX", description = "Refused: not the room's owner or a co-host, no such file", body = ApiError),
    ),
)]
pub async fn file(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((id, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let found = match library::find(&state, &session.user, &id).await {
        Ok(found) => found,
        Err(e) => return error_response(e),
    };
    let missing = || {
        error_response(ApiError::new(
            ErrorCode::NotFound,
            format!("Recording {id} has no file \"{file}\"."),
        ))
    };
    if ![&found.room, &id, &file].iter().all(|n| is_folder_name(n)) {
        return missing();
    }
    let path = state
        .config
        .recordings_dir
        .join(&found.room)
        .join(&id)
        .join(&file);
    match file_response(&path, &headers, content_type(&file), &file).await {
        Some(response) => response,
        None => missing(),
    }
}

/// `GET /api/account/chats/{id}`: a kept chat, as text.
#[utoipa::path(
    get,
    path = "/api/account/chats/{id}",
    operation_id = "getKeptChat",
    tag = "account",
    params(("id" = String, Path, description = "The kept chat's id (`CH_…`)")),
    responses(
        (status = 200, description = "The chat, one line a message", body = String, content_type = "text/plain"),
        (status = "4XX", description = "Refused: not the room's owner or a co-host, no such chat", body = ApiError),
    ),
)]
pub async fn chat(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    match library::chat(&state, &session.user, &id).await {
        Ok((kept, text)) => {
            let mut response = text.into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!(
                "attachment; filename=\"{}-chat-{}.txt\"",
                kept.room, kept.ended_at
            )) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(e) => error_response(e),
    }
}

/// `DELETE /api/account/chats/{id}`: forgets a kept chat.
#[utoipa::path(
    delete,
    path = "/api/account/chats/{id}",
    operation_id = "deleteKeptChat",
    tag = "account",
    params(("id" = String, Path, description = "The kept chat's id (`CH_…`)")),
    responses(
        (status = 204, description = "Forgotten"),
        (status = "4XX", description = "Refused: not the room's owner or a co-host, no such chat", body = ApiError),
    ),
)]
pub async fn delete_chat(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    match library::delete_chat(&state, &session.user, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e),
    }
}
