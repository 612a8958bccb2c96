//! The HTTP surface: the route table, CORS for browser clients of WHIP/WHEP and the API,
//! and the body limits; the handlers live in this folder, one file per family of routes.

pub mod account_api;
pub mod account_auth;
pub mod api;
pub mod assets;
pub mod auth;
pub mod broadcast_api;
pub mod error;
pub mod file_response;
pub mod hls;
pub mod library_api;
pub mod listener;
pub mod metrics;
pub mod network_metrics;
pub mod node_api;
pub mod oidc_api;
pub mod openapi;
pub mod owned_rooms_api;
pub mod page;
pub mod participant_api;
pub mod placement;
pub mod recording_api;
pub mod redirect;
pub mod room_api;
pub mod rooms_api;
pub mod users_api;
pub mod watch;
pub mod whip;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, options, patch, post, put};

use crate::signal;
use crate::state::AppState;

/// Every route of the server.
pub fn router(state: Arc<AppState>) -> Router {
    let offers = Router::new()
        .route("/whip/{room}", post(whip::publish).options(preflight))
        .route(
            "/whip/{room}/{resource}",
            options(preflight).delete(whip::stop).patch(whip::trickle),
        )
        .route("/whep/{room}", post(whip::play_latest).options(preflight))
        .route(
            "/whep/{room}/{target}",
            post(whip::play_identity)
                .options(preflight)
                .delete(whip::stop_playing)
                .patch(whip::trickle_playing),
        )
        .route("/watch/{room}/whep", post(watch::play).options(preflight))
        .layer(DefaultBodyLimit::max(whip::MAX_OFFER_BYTES));
    let cross_origin = Router::new()
        .merge(offers)
        .route("/api/info", get(api::info).options(preflight))
        .route(
            "/api/openapi.json",
            get(openapi::document).options(preflight),
        )
        .route("/api/nodes", get(node_api::list).options(preflight))
        .route(
            "/api/nodes/{id}/drain",
            post(node_api::drain).options(preflight),
        )
        .route(
            "/api/rooms/{room}/data",
            post(room_api::send_data).options(preflight),
        )
        .route(
            "/api/rooms/{room}/transcript",
            get(room_api::transcript).options(preflight),
        )
        .route(
            "/api/rooms",
            get(rooms_api::list)
                .post(rooms_api::create)
                .options(preflight),
        )
        .route(
            "/api/rooms/{room}",
            get(rooms_api::get)
                .patch(rooms_api::update)
                .delete(rooms_api::end)
                .options(preflight),
        )
        .route(
            "/api/rooms/{room}/tracks",
            get(rooms_api::tracks).options(preflight),
        )
        .route(
            "/api/rooms/{room}/participants",
            get(participant_api::list).options(preflight),
        )
        .route(
            "/api/rooms/{room}/participants/{identity}",
            get(participant_api::get)
                .patch(participant_api::update)
                .delete(participant_api::remove)
                .options(preflight),
        )
        .route(
            "/api/rooms/{room}/participants/{identity}/mute",
            post(participant_api::mute).options(preflight),
        )
        .route(
            "/api/rooms/{room}/participants/{identity}/speaker",
            post(participant_api::set_speaker).options(preflight),
        )
        .route(
            "/api/rooms/{room}/participants/{identity}/admit",
            post(participant_api::admit).options(preflight),
        )
        .route(
            "/api/rooms/{room}/participants/{identity}/reject",
            post(participant_api::reject).options(preflight),
        )
        .route(
            "/api/rooms/{room}/recordings",
            post(recording_api::start)
                .get(recording_api::list)
                .options(preflight),
        )
        .route(
            "/api/rooms/{room}/recordings/{id}",
            get(recording_api::manifest)
                .delete(recording_api::stop)
                .options(preflight),
        )
        .route(
            "/api/rooms/{room}/recordings/{id}/{file}",
            get(recording_api::download).options(preflight),
        )
        .route(
            "/api/rooms/{room}/broadcasts",
            post(broadcast_api::start)
                .get(broadcast_api::list)
                .options(preflight),
        )
        .route(
            "/api/rooms/{room}/broadcasts/{id}",
            delete(broadcast_api::stop).options(preflight),
        )
        .route("/hls/{room}/{*path}", get(hls::serve).options(preflight))
        .route("/watch/{room}/info", get(watch::info).options(preflight))
        .route(
            "/api/rooms/{room}/waiting",
            get(room_api::waiting).options(preflight),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            placement::to_the_rooms_node,
        ))
        .layer(middleware::from_fn(allow_any_origin));
    Router::new()
        .route("/", get(assets::app))
        .route("/r/{room}", get(assets::app))
        .route("/account", get(assets::app))
        .route("/watch/{room}", get(assets::watch))
        .route("/app/{*path}", get(assets::app_file))
        .route("/sdk/{*path}", get(assets::sdk_file))
        .route("/examples/{*path}", get(assets::example_file))
        .route("/rtc", get(signal::upgrade))
        .route(
            "/cluster/link/{room}",
            get(crate::cluster::span::link::accept),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/dev/token", post(api::dev_token))
        // Accounts: the server's own pages only (a session cookie, no CORS).
        .route(
            "/api/account",
            get(account_api::get).patch(account_api::update),
        )
        .route("/api/account/options", get(account_api::options))
        .route("/api/account/oidc/start", get(oidc_api::start))
        .route("/api/account/oidc/callback", get(oidc_api::callback))
        .route("/api/account/sign-in", post(account_api::sign_in))
        .route("/api/account/sign-up", post(account_api::sign_up))
        .route("/api/account/sign-out", post(account_api::sign_out))
        .route(
            "/api/account/sign-out-everywhere",
            post(account_api::sign_out_everywhere),
        )
        .route("/api/account/password", post(account_api::change_password))
        .route(
            "/api/account/avatar",
            put(account_api::set_avatar)
                .layer(DefaultBodyLimit::max(account_api::MAX_AVATAR_BYTES)),
        )
        .route("/api/users/{id}/avatar", get(account_api::avatar))
        .route("/api/users", get(users_api::list).post(users_api::add))
        .route("/api/users/invites", post(users_api::invite))
        .route("/api/users/{id}", patch(users_api::update))
        .route(
            "/api/account/rooms",
            get(owned_rooms_api::list).post(owned_rooms_api::create),
        )
        .route(
            "/api/account/rooms/{room}",
            patch(owned_rooms_api::update).delete(owned_rooms_api::delete),
        )
        .route(
            "/api/account/rooms/{room}/recordings",
            get(library_api::list),
        )
        .route(
            "/api/account/recordings/{id}",
            patch(library_api::rename).delete(library_api::delete),
        )
        .route(
            "/api/account/recordings/{id}/{file}",
            get(library_api::file),
        )
        .route(
            "/api/account/chats/{id}",
            get(library_api::chat).delete(library_api::delete_chat),
        )
        .route(
            "/api/join/{room}",
            get(owned_rooms_api::door).post(owned_rooms_api::join),
        )
        .route("/metrics", get(metrics::metrics))
        .merge(cross_origin)
        .layer(DefaultBodyLimit::max(error::MAX_API_BODY_BYTES))
        .with_state(state)
}

/// Answers a CORS preflight.
async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PATCH, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, If-Match"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    h.insert("accept-post", HeaderValue::from_static("application/sdp"));
    response
}

/// Lets pages of any origin call WHIP/WHEP and the API (they authenticate with bearer
/// tokens, not cookies) and read the `Location` of what they created.
async fn allow_any_origin(request: axum::extract::Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS;
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if !preflight {
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Location, Link, ETag"),
        );
    }
    response
}
