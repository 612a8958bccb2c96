//! Meetings spanning nodes: a participant stays on the node it reached even when its room
//! runs on another.
//!
//! The node it reached (an **edge** of the room) links its media plane with the room's
//! node for the room (`link.rs`: one sealed connection per room and edge, carrying the
//! media planes' node link and the control planes' messages) and passes the participant's
//! signaling through to the room's node (`proxy.rs`), which owns the room as for anyone:
//! roster, chat, polls, board, moderation. Only the participant's media lives on the
//! edge: the room's node sends the media-plane commands for it over the link
//! (`remote.rs`), the edge's media plane carries them out in its own room for the link,
//! and the media events about the participant go back the same way. Tracks cross the
//! link once per edge whichever side publishes them (`moim_media::nodes`).

pub mod link;
pub mod proxy;
pub mod remote;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use axum::http::HeaderMap;
use moim_media::{MediaEvent, ParticipantId, RoomId};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::token::GrantPreset;
use tokio::sync::{mpsc, watch};
use tracing::warn;

use crate::cluster::relay::{RELAY_IDENTITY, relay_claims};
use crate::http::auth::bearer;
use crate::state::{AppState, unix_now};
use remote::Remote;

/// The token a node shows another about `room`: the relay's identity with the server-wide
/// `nodeAdmin` grant, which no participant's token carries (signed with the shared API
/// secret).
pub fn node_token(state: &AppState, room: &str) -> String {
    let mut claims = relay_claims(state, room, GrantPreset::Viewer);
    claims.video.node_admin = true;
    claims.sign(&state.config.api_secret)
}

/// The node asking about `room` with `headers`: its id, when it shows a node's token for
/// the room ([`node_token`]) and names itself.
pub fn node_asking(state: &AppState, headers: &HeaderMap, room: &str) -> Result<String, ApiError> {
    let claims = state.keys.verify_node_admin(bearer(headers)?, unix_now())?;
    if claims.sub != RELAY_IDENTITY || claims.video.room != room {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            "Only another node of the cluster may link itself with a room.",
        ));
    }
    headers
        .get(link::NODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MalformedMessage,
                format!("Name the asking node in a {} header.", link::NODE_HEADER),
            )
        })
}

