//! Every room of this node and who is in which: joining, leaving, the gate and bans, the
//! empty-room timeout, and finding a participant's room. Rooms across nodes (snapshots,
//! mirrors) are in `rooms/mirrors.rs`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use moim_media::{ParticipantId, RoomId};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{
    BoardStroke, BroadcastInfo, ChatMessage, IceServer, ParticipantInfo, PollInfo, RecordingInfo,
    RoomSettings, Sender, ServerMessage, ServerReply,
};
use moim_proto::token::Grants;

use super::Room;
use crate::cluster::relay::RELAY_IDENTITY;
use crate::recording::Recording;
use crate::room::lobby::{Gate, SettingsChange};
use crate::room::participant::{Link, Participant};
use crate::state::unix_millis;
use crate::webhook::{Event, EventKind, Webhooks};

mod mirrors;

/// The result of a join.
#[derive(Debug)]
pub struct Joined {
    pub room: RoomId,
    /// The newcomer as announced.
    pub me: ParticipantInfo,
    pub others: Vec<ParticipantInfo>,
    /// The participant with the same identity that the newcomer replaced.
    pub replaced: Option<Participant>,
    /// The room's recent chat.
    pub chat: Vec<ChatMessage>,
    pub polls: Vec<PollInfo>,
    pub board: Vec<BoardStroke>,
    pub recording: Option<RecordingInfo>,
    pub broadcast: Option<BroadcastInfo>,
    pub settings: RoomSettings,
    /// The waiting room, for a host.
    pub waiting: Vec<Sender>,
    /// The key that resumes the newcomer's signaling on a new socket.
    pub resume: Option<String>,
}

impl Joined {
    /// The `joined` message for the newcomer, with the TURN servers it may use.
    pub fn message(&self, room_name: &str, ice_servers: Vec<IceServer>) -> ServerMessage {
        ServerMessage::Joined {
            v: moim_proto::signal::PROTOCOL_VERSION,
            room: room_name.to_owned(),
            participant: self.me.clone(),
            participants: self.others.clone(),
            chat: self.chat.clone(),
            polls: self.polls.clone(),
            settings: self.settings,
            waiting: self.waiting.clone(),
            board: self.board.clone(),
            recording: self.recording.clone(),
            broadcast: self.broadcast.clone().map(Box::new),
            ice_servers,
            resume: self.resume.clone(),
        }
    }
}

/// Where a newcomer ended up.
#[derive(Debug)]
pub enum Entry {
    Joined(Box<Joined>),
    /// In the waiting room until a host decides.
    Waiting,
}

/// What rooms that went leave behind.
#[derive(Debug, Default)]
pub struct Ended {
    /// Their recordings, with their chat, to be finished.
    pub recordings: Vec<(Recording, Vec<ChatMessage>)>,
    /// Their chats, for the rooms that keep them.
    pub chats: Vec<EndedChat>,
}

/// The chat of a meeting that ended, as text.
#[derive(Debug)]
pub struct EndedChat {
    pub room: String,
    /// Milliseconds since the Unix epoch.
    pub ended_at: u64,
    pub text: String,
}

/// All rooms of this node.
#[derive(Debug, Default)]
pub struct Rooms {
    /// How long an empty room is kept.
    empty_timeout: Duration,
    rooms: HashMap<String, Room>,
    room_of: HashMap<ParticipantId, String>,
    /// Identities hosts banned, by room name; kept when the room empties, so a banned
    /// identity stays out of later meetings in the same room (and in the store, from
    /// which they come back at start-up).
    bans: HashMap<String, HashSet<String>>,
    /// What rooms that went leave behind, to be finished outside the lock.
    ended: Ended,
    /// Where the rooms' events go.
    hooks: Webhooks,
}

impl Rooms {
    /// No rooms yet; an empty room is kept for `empty_timeout`; events go to `hooks`.
    pub fn new(empty_timeout: Duration, hooks: Webhooks) -> Rooms {
        Rooms {
            empty_timeout,
            hooks,
            ..Rooms::default()
        }
    }

