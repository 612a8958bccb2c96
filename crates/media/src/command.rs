//! Commands from the control plane to the media plane, each with its reply channel.

use std::sync::Arc;

use moim_proto::signal::TrackSource;
use tokio::sync::oneshot;

use crate::egress::EgressSender;
use crate::error::MediaError;
use crate::ids::{ParticipantId, RoomId, SessionId, TrackId};

/// A reply the media plane sends back for one command.
pub type Reply<T> = oneshot::Sender<Result<T, MediaError>>;

/// Whom a play (WHEP) session follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// The room's stream: whichever participant the control plane features
    /// ([`Command::Feature`]).
    Room,
    /// One participant.
    Participant(ParticipantId),
}

/// A sending m-line of a publisher's offer as the client declared it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredTrack {
    pub mid: String,
    pub source: TrackSource,
    /// Sent muted: the track starts muted, so nothing of it is forwarded.
    pub muted: bool,
}

/// The answer to a publisher offer.
#[derive(Debug)]
pub struct PublishAnswer {
    pub session: SessionId,
    pub sdp: String,
    /// The track each sending m-line of the offer became.
    pub tracks: Vec<(String, TrackId)>,
}

/// The answer to a play offer.
#[derive(Debug)]
pub struct PlayAnswer {
    pub session: SessionId,
    pub sdp: String,
}

/// What the control plane asks of the media plane.
#[derive(Debug)]
pub enum Command {
    /// Accept an offer on the participant's publisher connection, creating it on the first
    /// offer. `sources` declares each sending m-line (by mid: its source, whether it is
    /// muted); a mid declared earlier and missing now is unpublished.
    Publish {
        room: RoomId,
        participant: ParticipantId,
        offer: String,
        sources: Option<Vec<DeclaredTrack>>,
        reply: Reply<PublishAnswer>,
    },
    /// Open the participant's subscriber connection; it receives every other participant's
    /// tracks in the room, offered through [`crate::MediaEvent::SubscriberOffer`].
    Subscribe {
        room: RoomId,
        participant: ParticipantId,
    },
    /// The client's answer to the latest subscriber offer.
    SubscribeAnswer {
        participant: ParticipantId,
        answer: String,
        reply: Reply<()>,
    },
    /// Accept a play (WHEP) offer: the offer's receiving m-lines carry the followed
    /// participant's audio and video.
    Play {
        room: RoomId,
        participant: ParticipantId,
        follow: Follow,
        offer: String,
        reply: Reply<PlayAnswer>,
    },
    /// Stop or resume forwarding a track of `participant` (also one its publisher
    /// declared and that has not been negotiated yet); goes to the participant's worker,
    /// which tells the others.
    Mute {
        participant: ParticipantId,
        track: TrackId,
        muted: bool,
    },
    /// The size at which `participant` renders `track`; picks the simulcast layer.
    VideoSize {
        participant: ParticipantId,
        track: TrackId,
        width: u32,
        height: u32,
    },
    /// Close every session of the participant and unpublish its tracks.
    RemoveParticipant { participant: ParticipantId },
    /// Start (`Some`) or stop (`None`) handing a track's frames to a recording; goes to
    /// the worker of the track's publisher. A simulcast video is taken from the layer
    /// closest to `height` at or above it ([`crate::egress::TALLEST`]: the tallest).
    Record {
        participant: ParticipantId,
        track: TrackId,
        sink: Option<EgressSender>,
        height: u32,
    },
    /// Close the participant's publisher connection and unpublish its tracks; its
    /// subscriber connection stays (a speaker made listener).
    Unpublish { participant: ParticipantId },
    /// Players that follow the room's stream show `participant` from now on (nobody:
    /// they wait). Goes to every worker.
    Feature {
        room: RoomId,
        participant: Option<ParticipantId>,
    },
    /// Write `text` on the subscriber data channel of each of `participants` (every worker
    /// gets the command and writes to the ones it holds).
    SendData {
        participants: Arc<[ParticipantId]>,
        reliable: bool,
        text: Arc<str>,
    },
}

impl Command {
    /// A copy of a command that carries no reply channel (one for each worker).
    pub fn duplicate(&self) -> Option<Command> {
        Some(match self {
            Command::Subscribe { room, participant } => Command::Subscribe {
                room: *room,
                participant: *participant,
            },
            Command::VideoSize {
                participant,
                track,
                width,
                height,
            } => Command::VideoSize {
                participant: *participant,
                track: *track,
                width: *width,
                height: *height,
            },
            Command::RemoveParticipant { participant } => Command::RemoveParticipant {
                participant: *participant,
            },
            Command::Unpublish { participant } => Command::Unpublish {
                participant: *participant,
            },
            Command::Feature { room, participant } => Command::Feature {
                room: *room,
                participant: *participant,
            },
            Command::SendData {
                participants,
                reliable,
                text,
            } => Command::SendData {
                participants: participants.clone(),
                reliable: *reliable,
                text: text.clone(),
            },
            Command::Publish { .. }
            | Command::Mute { .. }
            | Command::SubscribeAnswer { .. }
            | Command::Play { .. }
            | Command::Record { .. } => {
                return None;
            }
        })
    }
}
