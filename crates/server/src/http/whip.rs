//! WHIP (RFC 9725) publishing and WHEP playing: one HTTP offer/answer per session, each
//! session a participant of the room addressed by an unguessable resource URL.
//!
//! Both come in through the room's gate like everyone else (bans, the lock, the waiting
//! room, an audio room's right to speak), and a request is checked whole (its token, the
//! gate, its offer) before it replaces the live session of the same identity.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moim_media::{Command, Follow, MediaError, MediaPlane, ParticipantId, RoomId};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::token::{Claims, Grants};

use crate::cluster::relay::RELAY_IDENTITY;
use crate::http::auth::{Authorized, Publish, Subscribe};
use crate::http::error::error_response;
use crate::room::Rooms;
use crate::room::lobby::Gate;
use crate::room::participant::{Link, Participant};
use crate::state::{AppState, media_error};

/// The largest offer accepted, in bytes (a browser's offer is a few kilobytes).
pub const MAX_OFFER_BYTES: usize = 64 * 1024;

/// `POST /whip/{room}`: publish the offer's media into the room.
#[utoipa::path(
    post,
    path = "/whip/{room}",
    operation_id = "whipPublish",
    tag = "whip",
    params(("room" = String, Path, description = "The room's name")),
    request_body(content = String, content_type = "application/sdp", description = "The SDP offer (at most 64 KiB)"),
    responses(
        (status = 201, description = "Publishing: the SDP answer; `Location` is the session, one `Link` header per TURN server",
            body = String, content_type = "application/sdp",
            headers(("Location" = String, description = "The session resource"))),
        (status = "4XX", description = "Refused: a bad token or offer, the room's gate", body = ApiError),
        (status = 503, description = "`server_busy`", body = ApiError),
    ),
    security(("token" = ["canPublish"])),
)]
pub async fn publish(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    Authorized { claims, .. }: Authorized<Publish>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let offer = match sdp_text(body) {
        Ok(offer) => offer,
        Err(e) => return error_response(e),
    };
    let identity = claims.sub.clone();
    open_session(
        &state,
        &room,
        "whip",
        claims,
        identity,
        Role::Publisher,
        offer,
        publish_offer,
    )
    .await
}

/// Negotiates a publisher's offer with the media plane; its answer.
pub async fn publish_offer(
    media: MediaPlane,
    room: RoomId,
    participant: ParticipantId,
    offer: String,
) -> Result<String, MediaError> {
    let publish = |reply| Command::Publish {
        room,
        participant,
        offer,
        sources: None,
        reply,
    };
    media.request(publish).await.map(|a| a.sdp)
}

/// `POST /whep/{room}`: play the room's stream (`room/stream.rs`).
#[utoipa::path(
    post,
    path = "/whep/{room}",
    operation_id = "whepPlay",
    tag = "whep",
    params(("room" = String, Path, description = "The room's name")),
    request_body(content = String, content_type = "application/sdp", description = "The SDP offer (at most 64 KiB)"),
    responses(
        (status = 201, description = "Playing the room's stream: the SDP answer; `Location` is the session, one `Link` header per TURN server",
            body = String, content_type = "application/sdp",
            headers(("Location" = String, description = "The session resource"))),
        (status = "4XX", description = "Refused: a bad token or offer, the room's gate", body = ApiError),
        (status = 503, description = "`server_busy`", body = ApiError),
    ),
    security(("token" = ["canSubscribe"])),
)]
pub async fn play_latest(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    Authorized { claims, .. }: Authorized<Subscribe>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    play(state, room, None, claims, body).await
}

/// `POST /whep/{room}/{identity}`: play one participant.
#[utoipa::path(
    post,
    path = "/whep/{room}/{target}",
    operation_id = "whepPlayParticipant",
    tag = "whep",
    params(("room" = String, Path, description = "The room's name"), ("target" = String, Path, description = "The identity of the participant to play")),
    request_body(content = String, content_type = "application/sdp", description = "The SDP offer (at most 64 KiB)"),
    responses(
        (status = 201, description = "Playing the participant: the SDP answer; `Location` is the session, one `Link` header per TURN server",
            body = String, content_type = "application/sdp",
            headers(("Location" = String, description = "The session resource"))),
        (status = "4XX", description = "Refused: a bad token or offer, the room's gate", body = ApiError),
        (status = 503, description = "`server_busy`", body = ApiError),
    ),
    security(("token" = ["canSubscribe"])),
)]
pub async fn play_identity(
    State(state): State<Arc<AppState>>,
    Path((room, identity)): Path<(String, String)>,
    Authorized { claims, .. }: Authorized<Subscribe>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    play(state, room, Some(identity), claims, body).await
}

