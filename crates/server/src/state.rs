//! Shared server state: configuration, keys, the media plane handle and the rooms.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moim_media::{Command, MediaError, MediaPlane, ParticipantId};

use crate::cluster::span::Spans;
use crate::media::Media;
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{BroadcastStopReason, ReconnectReason, ServerMessage, ServerReply};
use moim_proto::token::{Claims, Keys};
use tokio::sync::Notify;

use crate::account::Accounts;
use crate::broadcast;
use crate::broadcast::playback::Playbacks;
use crate::cluster::load::LoadMeter;
use crate::cluster::relay::Relays;
use crate::cluster::{Cluster, Placement};
use crate::config::Config;
use crate::recording;
use crate::room::Rooms;
use crate::room::participant::Participant;
use crate::room::rooms::Ended;
use crate::turn::IceServers;
use crate::webhook::Webhooks;

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub keys: Keys,
    /// The media plane, and the way to participants' media on other nodes.
    pub media: Media,
    /// This node's links with other nodes for rooms spanning them.
    pub spans: Arc<Spans>,
    /// Each room's latest broadcast as HLS viewers reach it.
    pub playbacks: Playbacks,
    /// TURN servers and credentials for participants.
    pub ice: IceServers,
    /// This node's place among the nodes sharing rooms.
    pub cluster: Cluster,
    /// Notified when an operator asks this node to drain and stop (the node API).
    pub stop: Notify,
    /// The relays feeding this node's mirrors of rooms running on other nodes.
    pub relays: Relays,
    /// Where the rooms' events go (`webhook_urls`).
    pub webhooks: Webhooks,
    /// The users who sign in, and their sessions.
    pub accounts: Accounts,
    rooms: Mutex<Rooms>,
}

impl AppState {
    /// State around a started media plane.
    pub fn new(
        config: Config,
        media: MediaPlane,
        ice: IceServers,
        cluster: Cluster,
        webhooks: Webhooks,
        accounts: Accounts,
    ) -> AppState {
        let keys = Keys::single(&config.api_key, &config.api_secret);
        let rooms = Rooms::new(
            Duration::from_secs(config.empty_room_timeout),
            webhooks.clone(),
        );
        let spans = Arc::new(Spans::default());
        AppState {
            config,
            keys,
            media: Media::new(media, spans.clone()),
            spans,
            playbacks: Playbacks::default(),
            ice,
            cluster,
            stop: Notify::new(),
            relays: Relays::default(),
            webhooks,
            accounts,
            rooms: Mutex::new(rooms),
        }
    }

