//! The watch page's viewers on a node where the room does not run. The page and its
//! WebRTC play are served here, from this node's mirror of the room and its one relay
//! (the room's stream is what the room broadcasts, `room/stream.rs`); HLS is sent to the
//! room's node (`307`), where its files are. What the page asks (`/watch/{room}/info`,
//! also the key check of a private broadcast) goes on to the room's node, at most once a
//! second per room and key however many viewers ask, and carries how many watch here
//! ([`WATCHERS_HEADER`]), so that the room's node counts every viewer in the cluster.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::token::GrantPreset;
use tokio::sync::Semaphore;
use tracing::debug;

use super::{Admission, RELAY_IDENTITY, relay_claims};
use crate::broadcast::path_segment;
use crate::cluster::node::NodeInfo;
use crate::http::auth::bearer;
use crate::http::error::error_response;
use crate::http::placement::redirect;
use crate::http::watch::{WatchInfo, viewer_claims};
use crate::http::whip;
use crate::outbound;
use crate::state::AppState;

/// The header in which a node tells the room's node how many watch the room there:
/// `{node id} {viewers}`, with a relay's token for the room.
pub const WATCHERS_HEADER: &str = "moim-watchers";
/// How long an answer of the room's node (or its silence) is passed on to the viewers
/// asking here.
const ANSWER_KEPT: Duration = Duration::from_secs(1);
/// Answers kept at most (viewers asking with many different keys are answered without
/// keeping theirs).
const MAX_ANSWERS: usize = 4096;
/// Questions this node has out to rooms' nodes at once; more wait.
const MAX_ASKING: usize = 16;
/// How long a node's count of its viewers holds (their pages ask every 5 s).
const COUNT_HOLDS: Duration = Duration::from_secs(12);
/// The most viewers a node may claim for one room.
const MAX_COUNT: usize = 10_000_000;

/// A room and the key its viewers asked with.
type Asked = (String, Option<String>);
/// What a room's node answered (or why it did not), and when.
type Answer = (Instant, Result<outbound::Reply, ApiError>);
/// Per node, how many watch there and when the node said so.
type Counts = HashMap<String, (usize, Instant)>;

/// The watch page's side of the relays: answers of rooms' nodes kept here, and the
/// viewer counts other nodes report for this node's rooms.
#[derive(Debug)]
pub struct Watch {
    answers: Mutex<HashMap<Asked, Answer>>,
    asking: Semaphore,
    counts: Mutex<HashMap<String, Counts>>,
}

impl Default for Watch {
    fn default() -> Watch {
        Watch {
            answers: Mutex::default(),
            asking: Semaphore::new(MAX_ASKING),
            counts: Mutex::default(),
        }
    }
}

impl Watch {
    /// Keeps the count of viewers of `room` on another node that `headers` report (with a
    /// relay's token for the room).
    pub fn take_report(&self, state: &AppState, room: &str, headers: &HeaderMap) {
        let Some(report) = headers.get(WATCHERS_HEADER) else {
            return;
        };
        let relay = bearer(headers)
            .ok()
            .and_then(|token| state.verify(token).ok())
            .is_some_and(|c| c.sub == RELAY_IDENTITY && c.video.room == room);
        let parsed = report.to_str().ok().and_then(|r| {
            let (node, count) = r.split_once(' ')?;
            Some((node.to_owned(), count.parse::<usize>().ok()?.min(MAX_COUNT)))
        });
        if let (true, Some((node, count))) = (relay, parsed) {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            let room = counts.entry(room.to_owned()).or_default();
            room.insert(node, (count, Instant::now()));
        }
    }

    /// The viewers of `room` other nodes reported lately.
    pub fn elsewhere(&self, room: &str) -> usize {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let Some(nodes) = counts.get_mut(room) else {
            return 0;
        };
        nodes.retain(|_, (_, at)| at.elapsed() < COUNT_HOLDS);
        let sum = nodes.values().map(|(count, _)| count).sum();
        if nodes.is_empty() {
            counts.remove(room);
        }
        sum
    }