/// WHEP play of participant `identity` for a holder of `claims` checked elsewhere (the
/// watch page's viewers).
pub async fn play_participant(
    state: Arc<AppState>,
    room: String,
    identity: String,
    claims: Claims,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    play(state, room, Some(identity), claims, body).await
}

/// WHEP play of the room's stream for a holder of `claims` checked elsewhere (the watch
/// page's viewers on a node that mirrors the room).
pub async fn play_stream(
    state: Arc<AppState>,
    room: String,
    claims: Claims,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    play(state, room, None, claims, body).await
}

async fn play(
    state: Arc<AppState>,
    room: String,
    identity: Option<String>,
    claims: Claims,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let offer = match sdp_text(body) {
        Ok(offer) => offer,
        Err(e) => return error_response(e),
    };
    let follow = match &identity {
        None => Follow::Room,
        Some(identity) => {
            let target = state
                .rooms()
                .room(&room)
                .and_then(|r| r.roster().find_identity(identity))
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
    // Another node's relay takes the stream unpaced over the link between the nodes.
    let paced = claims.sub != RELAY_IDENTITY;
    // Players are hidden and never replace a participant, so their identity is made unique
    // (the gate still judges the token's identity).
    let identity = format!("{}~{:08x}", claims.sub, rand::random::<u32>());
    open_session(
        &state,
        &room,
        "whep",
        claims,
        identity,
        Role::Player,
        offer,
        |media, room, participant, offer| async move {
            let play = |reply| Command::Play {
                room,
                participant,
                follow,
                offer,
                paced,
                reply,
            };
            media.request(play).await.map(|a| a.sdp)
        },
    )
    .await
}

/// What an HTTP session does in its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// WHIP: sends media, as the token's identity.
    Publisher,
    /// WHEP: receives, hidden from the room.
    Player,
}

/// [`open`] for an HTTP client: `201 Created` with the SDP answer and the resource's
/// `Location`, or the error.
#[allow(clippy::too_many_arguments)]
async fn open_session<F, Fut>(
    state: &AppState,
    room: &str,
    kind: &str,
    claims: Claims,
    identity: String,
    role: Role,
    offer: String,
    negotiate: F,
) -> Response
where
    F: FnOnce(MediaPlane, RoomId, ParticipantId, String) -> Fut,
    Fut: Future<Output = Result<String, MediaError>>,
{
    let ice_servers = state.ice.link_headers(&identity);
    match open(state, room, kind, claims, identity, role, offer, negotiate).await {
        Ok(opened) => created(&opened.location, opened.answer, &ice_servers),
        Err(e) => error_response(e),
    }
}

/// A session opened in a room by [`open`].
#[derive(Debug)]
pub struct Opened {
    /// The participant it added.
    pub participant: ParticipantId,
    /// Its resource's path, `/{kind}/{room}/{resource}` (a `DELETE` there ends it).
    pub location: String,
    /// The SDP answer.
    pub answer: String,
}

/// Lets the token's holder through the room's gate, checks the offer, adds a participant
/// reached through a new resource under `/{kind}/{room}/` and runs `negotiate` for it; on
/// failure the participant is removed again. WHIP, WHEP and RTMP ingest come in here.
#[allow(clippy::too_many_arguments)]
pub async fn open<F, Fut>(
    state: &AppState,
    room: &str,
    kind: &str,
    claims: Claims,
    identity: String,
    role: Role,
    offer: String,
    negotiate: F,
) -> Result<Opened, ApiError>
where
    F: FnOnce(MediaPlane, RoomId, ParticipantId, String) -> Fut,
    Fut: Future<Output = Result<String, MediaError>>,
{
    pass_gate(&state.rooms(), room, &claims.sub, &claims.video, role)?;
    // Nothing is replaced before the offer is known to be good (negotiating it builds a
    // peer connection, so not on the async threads).
    let (checked, offer) =
        tokio::task::spawn_blocking(move || (moim_media::sdp::check_offer(&offer), offer))
            .await
            .map_err(|_| ApiError::new(ErrorCode::Internal, "Checking the offer failed."))?;
    checked.map_err(media_error)?;
    let resource = new_resource();
    let (gate_identity, grants) = (claims.sub.clone(), claims.video.clone());
    let participant = Participant::new(
        identity,
        claims.display_name().to_owned(),
        claims.video,
        Link::Http {
            resource: resource.clone(),
        },
        role == Role::Player,
    );
    let id = participant.id;
    let joined = {
        // The gate again, in the same lock as the join: a lock or ban made while the offer
        // was checked holds.
        let mut rooms = state.rooms();
        pass_gate(&rooms, room, &gate_identity, &grants, role)?;
        rooms.join(room, participant)
    };
    if let Some(old) = joined.replaced {
        state.release_media(old.id);
        if let Some(r) = state.rooms().room_mut(room) {
            r.refresh_stream(&state.media);
        }
    }
    match negotiate(state.media.clone(), joined.room, id, offer).await {
        Ok(answer) => {
            if let Some(r) = state.rooms().room(room) {
                r.announce_stream(&state.media);
            }
            Ok(Opened {
                participant: id,
                location: format!("/{kind}/{room}/{resource}"),
                answer,
            })
        }
        Err(e) => {
            state.remove_participant(id);
            Err(media_error(e))
        }
    }
}

/// `DELETE /whip/{room}/{resource}`: end the session.
#[utoipa::path(
    delete,
    path = "/whip/{room}/{resource}",
    operation_id = "whipStop",
    tag = "whip",
    params(("room" = String, Path, description = "The room's name"), ("resource" = String, Path, description = "The session, as its `Location` names it")),
    responses(
        (status = 200, description = "Ended"),
        (status = 404, description = "No such session", body = ApiError),
    ),
)]
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

