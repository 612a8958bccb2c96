//! Bearer tokens on HTTP requests (WHIP, WHEP, the room API, the node API), said once at
//! the edge: a handler that takes [`Authorized<G>`] runs only for a valid token, for the
//! room in the path, that carries grant `G`, and one that takes [`Server<G>`] only for a
//! valid token with the server-wide grant `G` (`nodeAdmin`, `roomCreate`, `roomList`);
//! every other request is answered with the error.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::token::{Claims, ServerGrant};

use crate::http::error::error_response;
use crate::state::{AppState, unix_now};

/// A grant a route needs; the marker types below name them.
pub trait Grant {
    /// What the grant allows, for the error when it is missing.
    const WHAT: &'static str;
    /// Whether `claims` carry it.
    fn granted(claims: &Claims) -> bool;
}

/// Publishing media (WHIP).
pub struct Publish;
/// Receiving media (WHEP).
pub struct Subscribe;
/// Managing the room: the host's admin grant.
pub struct Admin;
/// Starting, stopping, listing and downloading recordings (record or admin grant).
pub struct Record;

impl Grant for Publish {
    const WHAT: &'static str = "publishing";
    fn granted(claims: &Claims) -> bool {
        claims.video.can_publish
    }
}

impl Grant for Subscribe {
    const WHAT: &'static str = "subscribing";
    fn granted(claims: &Claims) -> bool {
        claims.video.can_subscribe
    }
}

impl Grant for Admin {
    const WHAT: &'static str = "managing the room (admin grant)";
    fn granted(claims: &Claims) -> bool {
        claims.video.room_admin
    }
}

impl Grant for Record {
    const WHAT: &'static str = "recordings (record or admin grant)";
    fn granted(claims: &Claims) -> bool {
        claims.video.room_record || claims.video.room_admin
    }
}

/// The claims of a request's bearer token, checked: valid, for the `{room}` of the path,
/// carrying grant `G`.
pub struct Authorized<G> {
    pub claims: Claims,
    grant: PhantomData<G>,
}

impl<G: Grant> FromRequestParts<Arc<AppState>> for Authorized<G> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let room = params
            .iter()
            .find_map(|(name, value)| (name == "room").then_some(value))
            .unwrap_or_default();
        authorize::<G>(state, &parts.headers, room)
            .map(|claims| Authorized {
                claims,
                grant: PhantomData,
            })
            .map_err(error_response)
    }
}

/// A server-wide grant a route needs (no room in the token); the marker types below name
/// them.
pub trait ServerWide {
    const GRANT: ServerGrant;
}

/// Seeing and managing the cluster's nodes (`nodeAdmin`).
pub struct NodeAdmin;
/// Creating rooms (`roomCreate`).
pub struct RoomCreate;
/// Listing rooms (`roomList`).
pub struct RoomList;

impl ServerWide for NodeAdmin {
    const GRANT: ServerGrant = ServerGrant::NodeAdmin;
}

impl ServerWide for RoomCreate {
    const GRANT: ServerGrant = ServerGrant::RoomCreate;
}

impl ServerWide for RoomList {
    const GRANT: ServerGrant = ServerGrant::RoomList;
}

/// A request whose bearer token is valid and carries the server-wide grant `G`.
pub struct Server<G>(PhantomData<G>);

impl<G: ServerWide> FromRequestParts<Arc<AppState>> for Server<G> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        bearer(&parts.headers)
            .and_then(|token| state.keys.verify_server_wide(token, unix_now(), G::GRANT))
            .map(|_| Server(PhantomData))
            .map_err(error_response)
    }
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidToken,
                "Send the access token as \"Authorization: Bearer <token>\".",
            )
        })
}

/// Checks the bearer token in `headers`: valid, for `room`, carrying grant `G`.
fn authorize<G: Grant>(
    state: &AppState,
    headers: &HeaderMap,
    room: &str,
) -> Result<Claims, ApiError> {
    let claims = state.verify(bearer(headers)?)?;
    if claims.video.room != room {
        return Err(ApiError::new(
            ErrorCode::WrongRoom,
            format!(
                "The access token is for room \"{}\", not \"{room}\".",
                claims.video.room
            ),
        ));
    }
    if !G::granted(&claims) {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            format!("The access token does not allow {}.", G::WHAT),
        ));
    }
    Ok(claims)
}
