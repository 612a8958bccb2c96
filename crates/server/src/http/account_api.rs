//! The signed-in user's own account: sign in, sign up, sign out (here or everywhere), the
//! profile, the password and the picture.
//!
//! These routes are for the server's own pages: they answer no CORS preflight, sign-in and
//! sign-up refuse another site's `Origin`, and every state-changing request of a session
//! carries its CSRF token (`account_auth.rs`). A sign-in always starts a new session, so a
//! session secret planted before it is worth nothing after.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::names;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::account::{SignUp, SignedIn};
use crate::config::Signup;
use crate::http::account_auth::{Session, cookie_secret};
use crate::http::api::same_origin;
use crate::http::error::{error_response, json_body};
use crate::state::{AppState, unix_now};
use crate::store::users::User;

/// The largest profile picture taken.
pub const MAX_AVATAR_BYTES: usize = 1024 * 1024;

/// The signed-in user, with the token its state-changing requests carry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    user: User,
    /// Send it back in the `Moim-CSRF` header of every request that changes something.
    csrf: String,
}

/// The body of a sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    email: String,
    password: String,
}

/// The body of a sign-up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    /// The email to sign in with (with an invitation: its email, which may be left out).
    #[serde(default)]
    email: Option<String>,
    /// The name shown to others.
    name: String,
    password: String,
    /// The code of an admin's invitation (its link's `invite`).
    #[serde(default)]
    invite: Option<String>,
}

/// The body of a profile change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChange {
    /// The name shown to others.
    name: String,
}

/// The body of a password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current: String,
    new: String,
}

/// How accounts are made here, for the sign-in page.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountOptions {
    signup: Signup,
    /// The identity provider's name, when people may sign in there
    /// (`/api/account/oidc/start`).
    #[serde(skip_serializing_if = "Option::is_none")]
    oidc: Option<String>,
}

/// The address a request came from, for the sign-in rate limit: the connection's, or,
/// when that is a proxy on this machine (nginx in front, `docs/deploy.md`), the last one
/// its `X-Forwarded-For` names (the one that proxy saw). Unspecified when the request was
/// served some other way than by the listener.
pub struct ClientAddress(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let forwarded = || {
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .last()?
                .trim()
                .parse()
                .ok()
        };
        Ok(ClientAddress(if peer.is_loopback() {
            forwarded().unwrap_or(peer)
        } else {
            peer
        }))
    }
}

/// `GET /api/account`: who is signed in.
#[utoipa::path(
    get,
    path = "/api/account",
    operation_id = "getAccount",
    tag = "account",
    responses(
        (status = 200, description = "The signed-in user and its CSRF token", body = AccountView),
        (status = 401, description = "Not signed in (`not_signed_in`)", body = ApiError),
    ),
)]
pub async fn get(State(state): State<Arc<AppState>>, session: Session) -> Response {
    view(&state, session.user, &session.secret).into_response()
}

/// `GET /api/account/options`: how accounts are made on this server.
#[utoipa::path(
    get,
    path = "/api/account/options",
    operation_id = "getAccountOptions",
    tag = "account",
    responses((status = 200, description = "Who may sign up", body = AccountOptions)),
)]
pub async fn options(State(state): State<Arc<AppState>>) -> Response {
    Json(AccountOptions {
        signup: state.accounts.signup(),
        oidc: state.accounts.oidc.as_ref().map(|o| o.name.clone()),
    })
    .into_response()
}

/// `POST /api/account/sign-in`: signs in with an email and password; the session is a
/// cookie.
#[utoipa::path(
    post,
    path = "/api/account/sign-in",
    operation_id = "signIn",
    tag = "account",
    request_body = SignInRequest,
    responses(
        (status = 200, description = "Signed in: the session cookie is set", body = AccountView),
        (status = 401, description = "The email or password is wrong (`wrong_credentials`)", body = ApiError),
        (status = 429, description = "Too many failed sign-ins (`rate_limited`)", body = ApiError),
    ),
)]
pub async fn sign_in(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Result<Json<SignInRequest>, JsonRejection>,
) -> Response {
    let result = async {
        own_page(&headers)?;
        let request = json_body(body, "{email, password}")?;
        state
            .accounts
            .sign_in(&request.email, &request.password, address)
            .await
    };
    signed_in(&state, &headers, result.await, StatusCode::OK).await
}

/// `POST /api/account/sign-up`: makes an account, as the server's `signup` allows, and
/// signs it in.
#[utoipa::path(
    post,
    path = "/api/account/sign-up",
    operation_id = "signUp",
    tag = "account",
    request_body = SignUpRequest,
    responses(
        (status = 201, description = "Made and signed in: the session cookie is set", body = AccountView),
        (status = "4XX", description = "Refused: sign-up off or by invitation, an unknown invitation, a taken email (`conflict`), a short password", body = ApiError),
    ),
)]
pub async fn sign_up(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<SignUpRequest>, JsonRejection>,
) -> Response {
    let result = async {
        own_page(&headers)?;
        let request = json_body(body, "{email, name, password, invite}")?;
        state
            .accounts
            .sign_up(SignUp {
                email: request.email,
                name: request.name,
                password: request.password,
                invite: request.invite,
            })
            .await
    };
    signed_in(&state, &headers, result.await, StatusCode::CREATED).await
}

/// `POST /api/account/sign-out`: ends this session.
#[utoipa::path(
    post,
    path = "/api/account/sign-out",
    operation_id = "signOut",
    tag = "account",
    responses((status = 204, description = "Signed out: the cookie is cleared")),
)]
pub async fn sign_out(State(state): State<Arc<AppState>>, session: Session) -> Response {
    match state.accounts.sign_out(&session.secret).await {
        Ok(()) => forget_cookie(&state),
        Err(e) => error_response(e),
    }
}

