//! Commands from the control plane to the media plane, each with its reply channel.

use std::sync::Arc;

use moim_proto::signal::TrackSource;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::egress::{EgressSender, Tap};
use crate::error::MediaError;
use crate::ids::{ParticipantId, RoomId, SessionId, TrackId};

/// A reply the media plane sends back for one command.
pub type Reply<T> = oneshot::Sender<Result<T, MediaError>>;

/// Whom a play (WHEP) session follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Follow {
    /// The room's stream: whichever participant the control plane features
    /// ([`Command::Feature`]).
    Room,
    /// One participant.
    Participant(ParticipantId),
}

/// A sending m-line of a publisher's offer as the client declared it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredTrack {
    /// The m-line's mid in the offer.
    pub mid: String,
    /// What the client sends on it: the source the room is told and the room's stream
    /// chooses by.
    pub source: TrackSource,
    /// Sent muted: the track starts muted, so nothing of it is forwarded.
    pub muted: bool,
}

/// The answer to a publisher offer.
#[derive(Debug, Serialize, Deserialize)]
pub struct PublishAnswer {
    /// The participant's publisher session, the same for every offer it makes.
    pub session: SessionId,
    /// The SDP answer for the client.
    pub sdp: String,
    /// The track each sending m-line of the offer became.
    pub tracks: Vec<(String, TrackId)>,
}

/// The answer to a play offer.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlayAnswer {
    /// The player session made for the offer.
    pub session: SessionId,
    /// The SDP answer for the WHEP client.
    pub sdp: String,
}

