//! WHIP (RFC 9725) publishing and WHEP playing: one HTTP offer/answer per session, each
//! session a participant of the room addressed by an unguessable resource URL.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moim_media::{Command, Follow, MediaError, MediaPlane, ParticipantId, RoomId};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::token::Claims;

use crate::auth::{Needs, authorize};
use crate::http::error_response;
use crate::participant::{Link, Participant};
use crate::state::{AppState, media_error};

/// `POST /whip/{room}`: publish the offer's media into the room.
pub async fn publish(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
    offer: String,
) -> Response {
    let claims = match authorize(&state, &headers, &room, Needs::Publish) {
        Ok(c) => c,
        Err(e) => return error_response(e),
    };
    let identity = claims.sub.clone();
    open_session(
        &state,
        &room,
        "whip",
        claims,
        identity,
        false,
        |media, room, participant| async move {
            let publish = |reply| Command::Publish {
                room,
                participant,
                offer,
                sources: None,
                reply,
            };
            media.request(publish).await.map(|a| a.sdp)
        },
    )
    .await
}

/// `POST /whep/{room}`: play the room's stream (`room_stream.rs`).
pub async fn play_latest(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
    offer: String,
) -> Response {
    play(state, room, None, headers, offer).await
}

/// `POST /whep/{room}/{identity}`: play one participant.
pub async fn play_identity(
    State(state): State<Arc<AppState>>,
    Path((room, identity)): Path<(String, String)>,
    headers: HeaderMap,
    offer: String,
) -> Response {
    play(state, room, Some(identity), headers, offer).await
}

async fn play(
    state: Arc<AppState>,
    room: String,
    identity: Option<String>,
    headers: HeaderMap,
    offer: String,
) -> Response {
    let claims = match authorize(&state, &headers, &room, Needs::Subscribe) {
        Ok(c) => c,
        Err(e) => return error_response(e),
    };
    let follow = match &identity {
        None => Follow::Room,
        Some(identity) => {
            let target = state
                .rooms()
                .room(&room)
                .and_then(|r| r.find_identity(identity))
                .map(|p| p.id);
            match target {
                Some(p) => Follow::Participant(p),
                None => {
                    return error_response(ApiError::new(
                        ErrorCode::NotFound,
                        format!("Nobody with identity \"{identity}\" is in room \"{room}\"."),
                    ));
                }
            }
        }
    };
    // Players are hidden and never replace a participant, so their identity is made unique.
    let identity = format!("{}~{:08x}", claims.sub, rand::random::<u32>());
    open_session(
        &state,
        &room,
        "whep",
        claims,
        identity,
        true,
        |media, room, participant| async move {
            let play = |reply| Command::Play {
                room,
                participant,
                follow,
                offer,
                reply,
            };
            media.request(play).await.map(|a| a.sdp)
        },
    )
    .await
}

/// Adds a participant reached through a new resource URL under `/{kind}/{room}/`, runs
/// `negotiate` for it, and answers `201 Created` with the SDP answer, or removes the
/// participant again and answers the error.
async fn open_session<F, Fut>(
    state: &AppState,
    room: &str,
    kind: &str,
    claims: Claims,
    identity: String,
    hidden: bool,
    negotiate: F,
) -> Response
where
    F: FnOnce(MediaPlane, RoomId, ParticipantId) -> Fut,
    Fut: Future<Output = Result<String, MediaError>>,
{
    if let Err(e) = state.rooms().check_ban(room, &identity) {
        return error_response(e);
    }
    let resource = new_resource();
    let participant = Participant::new(
        identity,
        claims.display_name().to_owned(),
        claims.video,
        Link::Http {
            resource: resource.clone(),
        },
        hidden,
    );
    let id = participant.id;
    let joined = state.rooms().join(room, participant);
    if let Some(old) = joined.replaced {
        state.release_media(old.id);
    }
    match negotiate(state.media.clone(), joined.room, id).await {
        Ok(sdp) => {
            if let Some(r) = state.rooms().room(room) {
                r.announce_stream(&state.media);
            }
            created(&format!("/{kind}/{room}/{resource}"), sdp)
        }
        Err(e) => {
            state.remove_participant(id);
            error_response(media_error(e))
        }
    }
}

/// `DELETE /whip/{room}/{resource}` and `/whep/…`: end the session.
pub async fn stop(
    State(state): State<Arc<AppState>>,
    Path((room, resource)): Path<(String, String)>,
) -> Response {
    let found = state.rooms().find_resource(&room, &resource);
    match found {
        Some(id) => {
            state.remove_participant(id);
            StatusCode::OK.into_response()
        }
        None => error_response(ApiError::new(
            ErrorCode::NotFound,
            "No such session; it may have ended already.",
        )),
    }
}

/// `PATCH` on a session: trickled candidates are not needed by an ICE-lite server.
pub async fn trickle(
    State(state): State<Arc<AppState>>,
    Path((room, resource)): Path<(String, String)>,
) -> Response {
    if state.rooms().find_resource(&room, &resource).is_some() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error_response(ApiError::new(ErrorCode::NotFound, "No such session."))
    }
}

fn new_resource() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn created(location: &str, sdp: String) -> Response {
    let mut response = (StatusCode::CREATED, sdp).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, v);
    }
    response
}
