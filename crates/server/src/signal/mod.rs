//! The signaling WebSocket (`/rtc`, `docs/protocol.md`): one task per connection reads
//! requests, answers them and writes the events queued for its participant. This file
//! holds the connection and the dispatch of requests; `join.rs` the first request (`join`
//! or `resume`) and what a closed socket means for its participant; `media.rs` the requests
//! about the participant's own media, `room.rs` those that act on the room (chat, polls,
//! board, moderation, recording).
//!
//! Replies go through the same outbox as the room's events, so a client hears everything
//! in one order (its vote's reply after the poll counts that came before it); before it
//! joined nothing is queued for a connection, so its replies (`joined` too) go at once. A slow
//! request (stopping a recording) answers from a task of its own, so the outbox keeps
//! draining meanwhile. A client that does not read is dropped after [`SEND_TIMEOUT`]; one
//! that never joins, after [`JOIN_DEADLINE`].
//!
//! The participant's messages go through its [`Outbox`], which outlives the socket: a socket
//! that closes without the client saying so (its network changed) leaves the participant in
//! the room for [`RESUME_GRACE`](crate::room::outbox::RESUME_GRACE), and a new socket that
//! sends `resume` carries on.

mod join;
mod media;
mod room;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use moim_media::{Command, ParticipantId};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{
    BroadcastOutput, ClientMessage, ClientRequest, ServerMessage, ServerReply,
};
use tokio::sync::{Notify, mpsc};
use tracing::info;

use crate::broadcast;
use crate::cluster::node::NodeInfo;
use crate::cluster::span;
use crate::room::admission;
use crate::room::board::{self, Segment};
use crate::room::chat::Outgoing;
use crate::room::lobby::SettingsChange;
use crate::room::moderation;
use crate::room::outbox::{OUTBOX_CAPACITY, Outbox, RESUME_WINDOW};
use crate::state::{AppState, media_error, unix_millis};

/// Frames up to this size are read and refused with `message_too_large`; larger ones
/// close the connection at the WebSocket layer.
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// The WebSocket's read buffer. tungstenite zeroes it to this size before every read,
/// and a connection's socket is read whenever its task wakes, for the room's news too:
/// with its default of 128 KiB, a busy room spent a few percent of the server's CPU on
/// zeroing. A longer message is read in several turns.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// How often the server pings; a client silent for [`IDLE_TIMEOUT`] is dropped.
pub const PING_INTERVAL: Duration = Duration::from_secs(5);
/// A client that neither answers pings nor sends anything this long is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// A connection that has not sent `join` this long after opening is closed.
pub const JOIN_DEADLINE: Duration = Duration::from_secs(10);
/// A write the client has not taken within this time drops the connection.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Upgrades `/rtc` to the signaling protocol.
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // Another node passing a participant's signaling through (its token is checked at
    // the join, which names the room).
    let from_node = headers
        .contains_key(span::link::NODE_HEADER)
        .then_some(headers);
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let mut connection = Connection::new(state);
            connection.from_node = from_node;
            connection.run(socket)
        })
}

/// What one signaling connection knows about itself.
struct Connection {
    state: Arc<AppState>,
    participant: Option<ParticipantId>,
    /// The participant's message stream and this socket's number in it, once joined.
    outbox: Option<(Outbox, u64)>,
    /// This socket's queue: the outbox fills it, the connection writes it out.
    queue: mpsc::Sender<Arc<str>>,
    inbox: Option<mpsc::Receiver<Arc<str>>>,
    kick: Arc<Notify>,
    /// The client left (`leave`, or a closing handshake): no resuming.
    closing: bool,
    /// The id of the request being handled (a reply queued under the rooms lock needs it).
    request: Option<serde_json::Value>,
    /// The upgrade's headers, when another node passes its participant's signaling
    /// through this connection (the participant's media is on that node).
    from_node: Option<HeaderMap>,
    /// The room's node, and the room, to pass this client's signaling to (its media
    /// stays on this node).
    pass_to: Option<(NodeInfo, String)>,
}

