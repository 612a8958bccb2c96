//! The control plane's handle on media: this node's media plane, and the media of this
//! node's participants that sit on other nodes (a meeting spanning nodes,
//! `cluster/span/`). A command about such a participant goes over its node's link; the
//! rest of the control plane does not need to know where anyone's media is.

use std::ops::Deref;
use std::sync::Arc;

use moim_media::command::Reply;
use moim_media::{Command, MediaError, MediaPlane, ParticipantId};
use tokio::sync::oneshot;

use crate::cluster::span::Spans;

/// This node's media plane, and the way to participants' media on other nodes.
#[derive(Debug)]
pub struct Media {
    plane: MediaPlane,
    spans: Arc<Spans>,
}

impl Deref for Media {
    type Target = MediaPlane;

    fn deref(&self) -> &MediaPlane {
        &self.plane
    }
}

impl Media {
    /// The handle on `plane`, sending commands about participants `spans` places on other
    /// nodes to those nodes.
    pub fn new(plane: MediaPlane, spans: Arc<Spans>) -> Media {
        Media { plane, spans }
    }

    /// This node's media plane itself.
    pub fn plane(&self) -> &MediaPlane {
        &self.plane
    }

    /// Lets newcomer `participant`'s media in: here, while some worker is not shedding
    /// load; on another node, that node judged it when it passed the join on.
    pub fn admit(&self, participant: ParticipantId) -> Result<(), MediaError> {
        if self.spans.placed(participant).is_some() {
            return Ok(());
        }
        self.plane.admit()
    }

    /// Sends a command without waiting, to the node its participant's media is on. A
    /// recording's or broadcast's tap stays here: it takes the frames of the participant's
    /// tracks as this node mirrors them.
    pub fn send(&self, command: Command) -> Result<(), MediaError> {
        if let Some(participant) = command.participant()
            && !matches!(command, Command::Tap { .. })
            && let Some(remote) = self.spans.placed(participant)
        {
            if matches!(command, Command::RemoveParticipant { .. }) {
                self.spans.unplace(participant);
            }
            return remote.command(command);
        }
        let Command::SendData {
            participants,
            reliable,
            text,
        } = command
        else {
            return self.plane.send(command);
        };
        // Data for participants here goes out here, for the others over their links.
        let mut here = Vec::new();
        let mut elsewhere: Vec<(crate::cluster::span::remote::Remote, Vec<ParticipantId>)> =
            Vec::new();
        for p in participants.iter() {
            match self.spans.placed(*p) {
                None => here.push(*p),
                Some(remote) => match elsewhere.iter_mut().find(|(r, _)| r.same(&remote)) {
                    Some((_, ps)) => ps.push(*p),
                    None => elsewhere.push((remote, vec![*p])),
                },
            }
        }
        for (remote, participants) in elsewhere {
            remote.command(Command::SendData {
                participants: participants.into(),
                reliable,
                text: text.clone(),
            })?;
        }
        if here.len() == participants.len() {
            return self.plane.send(Command::SendData {
                participants,
                reliable,
                text,
            });
        }
        if here.is_empty() {
            return Ok(());
        }
        self.plane.send(Command::SendData {
            participants: here.into(),
            reliable,
            text,
        })
    }

    /// Sends a command made with a reply channel and waits for the reply.
    pub async fn request<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, MediaError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.await.map_err(|_| MediaError::Closed)?
    }
}
