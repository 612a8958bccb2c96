//! Rooms users own, through the app: "My rooms" (with who is in each now), making,
//! changing and forgetting one, and the door of a room's link: what it asks of someone
//! coming in, and the token the server mints for them (a host's for the owner and its
//! co-hosts, a guest's for others).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::token::{Claims, GrantPreset, Grants};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::account::rooms::{Room, RoomDefaults};
use crate::cluster::Placement;
use crate::http::account_api::ClientAddress;
use crate::http::account_auth::{MaybeSession, Session};
use crate::http::error::{error_response, json_body};
use crate::http::placement::redirect;
use crate::state::{AppState, unix_now};
use crate::store::users::User;

/// Lifetime of the tokens minted for joins through a room's link.
pub const JOIN_TOKEN_TTL_SECS: u64 = 6 * 3600;

/// An owned room as "My rooms" shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnedRoomView {
    name: String,
    /// The room's link (a path on this server).
    link: String,
    /// Whether the user asking owns it (else it co-hosts it).
    owner: bool,
    settings: RoomDefaults,
    /// The co-hosts' emails.
    hosts: Vec<String>,
    /// People in it now (on this node).
    participants: usize,
    /// Who they are: the names of the first 20.
    people: Vec<String>,
    /// When it was made (Unix seconds).
    created_at: i64,
}

/// "My rooms".
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnedRoomList {
    rooms: Vec<OwnedRoomView>,
}

/// The body of making a room.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoomRequest {
    /// Letters, digits, `-`, `_` and `.`, at most 64; without one, a name is made.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    settings: Option<RoomDefaults>,
    /// Co-hosts, by email: they join as hosts too.
    #[serde(default)]
    hosts: Vec<String>,
}

/// The body of a change; what is left out stays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomChange {
    #[serde(default)]
    settings: Option<RoomDefaults>,
    #[serde(default)]
    hosts: Option<Vec<String>>,
}

/// What a room's link asks of someone coming in.
#[derive(Debug, Serialize, ToSchema)]
pub struct Door {
    room: String,
    /// The one asking joins as a host (it owns or co-hosts the room).
    host: bool,
    /// The signed-in user's name, if signed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// People without an account may come in.
    guests: bool,
    /// A code is asked of everyone but the hosts.
    access_code: bool,
    /// Newcomers wait for a host.
    waiting_room: bool,
}

/// The body of a join through a room's link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The name shown to others (a signed-in user's own name when left out).
    #[serde(default)]
    name: String,
    #[serde(default)]
    access_code: Option<String>,
}

/// The token minted for a join.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinGrant {
    token: String,
    identity: String,
    host: bool,
}

/// `GET /api/account/rooms`: the rooms the user owns or co-hosts.
#[utoipa::path(
    get,
    path = "/api/account/rooms",
    operation_id = "listOwnedRooms",
    tag = "account",
    responses(
        (status = 200, description = "The user's rooms, by name", body = OwnedRoomList),
        (status = 401, description = "Not signed in", body = ApiError),
    ),
)]
pub async fn list(State(state): State<Arc<AppState>>, session: Session) -> Response {
    let result = async {
        let mut rooms = Vec::new();
        for room in state.accounts.rooms_of(&session.user).await? {
            // The list leaves co-hosts out; each room's own answer has them.
            let room = state.accounts.room(&room.kept.name).await?.unwrap_or(room);
            rooms.push(view(&state, &session.user, room).await?);
        }
        Ok::<_, ApiError>(OwnedRoomList { rooms })
    };
    respond(result.await, StatusCode::OK)
}

/// `POST /api/account/rooms`: makes a room the user owns.
#[utoipa::path(
    post,
    path = "/api/account/rooms",
    operation_id = "createOwnedRoom",
    tag = "account",
    request_body = NewRoomRequest,
    responses(
        (status = 201, description = "Made", body = OwnedRoomView),
        (status = "4XX", description = "Refused: a taken name (`conflict`), a co-host without an account, no CSRF token", body = ApiError),
    ),
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    session: Session,
    body: Result<Json<NewRoomRequest>, JsonRejection>,
) -> Response {
    let result = async {
        let request = json_body(body, "{name?, settings?, hosts?}")?;
        let room = state
            .accounts
            .create_room(
                &session.user,
                request.name.as_deref(),
                request.settings.unwrap_or_default(),
                &request.hosts,
                |name| state.rooms().contains(name) || has_recordings(&state, name),
            )
            .await?;
        view(&state, &session.user, room).await
    };
    respond(result.await, StatusCode::CREATED)
}

/// `PATCH /api/account/rooms/{room}`: changes a room's settings or co-hosts (its owner).
#[utoipa::path(
    patch,
    path = "/api/account/rooms/{room}",
    operation_id = "updateOwnedRoom",
    tag = "account",
    params(("room" = String, Path, description = "The room's name")),
    request_body = RoomChange,
    responses(
        (status = 200, description = "The room as changed", body = OwnedRoomView),
        (status = "4XX", description = "Refused: not the owner, no such room", body = ApiError),
    ),
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(room): Path<String>,
    body: Result<Json<RoomChange>, JsonRejection>,
) -> Response {
    let result = async {
        let change = json_body(body, "{settings?, hosts?}")?;
        let room = state
            .accounts
            .change_room(
                &session.user,
                &room,
                change.settings,
                change.hosts.as_deref(),
            )
            .await?;
        view(&state, &session.user, room).await
    };
    respond(result.await, StatusCode::OK)
}