impl Connection {
    fn new(state: Arc<AppState>) -> Connection {
        // Room for what a resume sends again, beyond the queue's own capacity.
        let (queue, inbox) = mpsc::channel(OUTBOX_CAPACITY + RESUME_WINDOW);
        Connection {
            state,
            participant: None,
            outbox: None,
            queue,
            inbox: Some(inbox),
            kick: Arc::new(Notify::new()),
            closing: false,
            request: None,
            from_node: None,
            pass_to: None,
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        let mut inbox = self.inbox.take().expect("run once");
        let mut ping = tokio::time::interval(PING_INTERVAL);
        let opened = Instant::now();
        let mut last_heard = opened;
        let kick = self.kick.clone();
        loop {
            tokio::select! {
                frame = socket.recv() => {
                    let Some(Ok(frame)) = frame else { break };
                    last_heard = Instant::now();
                    // Until it joins, nothing is queued for a connection: its replies (the
                    // `joined` among them) go out at once, ahead of what joining queues.
                    let joined_before = self.participant.is_some();
                    if let Some((outbox, _)) = &self.outbox
                        && matches!(frame, Message::Text(_) | Message::Binary(_))
                    {
                        outbox.note_received();
                    }
                    let reply = match frame {
                        Message::Text(text) => {
                            let reply = self.handle_text(text.as_str()).await;
                            if let Some((node, room)) = self.pass_to.take() {
                                let id = self.request.take();
                                let join = text.to_string();
                                span::proxy::run(self.state, socket, node, room, join, id).await;
                                return;
                            }
                            reply
                        }
                        Message::Binary(_) => Some(ServerReply::error(None, ApiError::new(
                            ErrorCode::MalformedMessage,
                            "Binary frames are not part of the protocol; send JSON text.",
                        ))),
                        Message::Close(_) => {
                            // The closing handshake: the client's Close is answered.
                            self.closing = true;
                            send_within(&mut socket, Message::Close(None)).await;
                            break;
                        }
                        Message::Ping(_) | Message::Pong(_) => None,
                    };
                    if let Some(reply) = reply {
                        if joined_before {
                            self.queue(&reply);
                        } else if !send_within(&mut socket, Message::Text(reply.to_json().into())).await {
                            break;
                        }
                    }
                    if self.closing {
                        flush(&mut socket, &mut inbox).await;
                        send_within(&mut socket, Message::Close(None)).await;
                        break;
                    }
                }
                Some(text) = inbox.recv() => {
                    if !send_within(&mut socket, Message::Text(text.as_ref().into())).await {
                        info!("signaling client is not taking its messages; dropping it");
                        break;
                    }
                }
                () = kick.notified() => {
                    // Deliver what was queued before the kick (e.g. the `replaced` error).
                    flush(&mut socket, &mut inbox).await;
                    send_within(&mut socket, Message::Close(None)).await;
                    break;
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > IDLE_TIMEOUT {
                        info!("signaling client went silent; dropping it");
                        break;
                    }
                    if self.participant.is_none() && opened.elapsed() > JOIN_DEADLINE {
                        let late = ServerReply::error(None, ApiError::new(
                            ErrorCode::NotJoined,
                            format!("Send \"join\" within {} s of connecting.", JOIN_DEADLINE.as_secs()),
                        ));
                        send_within(&mut socket, Message::Text(late.to_json().into())).await;
                        send_within(&mut socket, Message::Close(None)).await;
                        break;
                    }
                    if !send_within(&mut socket, Message::Ping(Vec::new().into())).await {
                        break;
                    }
                }
            }
        }
        if let (Some(id), Some((outbox, attachment))) = (self.participant, &self.outbox) {
            if self.closing {
                outbox.end();
            }
            join::socket_closed(&self.state, id, outbox, *attachment, last_heard.elapsed());
        }
    }

    /// Queues a reply behind the events already queued for this client; a client too far
    /// behind to take it is disconnected.
    fn queue(&self, reply: &ServerReply) {
        if let Some((outbox, _)) = &self.outbox {
            outbox.push(&reply.to_json().into());
        }
    }

    /// Answers one text frame; `None` when the request needs no reply (or answers later).
    async fn handle_text(&mut self, text: &str) -> Option<ServerReply> {
        let request = match ClientRequest::decode(text) {
            Ok(request) => request,
            Err(e) => return Some(ServerReply::error(e.id, e.error)),
        };
        let id = request.id.clone();
        self.request = id.clone();
        match request.message {
            ClientMessage::RecordingStop => return self.recording_later(id, None),
            ClientMessage::RecordingStart { kind } => {
                return self.recording_later(id, Some(kind));
            }
            _ => {}
        }
        match self.handle(request.message).await {
            Ok(Some(message)) => Some(ServerReply { id, message }),
            Ok(None) => None,
            Err(error) => Some(ServerReply::error(id, error)),
        }
    }

    async fn handle(&mut self, message: ClientMessage) -> Result<Option<ServerMessage>, ApiError> {
        if let ClientMessage::Join { v, token } = message {
            return self.join(v, &token).await;
        }
        if let ClientMessage::Resume {
            v,
            participant,
            key,
            received,
        } = message
        {
            if self.resumes_elsewhere(&participant).await.is_some() {
                return Ok(None);
            }
            return self.resume(v, &participant, &key, received).map(Some);
        }
        if message == ClientMessage::Ping {
            return Ok(Some(ServerMessage::Pong));
        }
        let participant = self.participant.ok_or_else(|| {
            ApiError::new(ErrorCode::NotJoined, "Send \"join\" with a token first.")
        })?;
        if announces(&message) {
            self.take_announce(participant, false)?;
        } else if matches!(message, ClientMessage::Mute { .. }) {
            self.take_announce(participant, true)?;
        }
        match message {
            ClientMessage::Join { .. } | ClientMessage::Resume { .. } | ClientMessage::Ping => {
                unreachable!("handled above")
            }
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
            ClientMessage::RestartIce => {
                self.state
                    .media
                    .send(Command::RestartIce { participant })
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
                    ..SettingsChange::default()
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
            ClientMessage::RecordingStart { .. } | ClientMessage::RecordingStop => {
                unreachable!("answered by recording_later")
            }
            ClientMessage::BroadcastStart { source, public } => {
                let room = self.recording_room(participant)?;
                let request = broadcast::StartRequest {
                    source,
                    outputs: vec![BroadcastOutput::Hls],
                    public,
                    rtmp_url: None,
                };
                let view = broadcast::start(&self.state, &room, request)?;
                Ok(Some(ServerMessage::Broadcast {
                    broadcast: Some(view.info),
                    playback: Some(view.playback),
                    reason: None,
                }))
            }
            ClientMessage::BroadcastStop => {
                let room = self.recording_room(participant)?;
                broadcast::stop(&self.state, &room, None)?;
                Ok(Some(ServerMessage::Broadcast {
                    broadcast: None,
                    playback: None,
                    reason: None,
                }))
            }
            ClientMessage::Leave => {
                self.closing = true;
                Ok(None)
            }
        }
    }
}

/// Requests that everyone in the room hears of, limited per participant
/// (`RateLimit::announce`).
fn announces(message: &ClientMessage) -> bool {
    matches!(
        message,
        ClientMessage::RaiseHand { .. }
            | ClientMessage::MuteParticipant { .. }
            | ClientMessage::RoomSettings { .. }
            | ClientMessage::SetSpeaker { .. }
            | ClientMessage::PublishOffer { .. }
    )
}

impl Connection {
    /// Takes one of the participant's tokens for a request the whole room hears of
    /// (its own mutes have a bucket of their own, so that they always get through).
    fn take_announce(&self, participant: ParticipantId, own_mute: bool) -> Result<(), ApiError> {
        let mut rooms = self.state.rooms();
        let p = rooms.participant_mut(participant).ok_or_else(not_in_room)?;
        let limit = if own_mute {
            &mut p.mute_limit
        } else {
            &mut p.announce_limit
        };
        if limit.take(Instant::now()) {
            return Ok(());
        }
        let what = if own_mute {
            "your mutes"
        } else {
            "hands, host actions, settings and renegotiations"
        };
        Err(ApiError::new(
            ErrorCode::RateLimited,
            format!("Too many changes at once: {} for {what}.", limit.describe()),
        ))
    }
}

/// Writes `message` unless the client has not taken it within [`SEND_TIMEOUT`]; false when
/// the connection is gone or stuck.
pub(crate) async fn send_within(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// Writes what is queued for the client, each within [`SEND_TIMEOUT`].
async fn flush(socket: &mut WebSocket, inbox: &mut mpsc::Receiver<Arc<str>>) {
    while let Ok(text) = inbox.try_recv() {
        if !send_within(socket, Message::Text(text.as_ref().into())).await {
            return;
        }
    }
}

fn not_in_room() -> ApiError {
    ApiError::new(ErrorCode::NotJoined, "You are not in a room.")
}
