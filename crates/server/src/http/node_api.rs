//! The node API for operators (a token with the `nodeAdmin` grant): `GET /api/nodes`, the
//! cluster's live nodes with their load, and draining one.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::cluster::node::NodeInfo;
use crate::http::auth::{NodeAdmin, Server};
use crate::http::error::error_response;
use crate::http::placement::redirect;
use crate::state::AppState;

/// The cluster as one node sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeList {
    /// The id of the node that answered.
    node: String,
    /// Whether it shares rooms with others through Redis.
    clustered: bool,
    /// The live nodes (just this one when it is alone).
    nodes: Vec<NodeInfo>,
}

/// A node told to drain.
#[derive(Debug, Serialize, ToSchema)]
pub struct Draining {
    node: String,
    draining: bool,
}

/// `GET /api/nodes`: the live nodes (just this one when it is alone) and their load.
#[utoipa::path(
    get,
    path = "/api/nodes",
    operation_id = "listNodes",
    tag = "nodes",
    responses(
        (status = 200, description = "The live nodes", body = NodeList),
        (status = "4XX", description = "Refused", body = ApiError),
        (status = 503, description = "`cluster_unavailable`: Redis cannot be reached", body = ApiError),
    ),
    security(("token" = ["nodeAdmin"])),
)]
pub async fn list(State(state): State<Arc<AppState>>, _admin: Server<NodeAdmin>) -> Response {
    match state.cluster.nodes().await {
        Ok(nodes) => Json(NodeList {
            node: state.cluster.me().id,
            clustered: state.cluster.clustered(),
            nodes,
        })
        .into_response(),
        Err(e) => error_response(e),
    }
}

/// `POST /api/nodes/{id}/drain`: the node stops taking rooms, moves its participants to
/// other nodes and stops (`202`). Another node's drain is sent there (`307`).
#[utoipa::path(
    post,
    path = "/api/nodes/{id}/drain",
    operation_id = "drainNode",
    tag = "nodes",
    params(("id" = String, Path, description = "The node's id")),
    responses(
        (status = 202, description = "The node drains and stops", body = Draining),
        (status = 307, description = "Another node: ask it"),
        (status = "4XX", description = "Refused, or no live node of that id", body = ApiError),
    ),
    security(("token" = ["nodeAdmin"])),
)]
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
            Json(Draining {
                node: me.id,
                draining: true,
            }),
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
