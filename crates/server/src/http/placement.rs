//! HTTP requests for a room that runs on another node of the cluster are sent there with
//! `307 Temporary Redirect`, which keeps the method and the body (RFC 9725 §4.5: WHIP and
//! WHEP clients follow it). WHIP, WHEP and the room API carry a token: only a valid token
//! for the room can place it; any other request goes on to its handler, which refuses it.
//! The watch page's requests and HLS carry none: they follow a room that runs somewhere
//! already, and never place one.
//!
//! A player of a room's stream (`POST /whep/{room}`) is the exception: it stays on the
//! node it reached, which mirrors the room and relays its stream from the room's node
//! once however many players it has (`cluster/relay`). So are the watch page's questions
//! and its WebRTC play (`/watch/{room}/info`, `/watch/{room}/whep`): their handlers find
//! the room's node in an [`Elsewhere`] and play this node's mirror.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::cluster::Placement;
use crate::cluster::node::NodeInfo;
use crate::cluster::relay::Admission;
use crate::cluster::relay::watch::WATCHERS_HEADER;
use crate::http::auth::bearer;
use crate::http::error::error_response;
use crate::state::AppState;

/// The node a room runs on, for a watch page's request that this node answers for it.
#[derive(Debug, Clone)]
pub struct Elsewhere(pub NodeInfo);

/// Sends a request for a room hosted elsewhere to the room's node.
pub async fn to_the_rooms_node(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let (room, tokened) = match room_of(request.uri().path()) {
        Some(found) if state.cluster.clustered() && request.method() != Method::OPTIONS => found,
        _ => return next.run(request).await,
    };
    if !tokened {
        // Another node asking for its viewers is answered here, whatever this node thinks.
        let from_a_node = request.headers().contains_key(WATCHERS_HEADER)
            && request.method() == Method::GET
            && request.uri().path().trim_end_matches('/') == format!("/watch/{room}/info");
        if state.rooms().contains(room) || from_a_node {
            return next.run(request).await;
        }
        return match state.cluster.locate(room).await {
            Some(node) if answers_watch(&request, room) && !state.relays.unrelayable(room) => {
                request.extensions_mut().insert(Elsewhere(node));
                next.run(request).await
            }
            Some(node) => redirect(&format!("{}{}", node.url, path_and_query(&request))),
            None => next.run(request).await,
        };
    }
    let whep = request.uri().path().starts_with("/whep/");
    let mirrored = || state.rooms().room(room).is_some_and(|r| r.is_mirror());
    if whep && request.method() != Method::POST && mirrored() {
        // A session of a player of this node's mirror ends (or trickles) here.
        return next.run(request).await;
    }
    let token_for_room = bearer(request.headers())
        .ok()
        .and_then(|token| state.verify(token).ok())
        .is_some_and(|claims| claims.video.room == room);
    if !token_for_room {
        return next.run(request).await;
    }
    let plays_stream = whep
        && request.method() == Method::POST
        && request.uri().path().trim_end_matches('/') == format!("/whep/{room}");
    let node = match state.place(room).await {
        Ok(Placement::Here) => return next.run(request).await,
        Ok(Placement::At(node)) => node,
        Err(e) => return error_response(e),
    };
    if !plays_stream {
        return redirect(&format!("{}{}", node.url, path_and_query(&request)));
    }
    // A player of the room's stream is served by this node's mirror of the room.
    match state.relays.admit(&state, room, node.clone()).await {
        Ok(Admission::Elsewhere) => redirect(&format!("{}{}", node.url, path_and_query(&request))),
        Ok(Admission::Mirrored | Admission::Here) => next.run(request).await,
        Err(e) => error_response(e),
    }
}

/// Whether `request` is one of the watch page's that a node answers for a room of
/// another: its info, and its WebRTC play.
fn answers_watch(request: &Request, room: &str) -> bool {
    let path = request.uri().path().trim_end_matches('/');
    (request.method() == Method::GET && path == format!("/watch/{room}/info"))
        || (request.method() == Method::POST && path == format!("/watch/{room}/whep"))
}

fn path_and_query(request: &Request) -> &str {
    request
        .uri()
        .path_and_query()
        .map_or(request.uri().path(), |p| p.as_str())
}

/// `307 Temporary Redirect` to `location`: the client sends the same request there.
pub fn redirect(location: &str) -> Response {
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The room a path is about, and whether its requests carry a token for it:
/// `/whip/{room}…`, `/whep/{room}…`, `/api/rooms/{room}…` do; `/watch/{room}/…` and
/// `/hls/{room}/…` do not.
fn room_of(path: &str) -> Option<(&str, bool)> {
    let (rest, tokened) = [
        ("/whip/", true),
        ("/whep/", true),
        ("/api/rooms/", true),
        ("/watch/", false),
        ("/hls/", false),
    ]
    .iter()
    .find_map(|(prefix, tokened)| Some((path.strip_prefix(prefix)?, *tokened)))?;
    let room = rest.split('/').next()?;
    (!room.is_empty()).then_some((room, tokened))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_is_read_from_the_paths_that_name_one() {
        assert_eq!(room_of("/whip/standup"), Some(("standup", true)));
        assert_eq!(room_of("/whep/standup/ada"), Some(("standup", true)));
        assert_eq!(
            room_of("/api/rooms/standup/recordings"),
            Some(("standup", true))
        );
        assert_eq!(room_of("/api/info"), None);
        assert_eq!(room_of("/api/rooms/"), None);
        assert_eq!(room_of("/hls/standup/index.m3u8"), Some(("standup", false)));
        assert_eq!(room_of("/watch/standup/info"), Some(("standup", false)));
    }
}
