//! An edge passes a participant's signaling through to the room's node: a WebSocket of
//! its own to that node's `/rtc`, showing a node's token and naming itself, so the room's
//! node places the participant's media here. Frames go through unchanged both ways; the
//! edge pings the client and drops one that goes silent, as the room's node would.
//!
//! When the edge cannot link itself with the room's node, the client is sent there
//! (`moved`) as before spanning.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use moim_proto::signal::{ReconnectReason, ServerMessage, ServerReply};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as UpMessage};
use tracing::{debug, info, warn};

use super::link::{self, NODE_HEADER};
use crate::cluster::node::NodeInfo;
use crate::outbound;
use crate::signal::{IDLE_TIMEOUT, MAX_FRAME_BYTES, PING_INTERVAL, READ_BUFFER_BYTES, send_within};
use crate::state::AppState;

type Upstream = tokio_tungstenite::WebSocketStream<Box<dyn outbound::Stream>>;

/// Carries a client's signaling, which began with `first` (its `join` or `resume`, with
/// request id `id`), to `room`'s node `node` until either side ends it.
pub async fn run(
    state: Arc<AppState>,
    mut socket: WebSocket,
    node: NodeInfo,
    room: String,
    first: String,
    id: Option<serde_json::Value>,
) {
    let mut upstream = match open(&state, &node, &room).await {
        Ok(upstream) => upstream,
        Err(e) => {
            warn!(room, node = %node.id, "cannot pass signaling to the room's node, so the client is sent there: {e:#}");
            let moved = ServerReply {
                id,
                message: ServerMessage::Moved {
                    room,
                    url: node.signal_url(),
                },
            };
            send_within(&mut socket, Message::Text(moved.to_json().into())).await;
            send_within(&mut socket, Message::Close(None)).await;
            return;
        }
    };
    if upstream.send(UpMessage::text(first)).await.is_err() {
        send_within(&mut socket, Message::Close(None)).await;
        return;
    }
    info!(room, node = %node.id, "signaling passed to the room's node, media here");
    let mut draining = state.spans.draining();
    let mut ping = tokio::time::interval(PING_INTERVAL);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            frame = socket.recv() => {
                let Some(Ok(frame)) = frame else {
                    // The client vanished: the room's node keeps it for a resume.
                    break;
                };
                last_heard = Instant::now();
                match frame {
                    Message::Text(text) => {
                        if upstream.send(UpMessage::text(text.as_str())).await.is_err() {
                            break;
                        }
                    }
                    Message::Close(_) => {
                        let _ = upstream.send(UpMessage::Close(None)).await;
                        send_within(&mut socket, Message::Close(None)).await;
                        break;
                    }
                    Message::Binary(_) | Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            frame = upstream.next() => {
                match frame {
                    Some(Ok(UpMessage::Text(text))) => {
                        let text = ours(&state, text.as_str())
                            .unwrap_or_else(|| text.as_str().to_owned());
                        if !send_within(&mut socket, Message::Text(text.into())).await {
                            // The client does not take its messages: as the room's node
                            // would, let it go.
                            let _ = upstream.close(None).await;
                            break;
                        }
                    }
                    // Answered by the next write; there may be none for a while.
                    Some(Ok(UpMessage::Ping(_))) => {
                        let _ = upstream.flush().await;
                    }
                    Some(Ok(UpMessage::Close(_))) => {
                        send_within(&mut socket, Message::Close(None)).await;
                        break;
                    }
                    Some(Ok(_)) => {}
                    // The room's node is gone: the client's socket drops without a
                    // Close, as if that node's own had, and the client joins again.
                    None => break,
                    Some(Err(e)) => {
                        debug!("the room's node's signaling connection failed: {e}");
                        break;
                    }
                }
            }
            Ok(()) = draining.changed() => {
                if *draining.borrow() {
                    // This node goes away: the client joins again elsewhere, as a client
                    // of this node's own rooms does; the room's node lets it go at once.
                    let moving = ServerReply::event(ServerMessage::Reconnect {
                        reason: ReconnectReason::Draining,
                    });
                    send_within(&mut socket, Message::Text(moving.to_json().into())).await;
                    send_within(&mut socket, Message::Close(None)).await;
                    let _ = upstream.send(UpMessage::Close(None)).await;
                    break;
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > IDLE_TIMEOUT
                    || !send_within(&mut socket, Message::Ping(Vec::new().into())).await
                {
                    break;
                }
            }
        }
    }
}

/// Links this node with `room`'s node (unless it is already) and opens a signaling
/// connection to it for one participant.
async fn open(state: &Arc<AppState>, node: &NodeInfo, room: &str) -> anyhow::Result<Upstream> {
    if state.spans.edge(room).is_none() {
        link::dial(state, room, node).await?;
    }
    let outbound::Reached {
        stream,
        tls,
        authority,
    } = outbound::connect(&node.url).await?;
    let url = format!("{}://{authority}/rtc", if tls { "wss" } else { "ws" });
    let mut request = url.into_client_request()?;
    let token = super::node_token(state, room);
    let headers = request.headers_mut();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}"))?,
    );
    headers.insert(NODE_HEADER, HeaderValue::from_str(&state.cluster.me().id)?);
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .read_buffer_size(READ_BUFFER_BYTES);
    let (upstream, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e: tungstenite::Error| anyhow::anyhow!(e))
        .context("the room's node refused the signaling connection")?;
    Ok(upstream)
}

/// `joined` with this node's TURN servers in place of the room's node's: the client's
/// media comes here, and a TURN server relays only to its own node. `None` for any other
/// message.
fn ours(state: &AppState, text: &str) -> Option<String> {
    if !text.contains("\"joined\"") {
        return None;
    }
    let mut message: serde_json::Value = serde_json::from_str(text).ok()?;
    if message["type"] != "joined" || message.get("ice_servers").is_none() {
        return None;
    }
    let identity = message["participant"]["identity"].as_str()?;
    let servers = serde_json::to_value(state.ice.for_identity(identity)).ok()?;
    message["ice_servers"] = servers;
    Some(message.to_string())
}
