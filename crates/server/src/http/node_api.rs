//! `GET /api/nodes`: the cluster's live nodes with their load, for operators (a token
//! with the `nodeAdmin` grant).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::http::auth::NodeAdmin;
use crate::http::error::error_response;
use crate::state::AppState;

/// The live nodes (just this one when it is alone), and which of them answered.
pub async fn list(State(state): State<Arc<AppState>>, _admin: NodeAdmin) -> Response {
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
