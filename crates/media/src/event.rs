//! Events from the media plane to the control plane.

use moim_proto::signal::{TrackKind, TrackSource};

use crate::ids::{ParticipantId, RoomId, SessionId, TrackId};

/// A published track, as the media plane negotiated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedTrack {
    pub id: TrackId,
    pub kind: TrackKind,
    pub source: TrackSource,
    pub simulcast: bool,
    pub muted: bool,
}

/// What the media plane tells the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A participant's track was negotiated and will be forwarded.
    TrackPublished {
        room: RoomId,
        participant: ParticipantId,
        track: PublishedTrack,
    },
    /// A track is gone.
    TrackUnpublished {
        room: RoomId,
        participant: ParticipantId,
        track: TrackId,
    },
    /// The subscriber connection needs this offer answered.
    SubscriberOffer {
        participant: ParticipantId,
        sdp: String,
        /// mid → (track, its publisher) for every active m-line.
        tracks: Vec<(String, TrackId, ParticipantId)>,
    },
    /// A published audio track started or stopped carrying speech (from the audio levels
    /// its frames carry).
    Speaking {
        participant: ParticipantId,
        track: TrackId,
        speaking: bool,
    },
    /// The participant's reliable data channel opened (it can be sent messages over it) or
    /// closed.
    DataChannel {
        participant: ParticipantId,
        open: bool,
    },
    /// A text message the participant wrote on one of its data channels.
    DataReceived {
        participant: ParticipantId,
        text: String,
    },
    /// A reliable message for the participant's data channel did not fit in the channel's
    /// buffer; it goes on signaling instead.
    DataUndelivered {
        participant: ParticipantId,
        text: std::sync::Arc<str>,
    },
    /// A session ended on its own (ICE timeout, DTLS failure, remote close).
    SessionClosed {
        participant: ParticipantId,
        session: SessionId,
    },
}
