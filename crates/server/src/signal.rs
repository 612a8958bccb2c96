//! The signaling WebSocket (`/rtc`, `docs/protocol.md`): one task per connection reads
//! requests, answers them and writes the events queued for its participant.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use moim_media::{Command, ParticipantId, TrackId};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{
    ChatMessage, ClientMessage, ClientRequest, MidTrack, PROTOCOL_VERSION, PollInfo, ServerMessage,
    ServerReply, TrackSource,
};
use tokio::sync::{Notify, mpsc};
use tracing::{debug, info};

use crate::admission::{self, SettingsChange};
use crate::board::{self, Segment};
use crate::chat::{self, Outgoing};
use crate::moderation;
use crate::polls::Polls;
use crate::recording;
use crate::rooms::{Link, OUTBOX_CAPACITY, Participant, Room, Rooms};
use crate::state::{AppState, media_error, unix_millis};

/// Frames up to this size are read and refused with `message_too_large`; larger ones
/// close the connection at the WebSocket layer.
const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// How often the server pings; a client silent for [`IDLE_TIMEOUT`] is dropped.
const PING_INTERVAL: Duration = Duration::from_secs(5);
const IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// Upgrades `/rtc` to the signaling protocol.
pub async fn upgrade(State(state): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| Connection::new(state).run(socket))
}

/// What one signaling connection knows about itself.
struct Connection {
    state: Arc<AppState>,
    participant: Option<ParticipantId>,
    outbox: mpsc::Sender<Arc<str>>,
    inbox: Option<mpsc::Receiver<Arc<str>>>,
    kick: Arc<Notify>,
    closing: bool,
}

impl Connection {
    fn new(state: Arc<AppState>) -> Connection {
        let (outbox, inbox) = mpsc::channel(OUTBOX_CAPACITY);
        Connection {
            state,
            participant: None,
            outbox,
            inbox: Some(inbox),
            kick: Arc::new(Notify::new()),
            closing: false,
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        let mut inbox = self.inbox.take().expect("run once");
        let mut ping = tokio::time::interval(PING_INTERVAL);
        let mut last_heard = Instant::now();
        let kick = self.kick.clone();
        loop {
            tokio::select! {
                frame = socket.recv() => {
                    let Some(Ok(frame)) = frame else { break };
                    last_heard = Instant::now();
                    let reply = match frame {
                        Message::Text(text) => self.handle_text(text.as_str()).await,
                        Message::Binary(_) => Some(ServerReply::error(None, ApiError::new(
                            ErrorCode::MalformedMessage,
                            "Binary frames are not part of the protocol; send JSON text.",
                        ))),
                        Message::Close(_) => break,
                        Message::Ping(_) | Message::Pong(_) => None,
                    };
                    if let Some(reply) = reply
                        && socket.send(Message::Text(reply.to_json().into())).await.is_err()
                    {
                        break;
                    }
                    if self.closing {
                        let _ = socket.send(Message::Close(None)).await;
                        break;
                    }
                }
                Some(text) = inbox.recv() => {
                    if socket.send(Message::Text(text.as_ref().into())).await.is_err() {
                        break;
                    }
                }
                () = kick.notified() => {
                    // Deliver what was queued before the kick (e.g. the `replaced` error).
                    while let Ok(text) = inbox.try_recv() {
                        let _ = socket.send(Message::Text(text.as_ref().into())).await;
                    }
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > IDLE_TIMEOUT {
                        info!("signaling client went silent; dropping it");
                        break;
                    }
                    if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break;
                    }
                }
            }
        }
        if let Some(id) = self.participant {
            self.state.remove_participant(id);
            debug!(participant = %id, "signaling connection closed");
        }
    }

    /// Answers one text frame; `None` when the request needs no reply.
    async fn handle_text(&mut self, text: &str) -> Option<ServerReply> {
        let request = match ClientRequest::decode(text) {
            Ok(request) => request,
            Err(e) => return Some(ServerReply::error(e.id, e.error)),
        };
        let id = request.id.clone();
        match self.handle(request.message).await {
            Ok(Some(message)) => Some(ServerReply { id, message }),
            Ok(None) => None,
            Err(error) => Some(ServerReply::error(id, error)),
        }
    }