    /// Makes room `name` here and tells the webhooks.
    fn start_room(&mut self, name: &str, room: Room) -> &mut Room {
        self.hooks.emit(Event::new(EventKind::RoomStarted, name));
        self.rooms.entry(name.to_owned()).or_insert(room)
    }

    /// Refuses a banned identity.
    pub fn check_ban(&self, room_name: &str, identity: &str) -> Result<(), ApiError> {
        if self
            .bans
            .get(room_name)
            .is_some_and(|b| b.contains(identity))
        {
            return Err(ApiError::new(
                ErrorCode::Banned,
                "A host removed this identity from the meeting; it cannot join again.",
            ));
        }
        Ok(())
    }

    /// Keeps `identity` out of `room_name` from now on.
    pub fn ban(&mut self, room_name: &str, identity: &str) {
        self.bans
            .entry(room_name.to_owned())
            .or_default()
            .insert(identity.to_owned());
    }

    /// The room's gate, the same for every way in (signaling, WHIP, WHEP): bans and the
    /// lock refuse; with a waiting room, newcomers wait for a host. Hosts and identities
    /// already admitted pass the lock and the waiting room.
    pub fn gate(&self, room_name: &str, identity: &str, admin: bool) -> Result<Gate, ApiError> {
        self.check_ban(room_name, identity)?;
        match self.rooms.get(room_name) {
            Some(room) => room.lobby.check(identity, admin),
            None => Ok(Gate::Open),
        }
    }

    /// Lets a newcomer in through the room's gate ([`Rooms::gate`]); the waiting room
    /// holds it until a host decides.
    pub fn enter(&mut self, room_name: &str, participant: Participant) -> Result<Entry, ApiError> {
        let admin = participant.grants.room_admin;
        if !participant.hidden {
            self.check_room_for(room_name, &participant.identity)?;
        }
        match self.gate(room_name, &participant.identity, admin)? {
            Gate::Open => Ok(Entry::Joined(Box::new(self.join(room_name, participant)))),
            Gate::Waiting => {
                let room = self.rooms.get_mut(room_name).expect("the gate found it");
                self.room_of.insert(participant.id, room_name.to_owned());
                room.lobby.wait(participant);
                room.emptied_at = None;
                room.tell_hosts_waiting();
                Ok(Entry::Waiting)
            }
        }
    }

    /// Refuses a newcomer to a room that holds its `max_participants` already
    /// ([`Room::check_room_for`]).
    pub fn check_room_for(&self, room_name: &str, identity: &str) -> Result<(), ApiError> {
        self.rooms
            .get(room_name)
            .map_or(Ok(()), |room| room.check_room_for(identity))
    }

    /// Makes room `name` with `settings` unless it runs here already, and says whether it
    /// made it. A room made before anyone comes goes after its empty timeout if nobody
    /// does.
    pub fn create(&mut self, name: &str, settings: SettingsChange) -> bool {
        if self.rooms.contains_key(name) {
            return false;
        }
        let mut room = Room::new();
        room.lobby.change(settings);
        room.emptied_at = Some(Instant::now());
        room.changed = true;
        self.start_room(name, room);
        true
    }

    /// How long room `room` is kept once empty: its own setting, else the server's.
    fn empty_timeout_of(&self, room: &Room) -> Duration {
        room.lobby
            .settings()
            .empty_timeout
            .map_or(self.empty_timeout, |s| Duration::from_secs(u64::from(s)))
    }

    /// Whether `identity` may publish in room `room_name` now ([`Lobby::lets_publish`]).
    pub fn lets_publish(&self, room_name: &str, identity: &str, token: &Grants) -> bool {
        self.rooms.get(room_name).map_or(token.can_publish, |room| {
            room.lobby.lets_publish(identity, token)
        })
    }

