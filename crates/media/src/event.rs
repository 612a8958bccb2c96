//! Events from the media plane to the control plane.

use moim_proto::signal::{ConnectionQuality, NetworkStats, TrackKind, TrackSource};

use serde::{Deserialize, Serialize};
use str0m::media::Rid;

use crate::ids::{ParticipantId, RoomId, SessionId, TrackId};

/// A published track, as the media plane negotiated it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedTrack {
    /// The track's key; its `Display` is the sid the room is told.
    pub id: TrackId,
    /// Audio or video, from the negotiated m-line.
    pub kind: TrackKind,
    /// What the publisher declared it to be (else the usual source of its kind).
    pub source: TrackSource,
    /// The publisher sends several layers.
    pub simulcast: bool,
    /// Published muted: nothing of it is forwarded yet.
    pub muted: bool,
}

/// What the media plane tells the control plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MediaEvent {
    /// A participant's track was negotiated and will be forwarded.
    TrackPublished {
        /// The track's room.
        room: RoomId,
        /// The publisher.
        participant: ParticipantId,
        /// The track as negotiated.
        track: PublishedTrack,
    },
    /// A track is gone.
    TrackUnpublished {
        /// The track's room.
        room: RoomId,
        /// The publisher.
        participant: ParticipantId,
        /// The track.
        track: TrackId,
    },
    /// The subscriber connection needs this offer answered.
    SubscriberOffer {
        /// The subscriber whose connection it is.
        participant: ParticipantId,
        /// The server's SDP offer; the client's answer comes back as
        /// [`Command::SubscribeAnswer`](crate::Command::SubscribeAnswer).
        sdp: String,
        /// mid → (track, its publisher) for every active m-line.
        tracks: Vec<(String, TrackId, ParticipantId)>,
    },
    /// A published audio track started or stopped carrying speech (from the audio levels
    /// its frames carry).
    Speaking {
        /// The track's publisher.
        participant: ParticipantId,
        /// The audio track.
        track: TrackId,
        /// Speech started (`true`) or ended.
        speaking: bool,
    },
    /// A participant's connection quality and numbers, every stats period
    /// ([`crate::quality::STATS_INTERVAL`]).
    ConnectionQuality {
        /// The participant.
        participant: ParticipantId,
        /// How well its connection carries its media.
        quality: ConnectionQuality,
        /// Its numbers, for its own network panel.
        stats: NetworkStats,
    },
    /// The layers of a video its publisher should send (dynacast): the others no receiver
    /// needs. A video without simulcast has one layer, without a rid.
    LayersWanted {
        /// The publisher.
        participant: ParticipantId,
        /// The video.
        track: TrackId,
        /// Every layer the server has seen, by rid, and whether to send it.
        layers: Vec<(Option<Rid>, bool)>,
    },
    /// A video the participant receives was paused because its connection does not carry
    /// even the smallest layer now, or resumed because it does again.
    SubscriptionPaused {
        /// The subscriber.
        participant: ParticipantId,
        /// The video's publisher.
        publisher: ParticipantId,
        /// The video.
        track: TrackId,
        /// Paused (`true`) or resumed.
        paused: bool,
    },
    /// The participant's reliable data channel opened (it can be sent messages over it) or
    /// closed.
    DataChannel {
        /// The participant whose subscriber connection carries the channel.
        participant: ParticipantId,
        /// Opened (`true`) or closed; while closed its messages go on signaling.
        open: bool,
    },
    /// A text message the participant wrote on one of its data channels.
    DataReceived {
        /// The writer.
        participant: ParticipantId,
        /// The message, a signaling request in JSON for the control plane to carry out.
        text: String,
    },
    /// A reliable message for the participant's data channel did not fit in the channel's
    /// buffer; it goes on signaling instead.
    DataUndelivered {
        /// The recipient.
        participant: ParticipantId,
        /// The message, as the control plane sent it.
        #[serde(with = "shared_text")]
        text: std::sync::Arc<str>,
    },
    /// A session ended on its own (ICE timeout, DTLS failure, remote close).
    SessionClosed {
        /// The session's participant; a WHIP or WHEP participant leaves with it.
        participant: ParticipantId,
        /// The closed session.
        session: SessionId,
    },
}

/// A shared text as a plain string on the wire (`MediaEvent` crosses between nodes).
mod shared_text {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(text: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
        String::deserialize(d).map(Arc::from)
    }
}