/// Who is linked with whom, on both sides of the links.
#[derive(Debug, Default)]
pub struct Spans {
    /// On the room's node: the links other nodes opened, by room and node.
    links: Mutex<HashMap<(String, String), Remote>>,
    /// On the room's node: the participants whose media is on another node.
    placed: Mutex<HashMap<ParticipantId, Remote>>,
    /// On an edge: the links to the nodes of rooms whose participants are here, by room.
    edges: Mutex<HashMap<String, Remote>>,
    /// On an edge: the participants whose room's node commands their media.
    controlled: Mutex<HashMap<ParticipantId, Remote>>,
    /// The way into this node's event pump for events from other nodes.
    events: OnceLock<mpsc::Sender<MediaEvent>>,
    /// Set when this node drains: the clients whose signaling it passes on move too.
    draining: OnceLock<watch::Sender<bool>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Spans {
    /// Sends the events other nodes report into `events` (the event pump's second way in).
    pub fn take_events(&self, events: mpsc::Sender<MediaEvent>) {
        let _ = self.events.set(events);
    }

    fn drain_signal(&self) -> &watch::Sender<bool> {
        self.draining.get_or_init(|| watch::channel(false).0)
    }

    /// Tells the clients whose signaling this node passes on to join again elsewhere.
    pub fn drain(&self) {
        self.drain_signal().send_replace(true);
    }

    /// Changes to whether this node drains (`proxy.rs` moves its client when it does).
    pub fn draining(&self) -> watch::Receiver<bool> {
        self.drain_signal().subscribe()
    }

    /// An edge: the room of participant `id`, when its room's node commands its media.
    pub fn room_of_controlled(&self, id: ParticipantId) -> Option<String> {
        let remote = lock(&self.controlled).get(&id).cloned()?;
        lock(&self.edges)
            .iter()
            .find(|(_, r)| r.same(&remote))
            .map(|(room, _)| room.clone())
    }

    /// The way into the event pump for events from other nodes.
    pub fn events(&self) -> mpsc::Sender<MediaEvent> {
        self.events.get_or_init(|| mpsc::channel(1).0).clone()
    }

    /// The room's node: notes the link `node` opened for `room`.
    pub fn linked(&self, room: &str, node: &str, remote: Remote) {
        lock(&self.links).insert((room.to_owned(), node.to_owned()), remote);
    }

    /// The room's node: the link `node` opened for `room` ended; the participants whose
    /// media it carried, which are gone with it.
    pub fn unlinked(&self, room: &str, node: &str, remote: &Remote) -> Vec<ParticipantId> {
        let mut links = lock(&self.links);
        let key = (room.to_owned(), node.to_owned());
        if links.get(&key).is_some_and(|r| r.same(remote)) {
            links.remove(&key);
        }
        drop(links);
        carried_by(&mut lock(&self.placed), remote)
    }

    /// The room's node: participant `id` of room `room` (media id `media_room`) has its
    /// media on `node`, over the link that node opened.
    pub fn place(
        &self,
        id: ParticipantId,
        room: &str,
        media_room: RoomId,
        node: &str,
    ) -> Result<(), ApiError> {
        let links = lock(&self.links);
        let remote = links
            .get(&(room.to_owned(), node.to_owned()))
            .filter(|r| r.room() == media_room)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ClusterUnavailable,
                    "The node you reached has no media link to this room's node; join again.",
                )
            })?;
        lock(&self.placed).insert(id, remote.clone());
        Ok(())
    }

    /// The link of the node `id`'s media is on, when it is on another node.
    pub fn placed(&self, id: ParticipantId) -> Option<Remote> {
        lock(&self.placed).get(&id).cloned()
    }

    /// Forgets where `id`'s media was.
    pub fn unplace(&self, id: ParticipantId) {
        lock(&self.placed).remove(&id);
    }

    /// An edge: the link to `room`'s node, if one is open.
    pub fn edge(&self, room: &str) -> Option<Remote> {
        lock(&self.edges)
            .get(room)
            .filter(|r| !r.is_closed())
            .cloned()
    }

    /// An edge: notes the link to `room`'s node.
    pub fn add_edge(&self, room: &str, remote: Remote) {
        lock(&self.edges).insert(room.to_owned(), remote);
    }

    /// An edge: the link to `room`'s node ended; the participants it commanded.
    pub fn remove_edge(&self, room: &str, remote: &Remote) -> Vec<ParticipantId> {
        let mut edges = lock(&self.edges);
        if edges.get(room).is_some_and(|r| r.same(remote)) {
            edges.remove(room);
        }
        drop(edges);
        carried_by(&mut lock(&self.controlled), remote)
    }

    /// An edge: participant `id`'s media is commanded over `remote` from now on.
    pub fn control(&self, id: ParticipantId, remote: &Remote) {
        lock(&self.controlled).insert(id, remote.clone());
    }

    /// An edge: whether `remote` commands participant `id`'s media.
    pub fn commands(&self, id: ParticipantId, remote: &Remote) -> bool {
        lock(&self.controlled)
            .get(&id)
            .is_some_and(|r| r.same(remote))
    }

    /// An edge: participant `id` is gone.
    pub fn release(&self, id: ParticipantId) {
        lock(&self.controlled).remove(&id);
    }

    /// An edge: how many participants `remote` commands here.
    pub fn controlled_by(&self, remote: &Remote) -> usize {
        lock(&self.controlled)
            .values()
            .filter(|r| r.same(remote))
            .count()
    }

    /// Links and participants now: (links other nodes opened to this node's rooms, links
    /// this node opened to other nodes' rooms, participants of this node's rooms whose
    /// media is elsewhere, participants here whose room runs elsewhere).
    pub fn counts(&self) -> [usize; 4] {
        [
            lock(&self.links).len(),
            lock(&self.edges)
                .values()
                .filter(|r| !r.is_closed())
                .count(),
            lock(&self.placed).len(),
            lock(&self.controlled).len(),
        ]
    }

    /// An edge: passes `event` to the room's node when it is about a participant that
    /// node commands; gives it back otherwise.
    pub fn pass_event(&self, event: MediaEvent) -> Option<MediaEvent> {
        let Some(remote) = lock(&self.controlled).get(&participant_of(&event)).cloned() else {
            return Some(event);
        };
        if !remote.event(&event) {
            warn!("a media event for another node's participant could not be passed on");
        }
        None
    }
}

/// Takes the participants `remote` carries out of `participants`.
fn carried_by(
    participants: &mut HashMap<ParticipantId, Remote>,
    remote: &Remote,
) -> Vec<ParticipantId> {
    let gone: Vec<ParticipantId> = participants
        .iter()
        .filter(|(_, r)| r.same(remote))
        .map(|(p, _)| *p)
        .collect();
    for p in &gone {
        participants.remove(p);
    }
    gone
}

/// The participant a media event is about.
pub(super) fn participant_of(event: &MediaEvent) -> ParticipantId {
    match event {
        MediaEvent::TrackPublished { participant, .. }
        | MediaEvent::TrackUnpublished { participant, .. }
        | MediaEvent::SubscriberOffer { participant, .. }
        | MediaEvent::Speaking { participant, .. }
        | MediaEvent::ConnectionQuality { participant, .. }
        | MediaEvent::LayersWanted { participant, .. }
        | MediaEvent::SubscriptionPaused { participant, .. }
        | MediaEvent::DataChannel { participant, .. }
        | MediaEvent::DataReceived { participant, .. }
        | MediaEvent::DataUndelivered { participant, .. }
        | MediaEvent::SessionClosed { participant, .. } => *participant,
    }
}
