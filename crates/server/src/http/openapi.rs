//! The OpenAPI 3.1 description of the server's HTTP API (`GET /api/openapi.json`), made
//! from the handlers' own annotations and types: every route under `/api/`, WHIP, WHEP and
//! the watch page's questions. A test reads the route table and fails for a route that
//! has no operation here.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::{
    account_api, api, broadcast_api, library_api, node_api, oidc_api, owned_rooms_api,
    participant_api, recording_api, room_api, rooms_api, users_api, watch, whip,
};

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Moim server API",
        description = "Rooms, participants, recordings, broadcasts and nodes of a Moim server, \
            with WHIP and WHEP. Requests carry an access token (`Authorization: Bearer`, a JWT \
            signed with the API secret; `moim token` mints one); the grants an operation needs \
            are named in its security requirement. Every refusal is JSON `{code, message}` \
            with the status of its code.",
        license(name = "Apache-2.0"),
    ),
    paths(
        api::info,
        api::dev_token,
        document,
        rooms_api::list,
        rooms_api::create,
        rooms_api::get,
        rooms_api::update,
        rooms_api::end,
        rooms_api::tracks,
        room_api::send_data,
        room_api::transcript,
        room_api::waiting,
        participant_api::list,
        participant_api::get,
        participant_api::update,
        participant_api::remove,
        participant_api::mute,
        participant_api::admit,
        participant_api::reject,
        participant_api::set_speaker,
        recording_api::start,
        recording_api::list,
        recording_api::manifest,
        recording_api::stop,
        recording_api::download,
        broadcast_api::start,
        broadcast_api::list,
        broadcast_api::stop,
        node_api::list,
        node_api::drain,
        whip::publish,
        whip::stop,
        whip::trickle,
        whip::play_latest,
        whip::play_identity,
        whip::stop_playing,
        whip::trickle_playing,
        watch::info,
        watch::play,
        account_api::get,
        account_api::options,
        account_api::sign_in,
        account_api::sign_up,
        account_api::sign_out,
        account_api::sign_out_everywhere,
        account_api::update,
        account_api::change_password,
        account_api::set_avatar,
        account_api::avatar,
        users_api::list,
        users_api::add,
        users_api::invite,
        users_api::update,
        owned_rooms_api::list,
        owned_rooms_api::create,
        owned_rooms_api::update,
        owned_rooms_api::delete,
        owned_rooms_api::door,
        owned_rooms_api::join,
        library_api::list,
        library_api::rename,
        library_api::delete,
        library_api::file,
        library_api::chat,
        library_api::delete_chat,
        oidc_api::start,
        oidc_api::callback,
    ),
    modifiers(&BearerToken),
    tags(
        (name = "rooms", description = "Rooms: made ahead, listed, changed, ended"),
        (name = "participants", description = "Who is in a room and at its door"),
        (name = "recordings", description = "Server recordings and their files"),
        (name = "broadcasts", description = "Making a room live over LL-HLS, WHEP and RTMP"),
        (name = "nodes", description = "The cluster's nodes, for operators"),
        (name = "whip", description = "Publishing with WHIP (RFC 9725)"),
        (name = "whep", description = "Playing with WHEP"),
        (name = "watch", description = "The watch page's questions, without a token"),
        (name = "server", description = "The server itself"),
        (name = "account", description = "The signed-in user's own account (the server's pages: a session cookie and its CSRF token)"),
        (name = "users", description = "The server's users, for its admins (a signed-in admin's session)"),
    ),
)]
pub struct ApiDoc;

/// Names the access token the operations require.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        scheme.description = Some(
            "An access token; the scopes of a requirement are the grants (claims under \
             `video`) any one of which lets the request through."
                .to_owned(),
        );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("token", SecurityScheme::Http(scheme));
    }
}

/// The description as JSON, made once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the description serializes")
    })
}

/// `GET /api/openapi.json`: this description.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "getOpenApi",
    tag = "server",
    responses((status = 200, description = "The OpenAPI 3.1 description of this API", content_type = "application/json")),
)]
pub async fn document() -> Response {
    let mut response = json().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    /// Each `.route("PATH", …)` of the route table that belongs to the API, with the
    /// methods it serves (a CORS preflight is not an operation).
    fn routes() -> BTreeSet<(String, String)> {
        let table = include_str!("mod.rs");
        let mut found = BTreeSet::new();
        for call in table.split(".route(").skip(1) {
            let Some(path) = call
                .trim_start()
                .strip_prefix('"')
                .and_then(|p| p.split('"').next())
            else {
                continue;
            };
            let api = ["/api/", "/whip/", "/whep/"]
                .iter()
                .any(|p| path.starts_with(p))
                || (path.starts_with("/watch/") && path.matches('/').count() > 2);
            if !api {
                continue;
            }
            // The call's arguments, up to its closing parenthesis.
            let mut depth = 1;
            let end = call
                .char_indices()
                .find(|(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(call.len(), |(i, _)| i);
            let body = &call[..end];
            for method in ["get", "post", "patch", "delete", "put"] {
                if body.contains(&format!("{method}(")) {
                    found.insert((path.to_owned(), method.to_owned()));
                }
            }
        }
        found
    }

    fn operations() -> BTreeSet<(String, String)> {
        let doc: Value = serde_json::from_str(json()).unwrap();
        let mut found = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                found.insert((path.clone(), method.clone()));
            }
        }
        found
    }

    #[test]
    fn every_api_route_has_an_operation_and_every_operation_a_route() {
        let routes = routes();
        assert!(routes.len() > 30, "the route table reads: {routes:?}");
        let operations = operations();
        let undocumented: Vec<_> = routes.difference(&operations).collect();
        assert!(
            undocumented.is_empty(),
            "routes without an operation: {undocumented:?}"
        );
        let unrouted: Vec<_> = operations.difference(&routes).collect();
        assert!(
            unrouted.is_empty(),
            "operations without a route: {unrouted:?}"
        );
    }

    #[test]
    fn the_description_is_openapi_3_1_with_the_token_scheme() {
        let doc: Value = serde_json::from_str(json()).unwrap();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        assert_eq!(
            doc["components"]["securitySchemes"]["token"]["scheme"],
            "bearer"
        );
        for schema in [
            "RoomInfo",
            "ParticipantDetails",
            "ApiError",
            "ErrorCode",
            "Manifest",
        ] {
            assert!(
                doc["components"]["schemas"].get(schema).is_some(),
                "no {schema} schema"
            );
        }
        // Two request types of one name would share a schema: each has its own.
        for schema in ["RecordingRequest", "BroadcastRequest"] {
            assert!(
                doc["components"]["schemas"].get(schema).is_some(),
                "no {schema} schema"
            );
        }
        let mut ids = BTreeSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            }
        }
    }
}
