//! `/hls/{room}/…`: a room's broadcast over LL-HLS, for any player and any CDN.
//!
//! | path under `/hls/{room}/` | what |
//! |---|---|
//! | `index.m3u8` | the multivariant playlist; each rung at `{broadcast}/{rung}/index.m3u8` |
//! | `{broadcast}/{rung}/index.m3u8` | a rung's media playlist; blocking reload with `_HLS_msn` (and `_HLS_part`) |
//! | `{broadcast}/{rung}/init.mp4`, `seg{n}.m4s`, `part{n}.{i}.m4s` | its files; a part not yet there is held until it is (the preload hint) |
//!
//! A private broadcast's paths have its key first (`{key}/index.m3u8`, see
//! [`crate::broadcast::access`]). Files never change once served (a broadcast's id is in
//! their path), so they are cached for a year; playlists for a second. A request that
//! waits (for a part, or a playlist holding it) is held at most [`HOLD_LIMIT`], and at
//! most [`MAX_HELD_REQUESTS`] are held at once: beyond, `503` at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use moim_egress::hls::{Availability, Resource};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use tokio::time::Instant;

use crate::broadcast::ladder::Rendition;
use crate::broadcast::playback::Playback;
use crate::http::error::error_response;
use crate::state::{AppState, unix_now};

/// The longest a request is held waiting for what it asks: three segment targets, as
/// the LL-HLS specification says, after which it gets `503`.
pub const HOLD_LIMIT: Duration = Duration::from_secs(6);

/// The longest a multivariant playlist request waits for a broadcast's first picture.
pub const START_WAIT: Duration = Duration::from_secs(10);

/// Requests held at once, across the server; beyond, `503` at once. A held request costs
/// a task and a watch receiver, about a kilobyte.
pub const MAX_HELD_REQUESTS: usize = 16_384;

static HELD: AtomicUsize = AtomicUsize::new(0);

/// `GET /hls/{room}/{*path}`.
pub async fn serve(
    State(state): State<Arc<AppState>>,
    Path((room, path)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    match answer(&state, &room, &path, query.as_deref()).await {
        Ok(response) => response,
        Err(e) => error_response(e),
    }
}

async fn answer(
    state: &AppState,
    room: &str,
    path: &str,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let parts: Vec<&str> = path.split('/').collect();
    let (key, rest) = match parts.len() {
        1 | 3 => (None, &parts[..]),
        2 | 4 => (Some(parts[0]), &parts[1..]),
        _ => return Err(not_found()),
    };
    let playback = state.playbacks.get(room).ok_or_else(not_found)?;
    playback.let_in(&state.config.api_secret, room, key, unix_now())?;
    match rest {
        ["index.m3u8"] => multivariant(&playback).await,
        [id, rung, file] if *id == playback.info.id => {
            let rendition = playback.renditions().get(rung).ok_or_else(not_found)?;
            let resource = Resource::parse(file).ok_or_else(not_found)?;
            let blocking = Blocking::parse(query)?;
            rendition_file(&rendition, resource, blocking).await
        }
        _ => Err(not_found()),
    }
}

/// The multivariant playlist, once the broadcast's first picture chose the rungs.
/// Its rungs' URIs are relative (`{broadcast}/sd/index.m3u8`), so under a key they
/// stay under it.
async fn multivariant(playback: &Playback) -> Result<Response, ApiError> {
    let folder = format!("{}/", playback.info.id);
    let deadline = Instant::now() + START_WAIT;
    let mut held = None;
    loop {
        if let Some(text) = playback.renditions().multivariant_playlist(&folder) {
            return Ok(playlist(text, 5));
        }
        if playback.is_ended() && playback.renditions().ended() {
            return Err(not_found());
        }
        if held.is_none() {
            held = Some(Held::enter()?);
        }
        if Instant::now() >= deadline {
            return Err(not_yet());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A blocking playlist request's `_HLS_msn` and `_HLS_part`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Blocking {
    msn: Option<u64>,
    part: Option<u32>,
}

impl Blocking {
    fn parse(query: Option<&str>) -> Result<Blocking, ApiError> {
        let mut blocking = Blocking {
            msn: None,
            part: None,
        };
        let bad = |what: &str| {
            ApiError::new(
                ErrorCode::MalformedMessage,
                format!("{what} is a whole number (the LL-HLS blocking reload parameters)."),
            )
        };
        for pair in query.unwrap_or("").split('&') {
            match pair.split_once('=') {
                Some(("_HLS_msn", n)) => {
                    blocking.msn = Some(n.parse().map_err(|_| bad("_HLS_msn"))?)
                }
                Some(("_HLS_part", n)) => {
                    blocking.part = Some(n.parse().map_err(|_| bad("_HLS_part"))?)
                }
                _ => {}
            }
        }
        if blocking.part.is_some() && blocking.msn.is_none() {
            return Err(ApiError::new(
                ErrorCode::MalformedMessage,
                "_HLS_part needs _HLS_msn.",
            ));
        }
        Ok(blocking)
    }
}

/// A rendition's playlist or file, held until what it asks exists.
async fn rendition_file(
    rendition: &Rendition,
    resource: Resource,
    blocking: Blocking,
) -> Result<Response, ApiError> {
    // What must be there first: the segment or part asked for (by the blocking
    // parameters, or by the file's name); a plain playlist, its first whole segment
    // (players take a playlist without one for an empty stream); the init segment, the
    // rendition's tracks.
    let (msn, part) = match resource {
        Resource::Playlist => match blocking.msn {
            Some(msn) => (Some(msn), blocking.part),
            None => (Some(0), None),
        },
        Resource::Init => (None, None),
        Resource::Segment(msn) => (Some(msn), None),
        Resource::Part { msn, part } => (Some(msn), Some(part)),
    };
    let ready = || match msn {
        Some(msn) => rendition.availability(msn, part),
        None if rendition.playlist().is_some() => Availability::Ready,
        None => Availability::Wait,
    };
    let mut changes = rendition.changes();
    let deadline = Instant::now() + HOLD_LIMIT;
    let mut held = None;
    loop {
        changes.borrow_and_update();
        match ready() {
            Availability::Ready => break,
            Availability::TooFar => {
                return Err(ApiError::new(
                    ErrorCode::MalformedMessage,
                    "That part is further ahead than a player may ask for (two segments, or the advance part limit).",
                ));
            }
            Availability::Wait if rendition.is_ended() => return Err(not_found()),
            Availability::Wait => {}
        }
        if held.is_none() {
            held = Some(Held::enter()?);
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return Err(not_yet()),
        }
    }
    drop(held);
    if resource == Resource::Playlist {
        let text = rendition.playlist().ok_or_else(not_found)?;
        return Ok(playlist(text, 1));
    }
    let bytes = match rendition.file(resource) {
        Some(bytes) => bytes,
        None => {
            // Older than the playlist's window: on disk, if kept to watch back.
            let path = rendition.archived(resource).ok_or_else(not_found)?;
            Bytes::from(tokio::fs::read(path).await.map_err(|_| not_found())?)
        }
    };
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}

/// A playlist response, cached for `seconds`.
fn playlist(text: impl IntoResponse, seconds: u32) -> Response {
    let mut response = text.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.apple.mpegurl"),
    );
    let cache = format!("public, max-age={seconds}");
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&cache).expect("ASCII"),
    );
    response
}

