//! The first request of a signaling connection: `join` (through the room's gate, or passed
//! on to the node the room runs on) or `resume` (a participant's signaling taken up on a
//! new socket); and what a closed socket means for its participant (kept for a resume, or
//! gone).

use std::sync::Arc;
use std::time::Duration;

use moim_media::ParticipantId;
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{PROTOCOL_VERSION, ServerMessage};
use tracing::{debug, info};

use super::Connection;
use crate::cluster::Placement;
use crate::cluster::span;
use crate::room::admission;
use crate::room::outbox::{Outbox, RESUME_GRACE, SocketEnd};
use crate::room::participant::{Link, Participant};
use crate::state::AppState;

impl Connection {
    /// Refuses a second `join` or `resume` on this socket, or another protocol version.
    fn check_first(&self, v: u32) -> Result<(), ApiError> {
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
        Ok(())
    }

    /// Joins the room of `token` here; for a room of another node, passes the client's
    /// signaling to that node (`None`: nothing to answer here) or sends the client there.
    pub(super) async fn join(
        &mut self,
        v: u32,
        token: &str,
    ) -> Result<Option<ServerMessage>, ApiError> {
        self.check_first(v)?;
        let claims = self.state.verify(token)?;
        let room_name = claims.video.room.clone();
        let media_node = match &self.from_node {
            Some(headers) => Some(span::node_asking(&self.state, headers, &room_name)?),
            None => None,
        };
        if media_node.is_none()
            && let Placement::At(node) = self.state.place(&room_name).await?
        {
            // A node shedding load sends newcomers to the room's node rather than take
            // their media.
            if self.state.config.span_rooms
                && !self.state.cluster.draining()
                && self.state.media.plane().admits()
            {
                self.pass_to = Some((node, room_name));
                return Ok(None);
            }
            debug!(room = %room_name, node = %node.id, "sent to the room's node");
            return Ok(Some(ServerMessage::Moved {
                room: room_name,
                url: node.signal_url(),
            }));
        }
        let outbox = Outbox::new(self.queue.clone(), self.kick.clone());
        let link = Link::Socket(outbox.clone());
        let participant = Participant::new(
            claims.sub.clone(),
            claims.display_name().to_owned(),
            claims.video.clone(),
            link,
            false,
        );
        let id = participant.id;
        if let Some(node) = &media_node {
            let media_room = self.state.rooms().linked(&room_name).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ClusterUnavailable,
                    "The room does not run on this node any more; join again.",
                )
            })?;
            self.state.spans.place(id, &room_name, media_room, node)?;
        }
        let reply = match admission::enter(&self.state, &room_name, participant) {
            Ok(reply) => reply,
            Err(e) => {
                self.state.spans.unplace(id);
                return Err(e);
            }
        };
        self.participant = Some(id);
        self.outbox = Some((outbox, 0));
        match &media_node {
            Some(node) => {
                info!(participant = %id, identity = %claims.sub, room = %room_name, %node, "joined, media on another node");
            }
            None => info!(participant = %id, identity = %claims.sub, room = %room_name, "joined"),
        }
        Ok(Some(reply))
    }
}

impl Connection {
    /// Whether participant `sid` has its media here but its room on another node, whose
    /// signaling this node passed on: its resume goes there too (the room's node).
    pub(super) async fn resumes_elsewhere(&mut self, sid: &str) -> Option<String> {
        if self.from_node.is_some() {
            return None;
        }
        let id = ParticipantId::parse(sid)?;
        let room = self.state.spans.room_of_controlled(id)?;
        let node = self.state.cluster.locate(&room).await?;
        self.pass_to = Some((node, room.clone()));
        Some(room)
    }

    /// Takes up the signaling of participant `sid` on this socket (its old socket was
    /// lost), if `key` is its resume key and the messages it missed are still kept.
    pub(super) fn resume(
        &mut self,
        v: u32,
        sid: &str,
        key: &str,
        received: u64,
    ) -> Result<ServerMessage, ApiError> {
        self.check_first(v)?;
        let cannot = |why: &str| {
            ApiError::new(
                ErrorCode::CannotResume,
                format!("The session cannot be resumed ({why}); join again."),
            )
        };
        let id = ParticipantId::parse(sid).ok_or_else(|| cannot("no such participant"))?;
        let outbox = match self.state.rooms().participant(id).map(|p| &p.link) {
            Some(Link::Socket(outbox)) => outbox.clone(),
            _ => return Err(cannot("no such participant")),
        };
        let (attachment, got) = outbox
            .resume(key, received, self.queue.clone(), self.kick.clone())
            .map_err(|e| cannot(&e.to_string()))?;
        self.participant = Some(id);
        self.outbox = Some((outbox, attachment));
        info!(participant = %id, "signaling resumed on a new connection");
        Ok(ServerMessage::Resumed { received: got })
    }
}

/// The socket numbered `attachment` of participant `id` closed after the client was silent
/// for `silent`: the participant goes now if its stream ended, or when the rest of
/// [`RESUME_GRACE`] passes without a resume.
pub(super) fn socket_closed(
    state: &Arc<AppState>,
    id: ParticipantId,
    outbox: &Outbox,
    attachment: u64,
    silent: Duration,
) {
    match outbox.socket_closed(attachment) {
        SocketEnd::Superseded => debug!(participant = %id, "an old signaling connection closed"),
        SocketEnd::Ended => {
            state.remove_participant(id);
            debug!(participant = %id, "signaling connection closed");
        }
        SocketEnd::Lost => {
            info!(participant = %id, "signaling connection lost; keeping the participant to resume");
            let (state, outbox) = (state.clone(), outbox.clone());
            tokio::spawn(async move {
                tokio::time::sleep(RESUME_GRACE.saturating_sub(silent)).await;
                if outbox.expire(attachment) {
                    info!(participant = %id, "not resumed in time; removing the participant");
                    state.remove_participant(id);
                }
            });
        }
    }
}
