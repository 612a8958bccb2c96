//! Signaling requests that act on the participant's room: the helpers behind chat and
//! data, polls, the whiteboard, moderation, admission and recording.

use std::time::Instant;

use moim_media::ParticipantId;
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{ChatMessage, PollInfo, RecordingKind, ServerMessage, ServerReply};

use super::{Connection, not_in_room};
use crate::recording;
use crate::room::admission;
use crate::room::board;
use crate::room::chat::{self, Outgoing};
use crate::room::participant::Participant;
use crate::room::polls::Polls;
use crate::room::{Room, Rooms};
use crate::state::unix_millis;

impl Connection {
    /// The host's room and, unless `target` is empty, the participant with sid `target` in
    /// it; refuses participants without the admin grant.
    pub(super) fn hosted_room<'r>(
        &self,
        rooms: &'r mut Rooms,
        host: ParticipantId,
        target: &str,
    ) -> Result<(&'r mut Room, ParticipantId), ApiError> {
        let room = rooms
            .room_of_mut(host)
            .ok_or_else(|| ApiError::new(ErrorCode::NotJoined, "You are not in a room."))?;
        let admin = room.roster().get(host).is_some_and(|p| p.grants.room_admin);
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
            .filter(|t| room.roster().contains(*t))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("No participant \"{target}\" in this room."),
                )
            })?;
        Ok((room, target))
    }

    /// Carries out a whiteboard request in the participant's room.
    pub(super) fn board(
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
    pub(super) fn admit_or_reject(
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
    pub(super) fn recording_room(&self, participant: ParticipantId) -> Result<String, ApiError> {
        let rooms = self.state.rooms();
        let p = rooms.participant(participant).ok_or_else(not_in_room)?;
        if !(p.grants.room_record || p.grants.room_admin) {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "Only hosts record and broadcast (record grant).",
            ));
        }
        Ok(rooms
            .room_name_of(participant)
            .unwrap_or_default()
            .to_owned())
    }

    /// The name of the host's room; refuses participants without the admin grant.
    pub(super) fn hosted_room_name(&self, host: ParticipantId) -> Result<String, ApiError> {
        let mut rooms = self.state.rooms();
        self.hosted_room(&mut rooms, host, "")?;
        Ok(rooms.room_name_of(host).unwrap_or_default().to_owned())
    }

    /// Changes a poll of the participant's room with `change`, tells everyone else the new
    /// state and replies with it. The reply is queued under the rooms lock, like the
    /// others' copies, so a vote counted after this one always reaches this client later.
    pub(super) fn poll(
        &self,
        participant: ParticipantId,
        change: impl FnOnce(&mut Polls, &Participant) -> Result<PollInfo, ApiError>,
    ) -> Result<Option<ServerMessage>, ApiError> {
        let mut rooms = self.state.rooms();
        let room = rooms
            .room_of_mut(participant)
            .ok_or_else(|| ApiError::new(ErrorCode::NotJoined, "You are not in a room."))?;
        let (p, polls) = room
            .member_and_polls(participant)
            .ok_or_else(|| ApiError::new(ErrorCode::NotJoined, "You are not in a room."))?;
        let poll = change(polls, p)?;
        room.broadcast(
            Some(participant),
            ServerMessage::Poll { poll: poll.clone() },
        );
        self.queue(&ServerReply {
            id: self.request.clone(),
            message: ServerMessage::Poll { poll },
        });
        Ok(None)
    }

    /// Delivers a chat or data message to the sender's room.
    pub(super) fn send_chat_or_data(
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
}

impl Connection {
    /// Starts (`Some(kind)`) or stops the room's recording on a task of its own (making
    /// folders and starting ffmpeg, or waiting for it to finish a file, takes time) and
    /// queues the reply when done, so the connection keeps delivering events meanwhile.
    pub(super) fn recording_later(
        &self,
        id: Option<serde_json::Value>,
        start: Option<RecordingKind>,
    ) -> Option<ServerReply> {
        let name = match self
            .participant
            .ok_or_else(not_in_room)
            .and_then(|p| self.recording_room(p))
        {
            Ok(name) => name,
            Err(e) => return Some(ServerReply::error(id, e)),
        };
        let state = self.state.clone();
        let outbox = self.outbox.as_ref().map(|(o, _)| o.clone());
        tokio::spawn(async move {
            let done = tokio::task::spawn_blocking(move || match start {
                Some(kind) => recording::start(&state, &name, kind).map(Some),
                None => recording::stop(&state, &name).map(|_| None),
            })
            .await
            .unwrap_or_else(|_| {
                Err(ApiError::new(
                    ErrorCode::Internal,
                    "The recording could not be started or stopped.",
                ))
            });
            let reply = match done {
                Ok(recording) => ServerReply {
                    id,
                    message: ServerMessage::Recording {
                        recording,
                        reason: None,
                    },
                },
                Err(e) => ServerReply::error(id, e),
            };
            if let Some(outbox) = outbox {
                outbox.push(&reply.to_json().into());
            }
        });
        None
    }
}
