//! `/api/rooms/{room}/broadcasts…`: make a room live, list its broadcast, stop it, with a
//! token holding the record or admin grant for the room.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moim_proto::error::ApiError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::broadcast::{self, BroadcastView, StartRequest};
use crate::http::auth::{Authorized, Record};
use crate::http::error::{error_response, json_body};
use crate::state::AppState;

/// `POST /api/rooms/{room}/broadcasts`: makes the room live → `201` with the broadcast
/// and its playback URLs.
#[utoipa::path(
    post,
    path = "/api/rooms/{room}/broadcasts",
    operation_id = "startBroadcast",
    tag = "broadcasts",
    params(("room" = String, Path, description = "The room's name")),
    request_body = StartRequest,
    responses(
        (status = 201, description = "Live", body = BroadcastView),
        (status = "4XX", description = "Refused: no such room or source, one runs already (`conflict`)", body = ApiError),
    ),
    security(("token" = ["roomRecord", "roomAdmin"])),
)]
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

/// A room's broadcasts.
#[derive(Debug, Serialize, ToSchema)]
pub struct BroadcastList {
    room: String,
    broadcasts: Vec<BroadcastView>,
}

/// `GET /api/rooms/{room}/broadcasts`: the running broadcast, or the last one while it
/// can be watched back.
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/broadcasts",
    operation_id = "listBroadcasts",
    tag = "broadcasts",
    params(("room" = String, Path, description = "The room's name")),
    responses(
        (status = 200, description = "The room's broadcasts", body = BroadcastList),
        (status = "4XX", description = "Refused", body = ApiError),
    ),
    security(("token" = ["roomRecord", "roomAdmin"])),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    _: Authorized<Record>,
) -> Response {
    let broadcasts = broadcast::list(&state, &room);
    Json(BroadcastList { room, broadcasts }).into_response()
}

/// `DELETE /api/rooms/{room}/broadcasts/{id}`: stops the broadcast → it, ended.
#[utoipa::path(
    delete,
    path = "/api/rooms/{room}/broadcasts/{id}",
    operation_id = "stopBroadcast",
    tag = "broadcasts",
    params(("room" = String, Path, description = "The room's name"), ("id" = String, Path, description = "The broadcast's id")),
    responses(
        (status = 200, description = "Ended; watchable back for a while", body = BroadcastView),
        (status = "4XX", description = "Refused, or no such broadcast", body = ApiError),
    ),
    security(("token" = ["roomRecord", "roomAdmin"])),
)]
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