/// What the control plane asks of the media plane.
#[derive(Debug)]
pub enum Command {
    /// Accept an offer on the participant's publisher connection, creating it on the first
    /// offer. `sources` declares each sending m-line (by mid: its source, whether it is
    /// muted); a mid declared earlier and missing now is unpublished.
    Publish {
        /// The participant's room, whose subscribers are offered its tracks.
        room: RoomId,
        /// The publishing participant; its first command places it on a worker.
        participant: ParticipantId,
        /// The client's SDP offer.
        offer: String,
        /// The declared m-lines; `None` (WHIP) takes the source from the media kind
        /// (microphone, camera) and unpublishes nothing.
        sources: Option<Vec<DeclaredTrack>>,
        /// Where the answer, or why there is none, goes.
        reply: Reply<PublishAnswer>,
    },
    /// Open the participant's subscriber connection; it receives every other participant's
    /// tracks in the room, offered through [`crate::MediaEvent::SubscriberOffer`].
    Subscribe {
        /// The room whose tracks the connection receives.
        room: RoomId,
        /// The receiving participant; its own tracks are left out.
        participant: ParticipantId,
        /// Whether it may send data: only then does the connection carry data channels.
        /// Without, what is sent to it goes over signaling, and its connection runs no
        /// SCTP association (a viewer of a large broadcast costs that much less).
        data: bool,
    },
    /// The client's answer to the latest subscriber offer.
    SubscribeAnswer {
        /// The participant whose subscriber connection it answers.
        participant: ParticipantId,
        /// The client's SDP answer.
        answer: String,
        /// Told whether the answer was taken, so the client hears of a bad one.
        reply: Reply<()>,
    },
    /// Restart ICE on the participant's subscriber connection (its network changed): a new
    /// [`crate::MediaEvent::SubscriberOffer`] with new ICE credentials follows. Its
    /// publisher connection restarts with a new offer ([`Command::Publish`]).
    RestartIce {
        /// Whose subscriber connection.
        participant: ParticipantId,
    },
    /// Accept a play (WHEP) offer: the offer's receiving m-lines carry the followed
    /// participant's audio and video.
    Play {
        /// The room played.
        room: RoomId,
        /// The player's own participant (a WHEP client joins the room unseen).
        participant: ParticipantId,
        /// Whom the player shows.
        follow: Follow,
        /// The client's receive-only SDP offer.
        offer: String,
        /// Fit what is sent to the player's estimated bandwidth: true for clients; false
        /// for another node's relay, whose link between nodes takes the stream as it comes
        /// (pacing it would delay each keyframe once more on its way to the viewers).
        paced: bool,
        /// Where the answer, or why there is none, goes.
        reply: Reply<PlayAnswer>,
    },
    /// Stop or resume forwarding a track of `participant` (also one its publisher
    /// declared and that has not been negotiated yet); goes to the participant's worker,
    /// which tells the others.
    Mute {
        /// The track's publisher, whose worker holds the track.
        participant: ParticipantId,
        /// The track.
        track: TrackId,
        /// Stop (`true`) or resume forwarding.
        muted: bool,
    },
    /// The size at which `participant` renders `track`; picks the simulcast layer.
    VideoSize {
        /// The subscriber rendering the track.
        participant: ParticipantId,
        /// The video track.
        track: TrackId,
        /// Rendered width in pixels; layers are chosen by height alone.
        width: u32,
        /// Rendered height in pixels; `0` (not shown) gets the smallest layer.
        height: u32,
    },
    /// Close every session of the participant and unpublish its tracks.
    RemoveParticipant {
        /// The participant leaving; its worker forgets it.
        participant: ParticipantId,
    },
    /// Start (`Some`) or stop (`None`) handing a track's frames to a recording or a
    /// broadcast; goes to the worker of the track's publisher. A simulcast video is taken
    /// from the layer closest to `height` at or above it ([`crate::egress::TALLEST`]: the
    /// tallest).
    Tap {
        /// The track's publisher, whose worker holds the track's frames.
        participant: ParticipantId,
        /// The tapped track.
        track: TrackId,
        /// What the frames feed: a track has one tap of each kind.
        tap: Tap,
        /// The bounded queue of the recording or broadcast, shared by all its tracks;
        /// `None` stops this tap of the track.
        sink: Option<EgressSender>,
        /// The height the recording or broadcast shows the video at.
        height: u32,
    },
    /// Close the participant's publisher connection and unpublish its tracks; its
    /// subscriber connection stays (a speaker made listener).
    Unpublish {
        /// The participant that may no longer publish.
        participant: ParticipantId,
    },
    /// Players that follow the room's stream show `participant` from now on (nobody:
    /// they wait). Goes to every worker.
    Feature {
        /// The room whose stream changed.
        room: RoomId,
        /// Whom the room's stream shows now.
        participant: Option<ParticipantId>,
    },
    /// Write `text` on the subscriber data channel of each of `participants` (every worker
    /// gets the command and writes to the ones it holds).
    SendData {
        /// The recipients, shared by the copies every worker gets.
        participants: Arc<[ParticipantId]>,
        /// `false` sends on the lossy channel when it is open, where a full buffer drops
        /// the message.
        reliable: bool,
        /// The message (signaling JSON), shared rather than copied for every worker.
        text: Arc<str>,
    },
}

impl Command {
    /// The participant the command is about, if one (data and the room's stream are
    /// about a room).
    pub fn participant(&self) -> Option<ParticipantId> {
        match self {
            Command::Publish { participant, .. }
            | Command::Subscribe { participant, .. }
            | Command::Play { participant, .. }
            | Command::SubscribeAnswer { participant, .. }
            | Command::RestartIce { participant }
            | Command::VideoSize { participant, .. }
            | Command::Mute { participant, .. }
            | Command::Unpublish { participant }
            | Command::Tap { participant, .. }
            | Command::RemoveParticipant { participant } => Some(*participant),
            Command::SendData { .. } | Command::Feature { .. } => None,
        }
    }

    /// A copy of a command that carries no reply channel (one for each worker).
    pub fn duplicate(&self) -> Option<Command> {
        Some(match self {
            Command::Subscribe {
                room,
                participant,
                data,
            } => Command::Subscribe {
                room: *room,
                participant: *participant,
                data: *data,
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
            | Command::RestartIce { .. }
            | Command::Play { .. }
            | Command::Tap { .. } => {
                return None;
            }
        })
    }
}