/// `POST /api/account/sign-out-everywhere`: ends every session of the user, this one too.
#[utoipa::path(
    post,
    path = "/api/account/sign-out-everywhere",
    operation_id = "signOutEverywhere",
    tag = "account",
    responses((status = 204, description = "Every session ended: the cookie is cleared")),
)]
pub async fn sign_out_everywhere(State(state): State<Arc<AppState>>, session: Session) -> Response {
    match state.accounts.sign_out_others(&session.user, None).await {
        Ok(_) => forget_cookie(&state),
        Err(e) => error_response(e),
    }
}

/// `PATCH /api/account`: changes the profile.
#[utoipa::path(
    patch,
    path = "/api/account",
    operation_id = "updateAccount",
    tag = "account",
    request_body = ProfileChange,
    responses(
        (status = 200, description = "The profile as changed", body = AccountView),
        (status = "4XX", description = "Refused: not signed in, no CSRF token, a bad name", body = ApiError),
    ),
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    session: Session,
    body: Result<Json<ProfileChange>, JsonRejection>,
) -> Response {
    let result = async {
        let change = json_body(body, "{name}")?;
        let name = change.name.trim();
        names::check_name(name)?;
        state
            .accounts
            .store()
            .set_name(&session.user.id, name)
            .await
            .map_err(crate::store::internal)?;
        Ok::<_, ApiError>(User {
            name: name.to_owned(),
            ..session.user
        })
    };
    match result.await {
        Ok(user) => view(&state, user, &session.secret).into_response(),
        Err(e) => error_response(e),
    }
}

/// `POST /api/account/password`: changes the password; every session of the user ends,
/// and this browser gets a new one.
#[utoipa::path(
    post,
    path = "/api/account/password",
    operation_id = "changePassword",
    tag = "account",
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed: a new session cookie is set", body = AccountView),
        (status = "4XX", description = "Refused: the current password is wrong (`wrong_credentials`), the new one too short", body = ApiError),
    ),
)]
pub async fn change_password(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    session: Session,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Response {
    let result = async {
        let change = json_body(body, "{current, new}")?;
        state
            .accounts
            .change_password(&session.user, &change.current, change.new)
            .await
    };
    signed_in(&state, &headers, result.await, StatusCode::OK).await
}

/// `PUT /api/account/avatar`: sets the profile picture (PNG, JPEG or WebP, at most 1 MiB).
#[utoipa::path(
    put,
    path = "/api/account/avatar",
    operation_id = "setAvatar",
    tag = "account",
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses(
        (status = 204, description = "Set"),
        (status = 413, description = "Over 1 MiB (`message_too_large`)", body = ApiError),
        (status = 415, description = "Not PNG, JPEG or WebP (`unsupported_type`)", body = ApiError),
    ),
)]
pub async fn set_avatar(
    State(state): State<Arc<AppState>>,
    session: Session,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let bytes = body.map_err(|_| {
            ApiError::new(
                ErrorCode::MessageTooLarge,
                format!("A picture is at most {} KiB.", MAX_AVATAR_BYTES / 1024),
            )
        })?;
        let Some(content_type) = picture_type(&bytes) else {
            return Err(ApiError::new(
                ErrorCode::UnsupportedType,
                "A profile picture is a PNG, JPEG or WebP image.",
            ));
        };
        let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
        state
            .accounts
            .store()
            .set_avatar(&session.user.id, content_type, &bytes, now)
            .await
            .map_err(crate::store::internal)
    };
    match result.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(e),
    }
}

/// `GET /api/users/{id}/avatar`: a user's profile picture.
#[utoipa::path(
    get,
    path = "/api/users/{id}/avatar",
    operation_id = "getAvatar",
    tag = "account",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The picture", content_type = "image/png"),
        (status = 404, description = "No picture", body = ApiError),
    ),
)]
pub async fn avatar(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.accounts.store().avatar(&id).await {
        Ok(Some((content_type, bytes))) => {
            let mut response = bytes.into_response();
            let h = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&content_type) {
                h.insert(header::CONTENT_TYPE, value);
            }
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=60"),
            );
            response
        }
        Ok(None) => error_response(ApiError::new(
            ErrorCode::NotFound,
            "This user has no picture.",
        )),
        Err(e) => error_response(crate::store::internal(e)),
    }
}

/// The type of a picture, from its first bytes (whatever the request's header says).
fn picture_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Refuses a sign-in or sign-up sent by another site's page.
fn own_page(headers: &HeaderMap) -> Result<(), ApiError> {
    if same_origin(headers) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::CsrfFailed,
            "Sign in on this server's own page.",
        ))
    }
}

fn view(
    state: &AppState,
    user: User,
    secret: &crate::account::session::Secret,
) -> Json<AccountView> {
    Json(AccountView {
        user,
        csrf: state.accounts.csrf(secret),
    })
}

/// Answers a sign-in (or sign-up, or password change) with the new session's cookie;
/// a session the browser held before ends.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    result: Result<SignedIn, ApiError>,
    status: StatusCode,
) -> Response {
    let signed = match result {
        Ok(signed) => signed,
        Err(e) => return error_response(e),
    };
    if let Some(old) = cookie_secret(headers).filter(|old| *old != signed.secret) {
        let _ = state.accounts.sign_out(&old).await;
    }
    let mut response = (status, view(state, signed.user, &signed.secret)).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&state.accounts.cookie(Some(&signed.secret))) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

fn forget_cookie(state: &AppState) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(cookie) = HeaderValue::from_str(&state.accounts.cookie(None)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_known_by_their_first_bytes() {
        assert_eq!(picture_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(picture_type(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(picture_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(picture_type(b"<svg xmlns="), None);
        assert_eq!(picture_type(b"GIF89a"), None);
    }
}