/// `DELETE /whep/{room}/{resource}`: end the session.
#[utoipa::path(
    delete,
    path = "/whep/{room}/{target}",
    operation_id = "whepStop",
    tag = "whep",
    params(("room" = String, Path, description = "The room's name"), ("target" = String, Path, description = "The session, as its `Location` names it")),
    responses(
        (status = 200, description = "Ended"),
        (status = 404, description = "No such session", body = ApiError),
    ),
)]
pub async fn stop_playing(state: State<Arc<AppState>>, path: Path<(String, String)>) -> Response {
    stop(state, path).await
}

/// `PATCH` on a session: trickled candidates are not needed by an ICE-lite server.
#[utoipa::path(
    patch,
    path = "/whip/{room}/{resource}",
    operation_id = "whipTrickle",
    tag = "whip",
    params(("room" = String, Path, description = "The room's name"), ("resource" = String, Path, description = "The session, as its `Location` names it")),
    responses(
        (status = 204, description = "Taken (an ICE-lite server learns candidates from connectivity checks)"),
        (status = 404, description = "No such session", body = ApiError),
    ),
)]
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

/// `PATCH` on a WHEP session, as on a WHIP one.
#[utoipa::path(
    patch,
    path = "/whep/{room}/{target}",
    operation_id = "whepTrickle",
    tag = "whep",
    params(("room" = String, Path, description = "The room's name"), ("target" = String, Path, description = "The session, as its `Location` names it")),
    responses(
        (status = 204, description = "Taken"),
        (status = 404, description = "No such session", body = ApiError),
    ),
)]
pub async fn trickle_playing(
    state: State<Arc<AppState>>,
    path: Path<(String, String)>,
) -> Response {
    trickle(state, path).await
}

/// The room's gate, as for a participant joining over signaling, except that an HTTP
/// client cannot wait in a waiting room; a publisher must also be allowed to speak.
fn pass_gate(
    rooms: &Rooms,
    room: &str,
    identity: &str,
    grants: &Grants,
    role: Role,
) -> Result<(), ApiError> {
    if role == Role::Publisher {
        rooms.check_room_for(room, identity)?;
    }
    if rooms.gate(room, identity, grants.room_admin)? == Gate::Waiting {
        return Err(ApiError::new(
            ErrorCode::WaitingRoom,
            "The meeting has a waiting room; a host has to let this identity in first.",
        ));
    }
    if role == Role::Publisher && !rooms.lets_publish(room, identity, grants) {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            "This is an audio room: only hosts and the speakers a host chose publish.",
        ));
    }
    Ok(())
}

/// The body of an offer as text: UTF-8, and at most [`MAX_OFFER_BYTES`].
fn sdp_text(body: Result<Bytes, BytesRejection>) -> Result<String, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::MessageTooLarge,
                format!("An offer is at most {MAX_OFFER_BYTES} bytes."),
            )
        } else {
            ApiError::new(
                ErrorCode::InvalidSdp,
                format!("The offer could not be read: {e}."),
            )
        }
    })?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::new(ErrorCode::InvalidSdp, "The offer is not UTF-8 text."))
}

fn new_resource() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// `201 Created` with the answer, its resource's `Location` and the TURN servers as
/// `Link: <url>; rel="ice-server"` headers (RFC 9725 §4.6).
fn created(location: &str, sdp: String, ice_servers: &[String]) -> Response {
    let mut response = (StatusCode::CREATED, sdp).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, v);
    }
    for link in ice_servers {
        if let Ok(v) = HeaderValue::from_str(link) {
            headers.append(header::LINK, v);
        }
    }
    response
}
