//! One WebRTC peer connection terminated by the SFU, with the state its role needs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use moim_proto::signal::TrackSource;
use str0m::Rtc;
use str0m::change::SdpPendingOffer;
use str0m::media::Mid;

use crate::bandwidth::Bandwidth;
use crate::data::DataChannels;
use crate::ids::{ParticipantId, RoomId, SessionId, TrackId};
use crate::lifecycle::SEND_BUFFER_VIDEO;
use crate::quality::Link;
use crate::subscription::Slot;

/// How long a sending video m-line keeps its packets for retransmission. A NACK comes
/// within a round trip, so 500 ms lets a packet be asked for twice over a 200 ms round
/// trip (Janus keeps 200 ms at least). Each packet held is a 432-byte str0m entry per
/// subscriber: in a meeting of 20 at 720p, 1 s of history held 43 MiB (str0m's default
/// is 3 s, within the packet count of `SEND_BUFFER_VIDEO`).
const RETRANSMIT_HISTORY: Duration = Duration::from_millis(500);
/// At most this share of what a video sends may be retransmissions (str0m's default).
const RETRANSMIT_RATIO_CAP: f32 = 0.15;

/// Prepares a negotiated sending video m-line: its packets leave as they are written, as
/// audio's do, and it keeps [`RETRANSMIT_HISTORY`] of them for retransmission.
///
/// str0m paces video at 1.1 times the bandwidth estimate, which hovers about what is
/// sent, so a keyframe (ten times an ordinary frame) would leave over several frame
/// intervals: at 300 subscribers, p99 73 ms instead of 35 and a fifth more CPU per packet
/// (`docs/performance.md`). The estimate still follows the path, and the allocation keeps
/// what is sent within it; a frame's packets leave together, as they left the publisher.
pub(crate) fn prepare_video_send(rtc: &mut Rtc, mid: Mid) {
    if let Some(stream) = rtc.direct_api().stream_tx_by_mid(mid, None) {
        stream.set_unpaced(true);
        stream.set_rtx_cache(
            SEND_BUFFER_VIDEO,
            RETRANSMIT_HISTORY,
            Some(RETRANSMIT_RATIO_CAP),
        );
    }
}

/// A publisher m-line as its client declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    /// The track the m-line publishes, chosen at the declaration so that the answer can
    /// name it before any media flows.
    pub track: TrackId,
    /// What the client sends on it.
    pub source: TrackSource,
    /// The muted state the client wants (kept here until the track exists).
    pub muted: bool,
}

/// What a session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRole {
    /// Receives a participant's tracks; the client offers.
    Publisher,
    /// Sends a participant everyone else's tracks; the server offers.
    Subscriber,
    /// Sends one followed participant's audio and video into a client's offer (WHEP).
    Player,
}

/// A subscriber session's offer/answer state.
#[derive(Debug, Default)]
pub struct Negotiation {
    /// The offer sent and not yet answered.
    pub pending: Option<SdpPendingOffer>,
    /// Tracks waiting for an m-line in the next offer.
    pub to_open: Vec<TrackId>,
    /// m-lines whose track left, waiting to be made inactive in the next offer.
    pub to_free: Vec<Mid>,
    /// m-lines the pending offer adds or gives a track again.
    pub opening: Vec<(Mid, TrackId)>,
    /// m-lines the pending offer makes inactive; their slots go once it is answered.
    pub freeing: Vec<Mid>,
    /// Inactive m-lines without a track (their slots say of which kind): the next track
    /// of their kind takes one instead of a new m-line, so a connection grows with the
    /// most tracks it carried at once, not with every track that came and went.
    pub free: Vec<Mid>,
    /// Whether the connection carries data channels (the participant may send data).
    pub data: bool,
    /// Whether what keeps the connection up before any track and when every track
    /// m-line is stopped has been offered: the data channels, or without them an
    /// inactive audio m-line.
    pub anchored: bool,
    /// Whether the next offer restarts ICE.
    pub restart_ice: bool,
}

/// One peer connection.
#[derive(Debug)]
pub struct Session {
    /// Its key in the router and the demultiplexer.
    pub id: SessionId,
    /// The room it belongs to.
    pub room: RoomId,
    /// The participant it belongs to.
    pub participant: ParticipantId,
    /// Publisher, subscriber or player.
    pub role: SessionRole,
    /// The str0m peer connection: ICE, DTLS, SRTP, RTP and SCTP for this session.
    pub rtc: Rtc,
    /// When it was made; one that has not connected in time is closed.
    pub created: Instant,
    /// The time this session is registered in the router's timer heap for, if any.
    pub scheduled: Option<Instant>,
    /// Queued to be polled.
    pub dirty: bool,
    /// Publisher: what each mid was declared as, and the track it became.
    pub declared: HashMap<Mid, Declared>,
    /// Publisher: the track each receiving mid carries.
    pub tracks_in: HashMap<Mid, TrackId>,
    /// Subscriber and player: what each sending mid carries.
    pub slots: HashMap<Mid, Slot>,
    /// Subscriber: its offer/answer state.
    pub negotiation: Negotiation,
    /// Subscriber: its open data channels.
    pub channels: DataChannels,
    /// Subscriber and player: what the path to it carries, shared among its videos.
    pub bandwidth: Bandwidth,
    /// Its latest statistics, for the participant's connection quality.
    pub link: Link,
    /// Its ICE restarted and the path is not back yet: once it is, the pictures lost
    /// meanwhile are mended with keyframes.
    pub ice_restarting: bool,
}

impl Session {
    /// A session around a freshly built `rtc`.
    pub fn new(
        room: RoomId,
        participant: ParticipantId,
        role: SessionRole,
        rtc: Rtc,
        now: Instant,
    ) -> Session {
        Session {
            id: SessionId::next(),
            room,
            participant,
            role,
            rtc,
            created: now,
            scheduled: None,
            dirty: false,
            declared: HashMap::new(),
            tracks_in: HashMap::new(),
            slots: HashMap::new(),
            negotiation: Negotiation::default(),
            channels: DataChannels::default(),
            bandwidth: Bandwidth::default(),
            link: Link::default(),
            ice_restarting: false,
        }
    }
}