    /// Takes a participant out of the waiting room of `room_name`.
    pub fn take_waiting(&mut self, room_name: &str, id: ParticipantId) -> Option<Participant> {
        let room = self.rooms.get_mut(room_name)?;
        let participant = room.lobby.take_waiting(id)?;
        self.room_of.remove(&id);
        room.tell_hosts_waiting();
        Some(participant)
    }

    /// Adds `participant` to `room_name`, replacing any participant with the same identity,
    /// and announces it.
    pub fn join(&mut self, room_name: &str, mut participant: Participant) -> Joined {
        if !self.rooms.contains_key(room_name) {
            self.start_room(room_name, Room::new());
        }
        let hooks = self.hooks.clone();
        let room = self.rooms.get_mut(room_name).expect("made above");
        participant.grants.can_publish = room
            .lobby
            .lets_publish(&participant.identity, &participant.token_grants);
        if !participant.hidden {
            room.lobby.admit(&participant.identity);
        }
        let replaced = room
            .roster
            .find_identity(&participant.identity)
            .map(|p| p.id)
            .and_then(|id| room.roster.remove(id));
        if let Some(old) = &replaced {
            self.room_of.remove(&old.id);
            if !old.hidden {
                tell_left(&hooks, room_name, old);
                room.broadcast(
                    None,
                    ServerMessage::ParticipantLeft {
                        sid: old.id.to_string(),
                        identity: old.identity.clone(),
                    },
                );
            }
            let error = ApiError::new(
                ErrorCode::Replaced,
                "The same identity joined this room from another connection.",
            );
            old.send(&ServerReply::error(None, error).to_json().into());
            old.disconnect();
        }
        if !participant.hidden {
            room.broadcast(
                None,
                ServerMessage::ParticipantJoined {
                    participant: participant.info(),
                },
            );
            hooks.emit(
                Event::new(EventKind::ParticipantJoined, room_name).participant(participant.info()),
            );
        }
        let others = room.roster.snapshot(participant.id);
        let me = participant.info();
        let resume = match &participant.link {
            Link::Socket(outbox) => Some(outbox.key()),
            Link::Http { .. } => None,
        };
        if let Some(recording) = room.recording.running_mut().filter(|_| !participant.hidden) {
            recording.joined(&participant, unix_millis());
            recording.save();
        }
        let waiting = if participant.grants.room_admin {
            room.lobby.waiting_list()
        } else {
            Vec::new()
        };
        self.room_of.insert(participant.id, room_name.to_owned());
        room.roster.insert(participant);
        room.emptied_at = None;
        Joined {
            room: room.id,
            me,
            others,
            replaced,
            chat: room.chat.recent(),
            polls: room.polls.all(),
            board: room.board.strokes(),
            recording: room.recording.info(),
            broadcast: room.broadcast.as_ref().map(|b| b.info.clone()),
            settings: room.settings(),
            waiting,
            resume,
        }
    }

    /// Removes a participant (or someone waiting), announces it and notes when the room
    /// empties.
    pub fn leave(&mut self, id: ParticipantId) -> Option<Participant> {
        let name = self.room_of.get(&id)?.clone();
        if let Some(waiting) = self.take_waiting(&name, id) {
            self.note_if_empty(&name);
            return Some(waiting);
        }
        self.room_of.remove(&id);
        let room = self.rooms.get_mut(&name)?;
        let participant = room.roster.remove(id)?;
        if let Some(recording) = room.recording.running_mut().filter(|_| !participant.hidden) {
            recording.left(id, unix_millis());
            recording.save();
        }
        if let Some(broadcast) = &mut room.broadcast {
            broadcast.left(id);
        }
        if !participant.hidden {
            room.broadcast(
                None,
                ServerMessage::ParticipantLeft {
                    sid: id.to_string(),
                    identity: participant.identity.clone(),
                },
            );
            tell_left(&self.hooks, &name, &participant);
        }
        self.note_if_empty(&name);
        Some(participant)
    }