    /// The rooms, locked. Never hold the guard across an await.
    pub fn rooms(&self) -> MutexGuard<'_, Rooms> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Verifies an access token now.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        self.keys.verify(token, unix_now())
    }

    /// Where room `name` runs for a client that reached this node: here when it runs
    /// here already (without asking the cluster), else where the cluster places it.
    pub async fn place(&self, name: &str) -> Result<Placement, ApiError> {
        if !self.cluster.draining() && self.rooms().contains(name) {
            return Ok(Placement::Here);
        }
        let placement = self.cluster.place(name).await?;
        if placement != Placement::Here {
            return Ok(placement);
        }
        // A mirror of the room here becomes the room (its relay sees that and ends).
        let Some(snapshot) = self.cluster.room_state(name).await? else {
            self.rooms().host(name);
            return Ok(placement);
        };
        if let Some(id) = &snapshot.recording {
            // Its node is gone: where the folder is shared, mark it as a restart would.
            let dir = self.config.recordings_dir.join(name).join(id);
            let me = self.cluster.me().id;
            tokio::task::spawn_blocking(move || {
                recording::mark_one_interrupted(&dir, |node| node == me)
            });
        }
        self.rooms().restore(name, snapshot);
        Ok(placement)
    }

    /// Moves everyone off this node of a cluster before it stops: no room is placed here
    /// any more, each participant is told to join again at the server's URL (`reconnect`,
    /// which places its room on another node) and let go; WHIP and WHEP sessions, which
    /// cannot be told, end. Returns once nobody is left, or after `within`.
    pub async fn drain(&self, within: Duration) {
        let mut states = self.rooms().take_snapshots(true);
        for (_, state) in &mut states {
            // This node finishes its recordings as it stops: none is to be marked interrupted.
            state.recording = None;
        }
        self.cluster.drain(&states).await;
        let message = ServerReply::event(ServerMessage::Reconnect {
            reason: ReconnectReason::Draining,
        });
        let untold = self.rooms().send_off(&message.to_json().into());
        for participant in untold {
            self.remove_participant(participant);
        }
        self.spans.drain();
        let deadline = Instant::now() + within;
        let here = || self.rooms().counts().1 + self.spans.counts()[3];
        while here() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Registers this node in the cluster with the load `meter` measures since its
    /// previous call (every heartbeat).
    pub async fn beat(&self, meter: &mut LoadMeter) {
        let clustered = self.cluster.clustered();
        let (names, participants, states) = {
            let mut rooms = self.rooms();
            let states = if clustered {
                rooms.take_snapshots(false)
            } else {
                Vec::new()
            };
            (rooms.names(), rooms.counts().1, states)
        };
        let media = self.media.stats();
        let load = meter.measure(
            names.len() as u64,
            participants as u64,
            media.router.tracks,
            media.datagrams_sent,
        );
        if !self.cluster.beat(load, &names, &states).await {
            self.rooms()
                .mark_changed(states.iter().map(|(room, _)| room.as_str()));
        }
    }

    /// Removes a participant from its room and the media plane.
    pub fn remove_participant(&self, id: ParticipantId) -> Option<Participant> {
        let (removed, ended) = {
            let mut rooms = self.rooms();
            let name = rooms.room_name_of(id).map(str::to_owned);
            let removed = rooms.leave(id);
            if let Some(room) = name.and_then(|n| rooms.room_mut(&n)) {
                room.refresh_stream(&self.media);
            }
            (removed, rooms.take_ended())
        };
        self.release_media(id);
        self.finish_ended(ended);
        removed
    }

    /// Drops the rooms that were empty for the empty-room timeout, stops broadcasts whose
    /// source is gone for good, and forgets broadcasts ended long ago (called every
    /// second).
    pub fn drop_expired_rooms(&self) {
        let ended = {
            let mut rooms = self.rooms();
            rooms.drop_expired(Instant::now());
            rooms.take_ended()
        };
        let grace = Duration::from_secs(self.config.broadcast_source_grace);
        let abandoned = self
            .rooms()
            .broadcasts_without_source(grace, Instant::now());
        for (room, id) in abandoned {
            let _ = broadcast::stop_because(self, &room, &id, BroadcastStopReason::SourceGone);
        }
        self.playbacks.sweep(Instant::now());
        self.finish_ended(ended);
    }

    /// Recordings of rooms that went are finished on the side; the chats of the owned
    /// rooms that keep them are stored.
    fn finish_ended(&self, ended: Ended) {
        for (recording, chat) in ended.recordings {
            let media = self.media.clone();
            std::thread::spawn(move || recording.finish(&media, &[], chat));
        }
        if !ended.chats.is_empty()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let store = self.accounts.store().clone();
            runtime.spawn(async move {
                for chat in ended.chats {
                    crate::account::rooms::keep_chat(&store, chat).await;
                }
            });
        }
    }

    /// Closes a participant's media sessions (after it left or was replaced).
    pub fn release_media(&self, participant: ParticipantId) {
        if let Err(e) = self.media.send(Command::RemoveParticipant { participant }) {
            tracing::error!(%participant, "could not release media: {e}");
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The client-facing form of a media-plane failure.
pub fn media_error(e: MediaError) -> ApiError {
    let code = match e {
        MediaError::InvalidSdp(_) | MediaError::Negotiation(_) => ErrorCode::InvalidSdp,
        MediaError::NoPendingOffer => ErrorCode::MalformedMessage,
        // The server may have closed it (ICE lost): not the client's mistake.
        MediaError::UnknownSession | MediaError::NothingToPlay => ErrorCode::NotFound,
        MediaError::Busy | MediaError::Full | MediaError::Closed => ErrorCode::ServerBusy,
    };
    let mut message = e.to_string();
    if let Some(first) = message.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    ApiError::new(code, format!("{message}."))
}