/// One request held; counted while it lives.
struct Held;

impl Held {
    fn enter() -> Result<Held, ApiError> {
        if HELD.fetch_add(1, Ordering::Relaxed) >= MAX_HELD_REQUESTS {
            HELD.fetch_sub(1, Ordering::Relaxed);
            return Err(ApiError::new(
                ErrorCode::ServerBusy,
                "Too many players are waiting for the next part; try again in a moment.",
            ));
        }
        Ok(Held)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        HELD.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Requests held now (for `/metrics`).
pub fn held_requests() -> usize {
    HELD.load(Ordering::Relaxed)
}

fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "No such broadcast file: the broadcast ended long ago, or never had it.",
    )
}

fn not_yet() -> ApiError {
    ApiError::new(
        ErrorCode::ServerBusy,
        "The broadcast has nothing new yet; ask again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_requests_are_bounded_and_counted_while_they_wait() {
        let before = held_requests();
        let held = Held::enter().expect("room for one");
        assert_eq!(held_requests(), before + 1);
        drop(held);
        assert_eq!(held_requests(), before);
        // With every place taken, the next request is refused at once, and counts nothing.
        HELD.fetch_add(MAX_HELD_REQUESTS, Ordering::Relaxed);
        let refused = Held::enter().map(|_| ()).unwrap_err();
        assert_eq!(refused.code, ErrorCode::ServerBusy);
        assert_eq!(held_requests(), before + MAX_HELD_REQUESTS);
        HELD.fetch_sub(MAX_HELD_REQUESTS, Ordering::Relaxed);
    }

    #[test]
    fn blocking_parameters_are_whole_numbers_and_a_part_needs_its_segment() {
        let parse = |q| Blocking::parse(Some(q));
        assert_eq!(
            parse("_HLS_msn=4&_HLS_part=2").unwrap(),
            Blocking {
                msn: Some(4),
                part: Some(2)
            }
        );
        assert_eq!(parse("x=1").unwrap().msn, None);
        assert!(parse("_HLS_msn=-1").is_err());
        assert!(parse("_HLS_msn=4&_HLS_part=x").is_err());
        assert!(parse("_HLS_part=1").is_err());
    }
}
