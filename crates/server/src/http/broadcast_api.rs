//! `/api/rooms/{room}/broadcasts…`: make a room live, list its broadcast, stop it, with a
//! token holding the record or admin grant for the room.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::broadcast::{self, StartRequest};
use crate::http::auth::{Authorized, Record};
use crate::http::error::{error_response, json_body};
use crate::state::AppState;

/// `POST /api/rooms/{room}/broadcasts`: makes the room live → `201` with the broadcast
/// and its playback URLs.
pub async fn start(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Record>,
    body: Result<Json<StartRequest>, JsonRejection>,
) -> Response {
    let shape = "{source: \"identity\", outputs?: [\"hls\"], public?: bool}";
    let request = match json_body(body, shape) {
        Ok(request) => request,
        Err(e) => return error_response(e),
    };
    match broadcast::start(&state, &room, request) {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(e) => error_response(e),
    }
}

/// `GET /api/rooms/{room}/broadcasts`: the running broadcast, or the last one while it
/// can be watched back.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Record>,
) -> Response {
    let broadcasts = broadcast::list(&state, &room);
    Json(json!({ "room": room, "broadcasts": broadcasts })).into_response()
}

/// `DELETE /api/rooms/{room}/broadcasts/{id}`: stops the broadcast → it, ended.
pub async fn stop(
    State(state): State<Arc<AppState>>,
    Path((room, id)): Path<(String, String)>,
    _: Authorized<Record>,
) -> Response {
    match broadcast::stop(&state, &room, Some(&id)) {
        Ok(view) => Json(view).into_response(),
        Err(e) => error_response(e),
    }
}
