//! Sign-in through the organisation's identity provider, the browser's two legs: off to
//! the provider (`/api/account/oidc/start`), and back with its code
//! (`/api/account/oidc/callback`), which signs the person in with a session cookie.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use serde::Deserialize;

use crate::account::oidc::{COOKIE, Oidc, encode};
use crate::http::account_auth::cookie_secret;
use crate::http::error::error_response;
use crate::state::AppState;

/// The query of the first leg.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// A path on this server to go to once signed in (default `/account`).
    #[serde(default)]
    next: Option<String>,
}

/// The query the provider sends the browser back with.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    /// The provider's refusal, if it refused.
    #[serde(default)]
    error: Option<String>,
}

/// `GET /api/account/oidc/start`: off to the identity provider.
#[utoipa::path(
    get,
    path = "/api/account/oidc/start",
    operation_id = "startOidcSignIn",
    tag = "account",
    params(StartQuery),
    responses(
        (status = 302, description = "To the identity provider's sign-in"),
        (status = 404, description = "No identity provider is configured", body = ApiError),
    ),
)]
pub async fn start(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<StartQuery>,
) -> Response {
    let Some(oidc) = provider(&state) else {
        return error_response(none_configured());
    };
    let next = crate::account::safe_next(query.next.as_deref());
    match oidc.begin(&redirect_uri(&state, &headers), &next).await {
        Ok((location, flight)) => {
            let cookie = flight_cookie(&state, &flight, 600);
            redirect(&location, &[cookie])
        }
        Err(e) => error_response(e),
    }
}

/// `GET /api/account/oidc/callback`: back from the identity provider; signs in.
#[utoipa::path(
    get,
    path = "/api/account/oidc/callback",
    operation_id = "finishOidcSignIn",
    tag = "account",
    params(CallbackQuery),
    responses(
        (status = 302, description = "Signed in (the session cookie is set) and on to where the sign-in started; or, refused, to the account page with the reason"),
    ),
)]
pub async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let forget = flight_cookie(&state, "", 0);
    let Some(oidc) = provider(&state) else {
        return error_response(none_configured());
    };
    let result = async {
        if let Some(error) = query.error {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                format!("The identity provider did not sign you in ({error})."),
            ));
        }
        let (Some(code), Some(flight_state)) = (query.code, query.state) else {
            return Err(ApiError::new(
                ErrorCode::MalformedMessage,
                "The identity provider sent no code.",
            ));
        };
        let flight = cookie(&headers, COOKIE);
        let (identity, next) = oidc
            .finish(
                &redirect_uri(&state, &headers),
                &code,
                &flight_state,
                flight.as_deref(),
            )
            .await?;
        let signed = state.accounts.sign_in_oidc(identity).await?;
        Ok((signed, next))
    };
    match result.await {
        Ok((signed, next)) => {
            // As every sign-in: a session the browser held before ends.
            if let Some(old) = cookie_secret(&headers) {
                let _ = state.accounts.sign_out(&old).await;
            }
            let session = state.accounts.cookie(Some(&signed.secret));
            redirect(&next, &[session, forget])
        }
        Err(e) => {
            let location = format!("/account?error={}", encode(&e.message));
            redirect(&location, &[forget])
        }
    }
}

fn provider(state: &AppState) -> Option<&Oidc> {
    state.accounts.oidc.as_ref()
}

fn none_configured() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "No identity provider is configured on this server (oidc_issuer).",
    )
}

/// Where the provider sends the browser back: under `public_url`, or the address the
/// browser reached.
fn redirect_uri(state: &AppState, headers: &HeaderMap) -> String {
    let base = match &state.config.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let scheme = if state.config.tls_cert.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{host}")
        }
    };
    format!("{base}/api/account/oidc/callback")
}

/// The cookie of a sign-in in flight (empty with `max_age` 0: forget it).
fn flight_cookie(state: &AppState, value: &str, max_age: u64) -> String {
    let secure = state.accounts.cookie(None).contains("; Secure");
    format!(
        "{COOKIE}={value}; Path=/api/account/oidc; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

fn redirect(location: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let h = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, value);
    }
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            h.append(header::SET_COOKIE, value);
        }
    }
    response
}
