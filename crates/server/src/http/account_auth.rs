//! The signed-in browser, said once at the edge: a handler that takes [`Session`] runs
//! only for a request whose `moim_session` cookie names a live session (and, unless it
//! only reads, whose `Moim-CSRF` header carries that session's token); one that takes
//! [`AdminSession`] only when the user is also an admin; [`MaybeSession`] runs for anyone.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;

use crate::account::session::{self, CSRF_HEADER, Secret};
use crate::http::error::error_response;
use crate::state::AppState;
use crate::store::users::User;

/// A request of a signed-in user.
#[derive(Debug)]
pub struct Session {
    pub user: User,
    pub secret: Secret,
}

/// A request of a signed-in admin.
#[derive(Debug)]
pub struct AdminSession(pub Session);

impl FromRequestParts<Arc<AppState>> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        signed_in(parts, state).await.map_err(error_response)
    }
}

impl FromRequestParts<Arc<AppState>> for AdminSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let session = signed_in(parts, state).await.map_err(error_response)?;
        if !session.user.admin {
            return Err(error_response(ApiError::new(
                ErrorCode::PermissionDenied,
                "Only an admin of this server manages its users.",
            )));
        }
        Ok(AdminSession(session))
    }
}

/// A request of a signed-in user, or of someone not signed in (a guest): never refused. A
/// state-changing request counts as signed in only with its CSRF token.
#[derive(Debug)]
pub struct MaybeSession(pub Option<Session>);

impl FromRequestParts<Arc<AppState>> for MaybeSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        match signed_in(parts, state).await {
            Ok(session) => Ok(MaybeSession(Some(session))),
            Err(e) if e.code == ErrorCode::Internal => Err(error_response(e)),
            Err(_) => Ok(MaybeSession(None)),
        }
    }
}

/// The session secret a request's cookie carries, if any.
pub fn cookie_secret(headers: &HeaderMap) -> Option<Secret> {
    session::from_cookies(
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

async fn signed_in(parts: &Parts, state: &AppState) -> Result<Session, ApiError> {
    let Some(secret) = cookie_secret(&parts.headers) else {
        return Err(ApiError::new(ErrorCode::NotSignedIn, "Sign in first."));
    };
    let Some(user) = state.accounts.session(&secret).await? else {
        return Err(ApiError::new(
            ErrorCode::NotSignedIn,
            "Your session has ended; sign in again.",
        ));
    };
    let reads_only = matches!(parts.method, Method::GET | Method::HEAD);
    if !reads_only {
        let token = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !state.accounts.csrf_matches(&secret, token) {
            return Err(ApiError::new(
                ErrorCode::CsrfFailed,
                "This request lacks the session's Moim-CSRF header; it is refused in case \
                 another site sent it.",
            ));
        }
    }
    Ok(Session { user, secret })
}