/// `DELETE /api/account/rooms/{room}`: forgets a room (its owner); a meeting in it goes on.
#[utoipa::path(
    delete,
    path = "/api/account/rooms/{room}",
    operation_id = "deleteOwnedRoom",
    tag = "account",
    params(("room" = String, Path, description = "The room's name")),
    responses(
        (status = 204, description = "Forgotten"),
        (status = "4XX", description = "Refused: not the owner, no such room, recordings still in its library (`conflict`)", body = ApiError),
    ),
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(room): Path<String>,
) -> Response {
    let recorded = has_recordings(&state, &room);
    match state
        .accounts
        .delete_room(&session.user, &room, recorded)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e),
    }
}

/// `GET /api/join/{room}`: what the room's link asks of the one opening it.
#[utoipa::path(
    get,
    path = "/api/join/{room}",
    operation_id = "getRoomDoor",
    tag = "account",
    params(("room" = String, Path, description = "The room's name")),
    responses(
        (status = 200, description = "What joining asks", body = Door),
        (status = 404, description = "No such owned room", body = ApiError),
    ),
)]
pub async fn door(
    State(state): State<Arc<AppState>>,
    MaybeSession(session): MaybeSession,
    Path(name): Path<String>,
) -> Response {
    let result = async {
        let room = owned(&state, &name).await?;
        let user = session.map(|s| s.user);
        let host = user
            .as_ref()
            .is_some_and(|u| u.id == room.kept.owner_id || room.kept.hosts.contains(&u.id));
        Ok::<_, ApiError>(Door {
            room: name,
            host,
            name: user.map(|u| u.name),
            guests: room.defaults.guests,
            access_code: room.defaults.access_code.is_some() && !host,
            waiting_room: room.defaults.waiting_room,
        })
    };
    respond(result.await, StatusCode::OK)
}

/// `POST /api/join/{room}`: a token to join the room: a host's for its owner and
/// co-hosts (signed in), a guest's for others.
#[utoipa::path(
    post,
    path = "/api/join/{room}",
    operation_id = "joinRoom",
    tag = "account",
    params(("room" = String, Path, description = "The room's name")),
    request_body = JoinRequest,
    responses(
        (status = 200, description = "The token to join with", body = JoinGrant),
        (status = 307, description = "The room runs on another node of the cluster: ask there"),
        (status = "4XX", description = "Refused: no such room, a wrong access code, only people with an account (`not_signed_in`)", body = ApiError),
    ),
)]
pub async fn join(
    State(state): State<Arc<AppState>>,
    MaybeSession(session): MaybeSession,
    ClientAddress(address): ClientAddress,
    Path(name): Path<String>,
    body: Result<Json<JoinRequest>, JsonRejection>,
) -> Response {
    let request = match json_body(body, "{name, access_code?}") {
        Ok(request) => request,
        Err(e) => return error_response(e),
    };
    let room = match owned(&state, &name).await {
        Ok(room) => room,
        Err(e) => return error_response(e),
    };
    let user = session.map(|s| s.user);
    let entry = match state
        .accounts
        .enter(
            &room,
            user.as_ref(),
            &request.name,
            request.access_code.as_deref(),
            address,
        )
        .await
    {
        Ok(entry) => entry,
        Err(e) => return error_response(e),
    };
    // The meeting starts with the room's settings, on the node the cluster places it on.
    if !state.rooms().contains(&name) {
        match state.cluster.place(&name).await {
            Ok(Placement::Here) => {}
            Ok(Placement::At(node)) => return redirect(&format!("{}/api/join/{name}", node.url)),
            Err(e) => return error_response(e),
        }
        state.rooms().create(&name, room.defaults.change());
    }
    let preset = if entry.host {
        GrantPreset::Host
    } else {
        GrantPreset::Guest
    };
    let now = unix_now();
    let claims = Claims {
        iss: state.config.api_key.clone(),
        sub: entry.identity.clone(),
        name: Some(entry.name),
        nbf: now.saturating_sub(10),
        exp: now + JOIN_TOKEN_TTL_SECS,
        video: Grants {
            room_record: entry.record,
            ..Grants::preset(&name, preset)
        },
    };
    Json(JoinGrant {
        token: claims.sign(&state.config.api_secret),
        identity: entry.identity,
        host: entry.host,
    })
    .into_response()
}

/// Whether room `name` has a recordings folder with anything in it.
fn has_recordings(state: &AppState, name: &str) -> bool {
    crate::recording::is_folder_name(name)
        && std::fs::read_dir(state.config.recordings_dir.join(name))
            .is_ok_and(|mut entries| entries.next().is_some())
}

async fn owned(state: &AppState, name: &str) -> Result<Room, ApiError> {
    state.accounts.room(name).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("No room \"{name}\" is kept on this server; ask its owner for the link."),
        )
    })
}

async fn view(state: &AppState, user: &User, room: Room) -> Result<OwnedRoomView, ApiError> {
    let mut hosts = Vec::with_capacity(room.kept.hosts.len());
    for id in &room.kept.hosts {
        if let Some(host) = state
            .accounts
            .store()
            .user(id)
            .await
            .map_err(crate::store::internal)?
        {
            hosts.push(host.email);
        }
    }
    let (participants, people) = {
        let rooms = state.rooms();
        rooms.room(&room.kept.name).map_or((0, Vec::new()), |r| {
            let visible = || r.roster().iter().filter(|p| !p.hidden);
            let names = visible().take(20).map(|p| p.name.clone()).collect();
            (visible().count(), names)
        })
    };
    Ok(OwnedRoomView {
        link: format!("/r/{}", room.kept.name),
        owner: room.kept.owner_id == user.id,
        name: room.kept.name,
        settings: room.defaults,
        hosts,
        participants,
        people,
        created_at: room.kept.created_at,
    })
}

fn respond<T: Serialize>(result: Result<T, ApiError>, status: StatusCode) -> Response {
    match result {
        Ok(body) => (status, Json(body)).into_response(),
        Err(e) => error_response(e),
    }
}
