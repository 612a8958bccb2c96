//! One link between an edge and a room's node: the edge asks `GET /cluster/link/{room}`
//! with a node's token and its salt, the room's node answers `101 Switching Protocols`
//! with its own salt, and the connection then carries the sealed link
//! (`moim_media::nodes::transport`): the media planes' node link for the room, and the
//! control planes' messages (`remote.rs`).
//!
//! The link ends when the connection does, and with it what it carried: on the room's
//! node, the participants whose media was on the edge leave the room; on the edge, their
//! media sessions close. An edge's link also ends [`LINGER`] after its last participant.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use moim_media::nodes::transport::{self, ControlChannel, End, LinkKeys, SALT_BYTES};
use moim_media::{Command, RoomId};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::remote::Remote;
use crate::cluster::node::NodeInfo;
use crate::http::error::error_response;
use crate::outbound;
use crate::state::AppState;

/// The header naming the node that asks (its id).
pub const NODE_HEADER: &str = "moim-node";
/// The header carrying each side's salt, in hex.
const SALT_HEADER: &str = "moim-link-salt";
/// How long an edge keeps a link without participants (one who reloads comes back to it).
pub const LINGER: Duration = Duration::from_secs(10);
/// Control messages waiting to cross a link at most, each way.
const CONTROL_CAPACITY: usize = 1024;
/// The longest answer head the room's node may send before the link starts.
const MAX_HEAD: usize = 8 * 1024;

/// Which end of a link this node is.
#[derive(Debug, Clone)]
enum Side {
    /// The room's node, linked with edge `node`.
    Room { room: String, node: String },
    /// An edge of `room`.
    Edge { room: String },
}

/// `GET /cluster/link/{room}`: the room's node takes a link from an edge.
pub async fn accept(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    mut request: Request,
) -> Response {
    let headers = request.headers().clone();
    let node = match super::node_asking(&state, &headers, &room) {
        Ok(node) => node,
        Err(e) => return error_response(e),
    };
    let Some(dialer_salt) = salt_of(&headers) else {
        return error_response(ApiError::new(
            ErrorCode::MalformedMessage,
            format!("A node link needs a {SALT_HEADER} header of {SALT_BYTES} bytes in hex."),
        ));
    };
    let Some(media_room) = state.rooms().linked(&room) else {
        return error_response(ApiError::new(
            ErrorCode::NotFound,
            format!("Room {room} does not run on this node."),
        ));
    };
    let salt = transport::salt();
    let keys = LinkKeys::derive(
        state.config.api_secret.as_bytes(),
        &dialer_salt,
        &salt,
        &room,
        End::Listener,
    );
    let upgrade = hyper::upgrade::on(&mut request);
    // Known before the answer leaves: the edge passes its first join on at once.
    let (remote, outgoing) = control(media_room, false);
    state.spans.linked(&room, &node, remote.clone());
    let side = Side::Room {
        room: room.clone(),
        node: node.clone(),
    };
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                info!(room, node, "a node linked itself with this room");
                let stream = Box::new(TokioIo::new(upgraded));
                run(state, side, stream, keys, remote, outgoing).await;
            }
            Err(e) => {
                warn!(room, node, "a node link's upgrade failed: {e}");
                state.spans.unlinked(&room, &node, &remote);
            }
        }
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("moim-link"));
    if let Ok(value) = HeaderValue::from_str(&to_hex(&salt)) {
        h.insert(SALT_HEADER, value);
    }
    response
}

