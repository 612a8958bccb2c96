//! The node API for operators (a token with the `nodeAdmin` grant): `GET /api/nodes`, the
//! cluster's live nodes with their load, and draining one.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use serde_json::json;

use crate::http::auth::{NodeAdmin, Server};
use crate::http::error::error_response;
use crate::http::placement::redirect;
use crate::state::AppState;

/// The live nodes (just this one when it is alone), and which of them answered.
pub async fn list(State(state): State<Arc<AppState>>, _admin: Server<NodeAdmin>) -> Response {
    match state.cluster.nodes().await {
        Ok(nodes) => Json(json!({
            "node": state.cluster.me().id,
            "clustered": state.cluster.clustered(),
            "nodes": nodes,
        }))
        .into_response(),
        Err(e) => error_response(e),
    }
}

/// `POST /api/nodes/{id}/drain`: the node stops taking rooms, moves its participants to
/// other nodes and stops (`202`). Another node's drain is sent there (`307`).
pub async fn drain(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    _admin: Server<NodeAdmin>,
) -> Response {
    let me = state.cluster.me();
    if id == me.id {
        state.stop.notify_one();
        return (
            StatusCode::ACCEPTED,
            Json(json!({"node": me.id, "draining": true})),
        )
            .into_response();
    }
    let nodes = match state.cluster.nodes().await {
        Ok(nodes) => nodes,
        Err(e) => return error_response(e),
    };
    match nodes.into_iter().find(|n| n.id == id) {
        Some(node) => redirect(&format!("{}/api/nodes/{id}/drain", node.url)),
        None => error_response(ApiError::new(
            ErrorCode::NotFound,
            format!("No live node is called \"{id}\"."),
        )),
    }
}