    /// The room's node's answer to `GET /watch/{room}/info` for `key`, asked again once
    /// the one kept is older than [`ANSWER_KEPT`].
    async fn info(
        &self,
        state: &AppState,
        room: &str,
        node: &NodeInfo,
        key: Option<&str>,
    ) -> Result<outbound::Reply, ApiError> {
        let asked = (room.to_owned(), key.map(str::to_owned));
        let kept = || {
            let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            answers.retain(|_, (at, _)| at.elapsed() < ANSWER_KEPT);
            answers.get(&asked).map(|(_, reply)| reply.clone())
        };
        if let Some(reply) = kept() {
            return reply;
        }
        // Viewers asking at once mostly find the answer the first of them fetched.
        let _asking = self.asking.acquire().await;
        if let Some(reply) = kept() {
            return reply;
        }
        let query = key
            .map(|k| format!("?key={}", path_segment(k)))
            .unwrap_or_default();
        let token = relay_claims(state, room, GrantPreset::Viewer).sign(&state.config.api_secret);
        let headers = format!(
            "Authorization: Bearer {token}\r\n{WATCHERS_HEADER}: {} {}\r\n",
            state.cluster.me().id,
            super::players(state, room).unwrap_or(0)
        );
        let path = format!("/watch/{room}/info{query}");
        let reply = outbound::request(&node.url, "GET", &path, &headers, "")
            .await
            .map_err(|e| {
                debug!(room, node = %node.id, "the room's node did not answer: {e:#}");
                ApiError::new(
                    ErrorCode::ClusterUnavailable,
                    format!("The node running room \"{room}\" did not answer; try again."),
                )
            });
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        if answers.len() < MAX_ANSWERS {
            answers.insert(asked, (Instant::now(), reply.clone()));
        }
        reply
    }
}

/// `GET /watch/{room}/info` for a room running on `node`: its answer.
pub async fn info(state: &AppState, room: &str, node: &NodeInfo, key: Option<&str>) -> Response {
    match state.relays.watch.info(state, room, node, key).await {
        Ok(reply) => passed_on(reply),
        Err(e) => error_response(e),
    }
}

/// `POST /watch/{room}/whep` for a room running on `node`: once the room's node says the
/// broadcast may be watched with `key` over WebRTC, plays this node's mirror of the room.
pub async fn play(
    state: &Arc<AppState>,
    room: &str,
    node: NodeInfo,
    key: Option<&str>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let reply = match state.relays.watch.info(state, room, &node, key).await {
        Ok(reply) if reply.status == 200 => reply,
        Ok(reply) => return passed_on(reply),
        Err(e) => return error_response(e),
    };
    let Ok(info) = serde_json::from_str::<WatchInfo>(&reply.body) else {
        return error_response(ApiError::new(
            ErrorCode::Internal,
            format!("The node running room \"{room}\" answered what this node cannot read."),
        ));
    };
    if let Err(e) = info.webrtc_playable() {
        return error_response(e);
    }
    match state.relays.admit(state, room, node.clone()).await {
        Ok(Admission::Elsewhere) => {
            let query = key
                .map(|k| format!("?key={}", path_segment(k)))
                .unwrap_or_default();
            return redirect(&format!("{}/watch/{room}/whep{query}", node.url));
        }
        Ok(Admission::Mirrored | Admission::Here) => {}
        Err(e) => return error_response(e),
    }
    whip::play_stream(
        state.clone(),
        room.to_owned(),
        viewer_claims(state, room),
        body,
    )
    .await
}

/// The room's node's answer, as it gave it.
fn passed_on(reply: outbound::Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = (status, reply.body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_cannot_break_out_of_the_query() {
        assert_eq!(path_segment("1764-0a9f"), "1764-0a9f");
        assert_eq!(
            path_segment("x HTTP/1.1\r\nHost: evil"),
            "x%20HTTP%2F1.1%0D%0AHost%3A%20evil"
        );
    }
}