/// An edge links itself with `room`'s node (`node`) and keeps the link while it carries
/// participants; the link's control side.
pub async fn dial(state: &Arc<AppState>, room: &str, node: &NodeInfo) -> anyhow::Result<Remote> {
    let path = format!("/cluster/link/{room}");
    if !outbound::plain_path(&path) {
        bail!("{path:?} is not a path to ask another node for");
    }
    let outbound::Reached {
        mut stream,
        authority,
        ..
    } = outbound::connect(&node.url).await?;
    let salt = transport::salt();
    let token = super::node_token(state, room);
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: Upgrade\r\nUpgrade: moim-link\r\n\
         Authorization: Bearer {token}\r\n{NODE_HEADER}: {}\r\n{SALT_HEADER}: {}\r\n\r\n",
        state.cluster.me().id,
        to_hex(&salt)
    );
    let answer = async {
        stream.write_all(head.as_bytes()).await?;
        stream.flush().await?;
        read_head(&mut stream).await
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), answer)
        .await
        .context("the room's node did not answer the link within 5 s")??;
    let (status_line, headers) = answer.split_once("\r\n").unwrap_or((&answer, ""));
    if status_line.split(' ').nth(1) != Some("101") {
        bail!("the room's node refused the link: {status_line}");
    }
    let their_salt = outbound::header(headers, SALT_HEADER)
        .and_then(from_hex)
        .context("the room's node answered without its salt")?;
    let keys = LinkKeys::derive(
        state.config.api_secret.as_bytes(),
        &salt,
        &their_salt,
        room,
        End::Dialer,
    );
    let (remote, outgoing) = control(RoomId::next(), true);
    let side = Side::Edge {
        room: room.to_owned(),
    };
    state.spans.add_edge(room, remote.clone());
    tokio::spawn(run(
        state.clone(),
        side,
        stream,
        keys,
        remote.clone(),
        outgoing,
    ));
    Ok(remote)
}

/// Reads an HTTP answer's head, byte by byte so that nothing of the link after it is
/// taken.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> anyhow::Result<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            bail!("the room's node's answer has no end of headers");
        }
        head.push(stream.read_u8().await?);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// The control side of a new link for this node's media room `media_room`, and the
/// queue of what it sends.
fn control(media_room: RoomId, edge: bool) -> (Remote, mpsc::Receiver<Vec<u8>>) {
    let (to_peer, outgoing) = mpsc::channel(CONTROL_CAPACITY);
    (Remote::new(to_peer, media_room, edge), outgoing)
}

async fn run(
    state: Arc<AppState>,
    side: Side,
    stream: Box<dyn outbound::Stream>,
    keys: LinkKeys,
    remote: Remote,
    outgoing: mpsc::Receiver<Vec<u8>>,
) {
    let media_room = remote.room();
    let Some(link) = state.media.nodes().open(media_room).await else {
        return;
    };
    let (incoming, mut from_peer) = mpsc::channel(CONTROL_CAPACITY);
    let control = ControlChannel { outgoing, incoming };
    let carried = transport::carry(stream, link, control, keys);
    let events = state.spans.events();
    let receiving = async {
        while let Some(bytes) = from_peer.recv().await {
            if !remote.receive(&bytes, &state, &events) {
                warn!("the other node sent a control message this node cannot read");
                return;
            }
        }
    };
    let lingering = async {
        let Side::Edge { .. } = &side else {
            return std::future::pending().await;
        };
        let mut unused_since = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if state.spans.controlled_by(&remote) > 0 {
                unused_since = Instant::now();
            } else if unused_since.elapsed() >= LINGER {
                return;
            }
        }
    };
    tokio::select! {
        result = carried => {
            if let Err(e) = result {
                info!(?side, "a node link ended: {e}");
            }
        }
        () = receiving => {}
        () = lingering => info!(?side, "a node link is no longer needed"),
    }
    match &side {
        Side::Room { room, node } => {
            for participant in state.spans.unlinked(room, node, &remote) {
                info!(%participant, room, node, "the participant's node is gone; it leaves");
                state.remove_participant(participant);
            }
        }
        Side::Edge { room } => {
            for participant in state.spans.remove_edge(room, &remote) {
                let _ = state
                    .media
                    .plane()
                    .send(Command::RemoveParticipant { participant });
            }
        }
    }
}

fn salt_of(headers: &HeaderMap) -> Option<[u8; SALT_BYTES]> {
    headers
        .get(SALT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(from_hex)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<[u8; SALT_BYTES]> {
    let text = text.trim();
    if text.len() != 2 * SALT_BYTES || !text.is_ascii() {
        return None;
    }
    let mut out = [0; SALT_BYTES];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_salt_goes_through_its_header_and_nonsense_does_not() {
        let salt = transport::salt();
        assert_eq!(from_hex(&to_hex(&salt)), Some(salt));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex(&"zz".repeat(SALT_BYTES)), None);
        assert_eq!(from_hex(&"é".repeat(SALT_BYTES)), None);
    }
}