    /// Notes when room `name` empties (no one in it or waiting): it goes after the
    /// empty-room timeout ([`Rooms::drop_expired`]), at once if its meeting was ended or
    /// the timeout is zero.
    pub fn note_if_empty(&mut self, name: &str) {
        let Some(room) = self.rooms.get(name).filter(|r| r.is_empty()) else {
            return;
        };
        if room.ended || self.empty_timeout_of(room).is_zero() {
            self.drop_room(name);
        } else if let Some(room) = self.rooms.get_mut(name) {
            room.emptied_at.get_or_insert_with(Instant::now);
        }
    }

    /// Drops the rooms that have been empty for the empty-room timeout.
    pub fn drop_expired(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .rooms
            .iter()
            .filter(|(_, r)| {
                r.emptied_at
                    .is_some_and(|t| now.saturating_duration_since(t) >= self.empty_timeout_of(r))
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in expired {
            self.drop_room(&name);
        }
    }

    /// The names of the rooms running here (not the mirrors of rooms running elsewhere).
    pub fn names(&self) -> Vec<String> {
        self.rooms
            .iter()
            .filter(|(_, r)| !r.mirror)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Whether room `name` runs here (a mirror of it does not count).
    pub fn contains(&self, name: &str) -> bool {
        self.rooms.get(name).is_some_and(|r| !r.mirror)
    }

    /// The rooms with a broadcast running.
    pub fn broadcasts_running(&self) -> Vec<String> {
        self.rooms
            .iter()
            .filter(|(_, r)| r.broadcast.is_some())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The broadcasts whose source has been gone for `grace` (room name and broadcast
    /// id).
    pub fn broadcasts_without_source(
        &self,
        grace: Duration,
        now: Instant,
    ) -> Vec<(String, String)> {
        self.rooms
            .iter()
            .filter_map(|(name, r)| {
                let b = r.broadcast.as_ref()?;
                b.source_gone_for(grace, now)
                    .then(|| (name.clone(), b.info.id.clone()))
            })
            .collect()
    }

    /// Drops a room; its recording, if one runs, is left to finish outside the lock; its
    /// broadcast ends (and stays watchable).
    fn drop_room(&mut self, name: &str) {
        let Some(mut room) = self.rooms.remove(name) else {
            return;
        };
        if let Some(broadcast) = room.broadcast.take() {
            if !room.mirror {
                let ended = Event::new(EventKind::BroadcastFinished, name);
                self.hooks.emit(ended.broadcast(broadcast.info.clone()));
            }
            broadcast.end();
        }
        if !room.mirror {
            self.hooks.emit(Event::new(EventKind::RoomFinished, name));
        }
        if let Some(recording) = room.recording.take(None) {
            let chat = room.chat.all().cloned().collect();
            self.ended.recordings.push((recording, chat));
        }
        if !room.mirror && room.chat.all().next().is_some() {
            self.ended.chats.push(EndedChat {
                room: name.to_owned(),
                ended_at: unix_millis(),
                text: super::chat::transcript_text(name, &room.chat, &room.polls.all()),
            });
        }
    }

    /// What rooms that went since the last call left behind; finish it outside the lock.
    pub fn take_ended(&mut self) -> Ended {
        std::mem::take(&mut self.ended)
    }

    /// The room a participant is in.
    pub fn room_of(&self, id: ParticipantId) -> Option<&Room> {
        self.rooms.get(self.room_of.get(&id)?)
    }

    /// The name of the room a participant is in.
    pub fn room_name_of(&self, id: ParticipantId) -> Option<&str> {
        self.room_of.get(&id).map(String::as_str)
    }

    /// The room a participant is in, mutably.
    pub fn room_of_mut(&mut self, id: ParticipantId) -> Option<&mut Room> {
        self.rooms.get_mut(self.room_of.get(&id)?)
    }

    /// A room by name.
    pub fn room(&self, name: &str) -> Option<&Room> {
        self.rooms.get(name)
    }

    /// A room by name, mutably.
    pub fn room_mut(&mut self, name: &str) -> Option<&mut Room> {
        self.rooms.get_mut(name)
    }

    /// A participant.
    pub fn participant(&self, id: ParticipantId) -> Option<&Participant> {
        self.room_of(id)?.roster.get(id)
    }

    /// A participant, mutably.
    pub fn participant_mut(&mut self, id: ParticipantId) -> Option<&mut Participant> {
        self.room_of_mut(id)?.roster.get_mut(id)
    }

    /// Sends one message to one participant.
    pub fn send_to(&self, id: ParticipantId, message: ServerMessage) {
        if let Some(p) = self.participant(id) {
            p.send(&ServerReply::event(message).to_json().into());
        }
    }

    /// The participant behind a WHIP/WHEP resource id in `room`.
    pub fn find_resource(&self, room: &str, resource: &str) -> Option<ParticipantId> {
        self.rooms.get(room)?.roster.find_resource(resource)
    }

    /// Closes every signaling connection (the server is shutting down).
    pub fn disconnect_all(&self) {
        for room in self.rooms.values() {
            for p in room.roster.iter().chain(room.lobby.waiting()) {
                p.disconnect();
            }
        }
    }

    /// The rooms being recorded: name, recording id and when it started (ms since the epoch).
    pub fn recordings_started(&self) -> Vec<(String, String, u64)> {
        self.rooms
            .iter()
            .filter_map(|(name, r)| {
                let info = &r.recording.running()?.info;
                Some((name.clone(), info.id.clone(), info.started_at))
            })
            .collect()
    }

    /// Tells everyone in every room `text` and closes their signaling after it (waiting
    /// ones too); returns the participants without a socket (WHIP, WHEP), which cannot be
    /// told.
    pub fn send_off(&self, text: &std::sync::Arc<str>) -> Vec<ParticipantId> {
        let mut untold = Vec::new();
        for room in self.rooms.values() {
            for p in room.roster.iter().chain(room.lobby.waiting()) {
                match p.link {
                    Link::Socket(_) => {
                        p.send(text);
                        p.disconnect();
                    }
                    Link::Http { .. } => untold.push(p.id),
                }
            }
        }
        untold
    }

    /// The relays of other nodes playing rooms of this one (hidden players by the relay
    /// identity).
    pub fn relays_out(&self) -> usize {
        let relay = format!("{RELAY_IDENTITY}~");
        self.rooms
            .values()
            .flat_map(|r| r.roster.iter())
            .filter(|p| p.hidden && p.identity.starts_with(&relay))
            .count()
    }

    /// Number of rooms and of participants in them.
    pub fn counts(&self) -> (usize, usize) {
        (self.rooms.len(), self.room_of.len())
    }

    /// Every room's participants (those let in), by room name.
    pub fn sizes(&self) -> impl Iterator<Item = (&str, usize)> {
        self.rooms
            .iter()
            .map(|(name, room)| (name.as_str(), room.roster.iter().count()))
    }

    /// Every participant let in, in any room.
    pub fn everyone(&self) -> impl Iterator<Item = &Participant> {
        self.rooms.values().flat_map(|room| room.roster.iter())
    }

    /// Recordings running now.
    pub fn recordings_running(&self) -> usize {
        self.rooms
            .values()
            .filter(|room| room.recording.running().is_some())
            .count()
    }
}

/// Tells the webhooks that `participant` left `room`, its tracks first (the media
/// plane's word of them comes after it left, when the room no longer knows it).
fn tell_left(hooks: &Webhooks, room: &str, participant: &Participant) {
    let info = participant.info();
    for track in &participant.tracks {
        let gone = Event::new(EventKind::TrackUnpublished, room);
        hooks.emit(gone.participant(info.clone()).track(track.clone()));
    }
    hooks.emit(Event::new(EventKind::ParticipantLeft, room).participant(info));
}