    async fn handle(&mut self, message: ClientMessage) -> Result<Option<ServerMessage>, ApiError> {
        if let ClientMessage::Join { v, token } = message {
            return self.join(v, &token).map(Some);
        }
        if message == ClientMessage::Ping {
            return Ok(Some(ServerMessage::Pong));
        }
        let participant = self.participant.ok_or_else(|| {
            ApiError::new(ErrorCode::NotJoined, "Send \"join\" with a token first.")
        })?;
        match message {
            ClientMessage::Join { .. } | ClientMessage::Ping => unreachable!("handled above"),
            ClientMessage::PublishOffer { sdp, tracks } => {
                self.publish(participant, sdp, tracks).await.map(Some)
            }
            ClientMessage::SubscribeAnswer { sdp } => {
                let state = &self.state;
                state
                    .media
                    .request(|reply| Command::SubscribeAnswer {
                        participant,
                        answer: sdp,
                        reply,
                    })
                    .await
                    .map_err(media_error)?;
                Ok(None)
            }
            // The server is ICE-lite and learns client addresses from connectivity checks.
            ClientMessage::Candidate { .. } => Ok(None),
            ClientMessage::Mute { track, muted } => self.mute(participant, &track, muted),
            ClientMessage::VideoSize {
                track,
                width,
                height,
            } => self.video_size(participant, &track, width, height),
            ClientMessage::Chat { text, to } => self
                .send_chat_or_data(participant, Outgoing::Chat { text }, to)
                .map(|m| m.map(|message| ServerMessage::Chat { message })),
            ClientMessage::Data {
                payload,
                topic,
                to,
                reliable,
            } => {
                let outgoing = Outgoing::Data {
                    payload,
                    topic,
                    reliable,
                };
                self.send_chat_or_data(participant, outgoing, to)
                    .map(|_| None)
            }
            ClientMessage::PollCreate { question, options } => {
                self.poll(participant, |polls, p| {
                    if !p.grants.room_admin {
                        return Err(ApiError::new(
                            ErrorCode::PermissionDenied,
                            "Only hosts ask polls.",
                        ));
                    }
                    polls.create(p.sender(), question, options, unix_millis())
                })
            }
            ClientMessage::PollVote { poll, option } => self.poll(participant, |polls, p| {
                if !p.grants.can_publish_data {
                    return Err(ApiError::new(
                        ErrorCode::PermissionDenied,
                        "Your access token does not allow voting (data grant).",
                    ));
                }
                polls.vote(poll, option, &p.identity)
            }),
            ClientMessage::PollClose { poll } => self.poll(participant, |polls, p| {
                if !p.grants.room_admin {
                    return Err(ApiError::new(
                        ErrorCode::PermissionDenied,
                        "Only hosts close polls.",
                    ));
                }
                polls.close(poll)
            }),
            ClientMessage::MuteParticipant {
                participant: target,
                track,
                muted,
                lock,
            } => {
                let mut rooms = self.state.rooms();
                let (room, target) = self.hosted_room(&mut rooms, participant, &target)?;
                moderation::mute_track(&self.state, room, target, &track, muted, lock)?;
                Ok(None)
            }
            ClientMessage::RemoveParticipant {
                participant: target,
                ban,
            } => {
                let (name, target) = {
                    let mut rooms = self.state.rooms();
                    let target = self.hosted_room(&mut rooms, participant, &target)?.1;
                    let name = rooms.room_name_of(participant).unwrap_or_default();
                    (name.to_owned(), target)
                };
                moderation::remove(&self.state, &name, target, ban)?;
                Ok(None)
            }
            ClientMessage::EndMeeting => {
                let name = self.hosted_room_name(participant)?;
                moderation::end_meeting(&self.state, &name)?;
                Ok(None)
            }
            ClientMessage::RoomSettings {
                locked,
                waiting_room,
                mode,
            } => {
                let name = self.hosted_room_name(participant)?;
                let change = SettingsChange {
                    locked,
                    waiting_room,
                    mode,
                };
                admission::change_settings(&self.state, &name, change)?;
                Ok(None)
            }
            ClientMessage::Admit {
                participant: target,
            } => self.admit_or_reject(participant, &target, true),
            ClientMessage::Reject {
                participant: target,
            } => self.admit_or_reject(participant, &target, false),
            ClientMessage::RaiseHand { raised } => {
                let mut rooms = self.state.rooms();
                let room = rooms.room_of_mut(participant).ok_or_else(not_in_room)?;
                admission::raise_hand(room, participant, raised);
                Ok(None)
            }
            ClientMessage::SetSpeaker {
                participant: target,
                speaker,
            } => {
                let mut rooms = self.state.rooms();
                let (room, target) = self.hosted_room(&mut rooms, participant, &target)?;
                admission::set_speaker(&self.state, room, target, speaker)?;
                Ok(None)
            }
            ClientMessage::BoardStroke {
                stroke,
                tool,
                color,
                width,
                points,
                done,
            } => {
                let segment = Segment {
                    tool,
                    color,
                    width,
                    points,
                    done,
                };
                self.board(participant, board::Request::Draw { stroke, segment })
            }
            ClientMessage::BoardUndo => self.board(participant, board::Request::Undo),
            ClientMessage::BoardClear => self.board(participant, board::Request::Clear),
            ClientMessage::BoardPointer { x, y } => {
                let at = match (x, y) {
                    (Some(x), Some(y)) => Some((x, y)),
                    (None, None) => None,
                    _ => {
                        return Err(ApiError::new(
                            ErrorCode::MalformedMessage,
                            "A pointer has both x and y, or neither.",
                        ));
                    }
                };
                self.board(participant, board::Request::Pointer { at })
            }
            ClientMessage::RecordingStart { kind } => {
                let name = self.recording_room(participant)?;
                let info = recording::start(&self.state, &name, kind)?;
                Ok(Some(ServerMessage::Recording {
                    recording: Some(info),
                }))
            }
            ClientMessage::RecordingStop => {
                let name = self.recording_room(participant)?;
                let state = self.state.clone();
                tokio::task::spawn_blocking(move || recording::stop(&state, &name))
                    .await
                    .map_err(|_| {
                        ApiError::new(ErrorCode::Internal, "Stopping the recording failed.")
                    })??;
                Ok(Some(ServerMessage::Recording { recording: None }))
            }
            ClientMessage::Leave => {
                self.closing = true;
                Ok(None)
            }
        }
    }

