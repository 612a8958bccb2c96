//! The server's users, for its admins: list them, add one, invite one, and change one
//! (disable, enable, make admin, reset the password). A signed-in admin's browser calls
//! these; `moim user` does the same on the command line.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moim_proto::error::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::account::INVITE_DAYS;
use crate::http::account_auth::AdminSession;
use crate::http::error::{error_response, json_body};
use crate::http::page::PageQuery;
use crate::state::AppState;
use crate::store::internal;
use crate::store::users::User;

/// A page of users, by email.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    users: Vec<User>,
    /// The email to ask `after` for the next page; `null` on the last.
    next: Option<String>,
}

/// The body of adding a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    email: String,
    name: String,
    /// Without one, the user signs in through the identity provider only (or gets one
    /// from an admin later).
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    admin: bool,
}

/// The body of an invitation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// The email the account will have.
    email: String,
    /// The account will be an admin's.
    #[serde(default)]
    admin: bool,
}

/// An invitation made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    /// The code; the sign-up link carries it.
    code: String,
    /// The sign-up page's path with the code, to send to the person invited.
    link: String,
    /// Days the invitation stays usable.
    days: u64,
}

/// The body of a change to a user; what is left out stays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// Disables the user (its sessions end) or enables it again.
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    admin: Option<bool>,
    /// A new password; the user's sessions end.
    #[serde(default)]
    password: Option<String>,
}

/// `GET /api/users`: the users, by email.
#[utoipa::path(
    get,
    path = "/api/users",
    operation_id = "listUsers",
    tag = "users",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = "4XX", description = "Refused: not an admin's session", body = ApiError),
    ),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    _admin: AdminSession,
    Query(query): Query<PageQuery>,
) -> Response {
    let result = async {
        let limit = query.limit()?;
        let after = query.after.as_deref().unwrap_or_default();
        let mut users = state
            .accounts
            .store()
            .users(after, limit + 1)
            .await
            .map_err(internal)?;
        let next = (users.len() > limit).then(|| users[limit - 1].email.clone());
        users.truncate(limit);
        Ok::<_, ApiError>(UserPage { users, next })
    };
    match result.await {
        Ok(page) => Json(page).into_response(),
        Err(e) => error_response(e),
    }
}

/// `POST /api/users`: adds a user.
#[utoipa::path(
    post,
    path = "/api/users",
    operation_id = "addUser",
    tag = "users",
    request_body = NewUserRequest,
    responses(
        (status = 201, description = "Added", body = User),
        (status = "4XX", description = "Refused: not an admin, a taken email (`conflict`), a short password", body = ApiError),
    ),
)]
pub async fn add(
    State(state): State<Arc<AppState>>,
    _admin: AdminSession,
    body: Result<Json<NewUserRequest>, JsonRejection>,
) -> Response {
    let result = async {
        let request = json_body(body, "{email, name, password, admin}")?;
        state
            .accounts
            .add_user(
                &request.email,
                &request.name,
                request.password,
                request.admin,
            )
            .await
    };
    match result.await {
        Ok(user) => (StatusCode::CREATED, Json(user)).into_response(),
        Err(e) => error_response(e),
    }
}

/// `POST /api/users/invites`: invites someone to make an account.
#[utoipa::path(
    post,
    path = "/api/users/invites",
    operation_id = "inviteUser",
    tag = "users",
    request_body = InviteRequest,
    responses(
        (status = 201, description = "The invitation: send its link", body = Invitation),
        (status = "4XX", description = "Refused: not an admin, not an email", body = ApiError),
    ),
)]
pub async fn invite(
    State(state): State<Arc<AppState>>,
    AdminSession(admin): AdminSession,
    body: Result<Json<InviteRequest>, JsonRejection>,
) -> Response {
    let result = async {
        let request = json_body(body, "{email, admin}")?;
        state
            .accounts
            .invite(&admin.user, &request.email, request.admin)
            .await
    };
    match result.await {
        Ok(code) => (
            StatusCode::CREATED,
            Json(Invitation {
                link: format!("/account?invite={code}"),
                code,
                days: INVITE_DAYS,
            }),
        )
            .into_response(),
        Err(e) => error_response(e),
    }
}

/// `PATCH /api/users/{id}`: disables, enables, makes admin or resets the password of a
/// user.
#[utoipa::path(
    patch,
    path = "/api/users/{id}",
    operation_id = "updateUser",
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    request_body = UserChange,
    responses(
        (status = 200, description = "The user as changed", body = User),
        (status = "4XX", description = "Refused: not an admin, no such user, an admin changing its own role or disabling itself", body = ApiError),
    ),
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    AdminSession(admin): AdminSession,
    Path(id): Path<String>,
    body: Result<Json<UserChange>, JsonRejection>,
) -> Response {
    let result = async {
        let change = json_body(body, "{disabled, admin, password}")?;
        let accounts = &state.accounts;
        accounts.existing(&id).await?;
        let own = id == admin.user.id;
        if own && (change.disabled == Some(true) || change.admin == Some(false)) {
            return Err(ApiError::new(
                moim_proto::ErrorCode::Conflict,
                "An admin does not disable itself or drop its own role; another admin can.",
            ));
        }
        if let Some(disabled) = change.disabled {
            accounts.set_disabled(&id, disabled).await?;
        }
        if let Some(admin) = change.admin {
            accounts.set_admin(&id, admin).await?;
        }
        if let Some(password) = change.password {
            accounts.set_password(&id, password).await?;
        }
        accounts.existing(&id).await
    };
    match result.await {
        Ok(user) => Json(user).into_response(),
        Err(e) => error_response(e),
    }
}