    /// The host's room and, unless `target` is empty, the participant with sid `target` in
    /// it; refuses participants without the admin grant.
    fn hosted_room<'r>(
        &self,
        rooms: &'r mut Rooms,
        host: ParticipantId,
        target: &str,
    ) -> Result<(&'r mut Room, ParticipantId), ApiError> {
        let room = rooms
            .room_of_mut(host)
            .ok_or_else(|| ApiError::new(ErrorCode::NotJoined, "You are not in a room."))?;
        let admin = room
            .participants
            .get(&host)
            .is_some_and(|p| p.grants.room_admin);
        if !admin {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "Only hosts (admin grant) moderate the meeting.",
            ));
        }
        if target.is_empty() {
            return Ok((room, host));
        }
        let target = ParticipantId::parse(target)
            .filter(|t| room.participants.contains_key(t))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("No participant \"{target}\" in this room."),
                )
            })?;
        Ok((room, target))
    }

    /// Carries out a whiteboard request in the participant's room.
    fn board(
        &self,
        participant: ParticipantId,
        request: board::Request,
    ) -> Result<Option<ServerMessage>, ApiError> {
        let mut rooms = self.state.rooms();
        let room = rooms.room_of_mut(participant).ok_or_else(not_in_room)?;
        board::handle(room, participant, request, Instant::now())?;
        Ok(None)
    }

    /// A host lets someone in from the waiting room or turns them away.
    fn admit_or_reject(
        &self,
        host: ParticipantId,
        target: &str,
        admit: bool,
    ) -> Result<Option<ServerMessage>, ApiError> {
        let name = self.hosted_room_name(host)?;
        let target = ParticipantId::parse(target).ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("No one \"{target}\" is waiting."),
            )
        })?;
        if admit {
            admission::admit(&self.state, &name, target)?;
        } else {
            admission::reject(&self.state, &name, target)?;
        }
        Ok(None)
    }

    /// The name of the participant's room, if it may record (record or admin grant).
    fn recording_room(&self, participant: ParticipantId) -> Result<String, ApiError> {
        let rooms = self.state.rooms();
        let p = rooms.participant(participant).ok_or_else(not_in_room)?;
        if !(p.grants.room_record || p.grants.room_admin) {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "Only hosts record (record grant).",
            ));
        }
        Ok(rooms
            .room_name_of(participant)
            .unwrap_or_default()
            .to_owned())
    }

    /// The name of the host's room; refuses participants without the admin grant.
    fn hosted_room_name(&self, host: ParticipantId) -> Result<String, ApiError> {
        let mut rooms = self.state.rooms();
        self.hosted_room(&mut rooms, host, "")?;
        Ok(rooms.room_name_of(host).unwrap_or_default().to_owned())
    }

    /// Changes a poll of the participant's room with `change`, tells everyone else the new
    /// state and replies with it.
    fn poll(
        &self,
        participant: ParticipantId,
        change: impl FnOnce(&mut Polls, &Participant) -> Result<PollInfo, ApiError>,
    ) -> Result<Option<ServerMessage>, ApiError> {
        let mut rooms = self.state.rooms();
        let room = rooms
            .room_of_mut(participant)
            .ok_or_else(|| ApiError::new(ErrorCode::NotJoined, "You are not in a room."))?;
        let Room {
            participants,
            polls,
            ..
        } = &mut *room;
        let p = participants
            .get(&participant)
            .ok_or_else(|| ApiError::new(ErrorCode::NotJoined, "You are not in a room."))?;
        let poll = change(polls, p)?;
        room.broadcast(
            Some(participant),
            ServerMessage::Poll { poll: poll.clone() },
        );
        Ok(Some(ServerMessage::Poll { poll }))
    }

    /// Delivers a chat or data message to the sender's room.
    fn send_chat_or_data(
        &self,
        participant: ParticipantId,
        outgoing: Outgoing,
        to: Vec<String>,
    ) -> Result<Option<ChatMessage>, ApiError> {
        let mut rooms = self.state.rooms();
        let room = rooms
            .room_of_mut(participant)
            .ok_or_else(|| ApiError::new(ErrorCode::NotJoined, "You are not in a room."))?;
        chat::send(
            room,
            &self.state.media,
            Some(participant),
            outgoing,
            to,
            Instant::now(),
            unix_millis(),
        )
    }

    fn join(&mut self, v: u32, token: &str) -> Result<ServerMessage, ApiError> {
        if self.participant.is_some() {
            return Err(ApiError::new(
                ErrorCode::AlreadyJoined,
                "This connection already joined a room.",
            ));
        }
        if v != PROTOCOL_VERSION {
            return Err(ApiError::new(
                ErrorCode::UnsupportedVersion,
                format!(
                    "Protocol version {v} is not supported; this server speaks {PROTOCOL_VERSION}."
                ),
            ));
        }
        let claims = self.state.verify(token)?;
        let room_name = claims.video.room.clone();
        let link = Link::Socket {
            outbox: self.outbox.clone(),
            kick: self.kick.clone(),
        };
        let participant = Participant::new(
            claims.sub.clone(),
            claims.display_name().to_owned(),
            claims.video.clone(),
            link,
            false,
        );
        let id = participant.id;
        let reply = admission::enter(&self.state, &room_name, participant)?;
        self.participant = Some(id);
        info!(participant = %id, identity = %claims.sub, room = %room_name, "joined");
        Ok(reply)
    }

    async fn publish(
        &mut self,
        participant: ParticipantId,
        sdp: String,
        tracks: Vec<moim_proto::signal::PublishedMid>,
    ) -> Result<ServerMessage, ApiError> {
        let room = {
            let rooms = self.state.rooms();
            let p = rooms
                .participant(participant)
                .ok_or_else(|| ApiError::new(ErrorCode::NotJoined, "You are not in a room."))?;
            if !p.grants.can_publish {
                return Err(ApiError::new(
                    ErrorCode::PermissionDenied,
                    "Your access token does not allow publishing.",
                ));
            }
            rooms
                .room_of(participant)
                .map(|r| r.id)
                .expect("participant has a room")
        };
        let sources: Vec<(String, TrackSource)> =
            tracks.iter().map(|t| (t.mid.clone(), t.source)).collect();
        let answer = self
            .state
            .media
            .request(|reply| Command::Publish {
                room,
                participant,
                offer: sdp,
                sources: Some(sources),
                reply,
            })
            .await
            .map_err(media_error)?;
        let muted: Vec<TrackId> = answer
            .tracks
            .iter()
            .filter(|(mid, _)| tracks.iter().any(|t| t.mid == *mid && t.muted))
            .map(|(_, track)| *track)
            .collect();
        for track in &muted {
            let _ = self.state.media.send(Command::Mute {
                track: *track,
                muted: true,
            });
        }
        if let Some(p) = self.state.rooms().participant_mut(participant) {
            p.muted_on_publish = muted;
        }
        Ok(ServerMessage::PublishAnswer {
            sdp: answer.sdp,
            tracks: answer
                .tracks
                .into_iter()
                .map(|(mid, track)| MidTrack {
                    mid,
                    sid: track.to_string(),
                })
                .collect(),
        })
    }

    fn mute(
        &self,
        participant: ParticipantId,
        track: &str,
        muted: bool,
    ) -> Result<Option<ServerMessage>, ApiError> {
        let mut rooms = self.state.rooms();
        let unknown = || {
            ApiError::new(
                ErrorCode::UnknownTrack,
                format!("You have no published track \"{track}\"."),
            )
        };
        let room = rooms.room_of_mut(participant).ok_or_else(unknown)?;
        let p = room.participants.get(&participant).ok_or_else(unknown)?;
        if !p.tracks.iter().any(|t| t.sid == track) {
            return Err(unknown());
        }
        let track_id = TrackId::parse(track).ok_or_else(unknown)?;
        if !muted && p.locked_tracks.contains(&track_id) {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "A host muted this track; you can unmute it once the host allows it.",
            ));
        }
        room.set_track_muted(participant, track_id, muted);
        self.state
            .media
            .send(Command::Mute {
                track: track_id,
                muted,
            })
            .map_err(media_error)?;
        Ok(None)
    }

    fn video_size(
        &self,
        participant: ParticipantId,
        track: &str,
        width: u32,
        height: u32,
    ) -> Result<Option<ServerMessage>, ApiError> {
        let exists = self.state.rooms().room_of(participant).is_some_and(|room| {
            room.participants
                .values()
                .any(|p| p.tracks.iter().any(|t| t.sid == track))
        });
        let track_id = TrackId::parse(track).filter(|_| exists).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownTrack,
                format!("There is no track \"{track}\" in this room."),
            )
        })?;
        self.state
            .media
            .send(Command::VideoSize {
                participant,
                track: track_id,
                width,
                height,
            })
            .map_err(media_error)?;
        Ok(None)
    }
}

fn not_in_room() -> ApiError {
    ApiError::new(ErrorCode::NotJoined, "You are not in a room.")
}
