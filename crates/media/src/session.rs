//! One WebRTC peer connection terminated by the SFU, with the state its role needs.

use std::collections::HashMap;
use std::time::Instant;

use moim_proto::signal::TrackSource;
use str0m::Rtc;
use str0m::change::SdpPendingOffer;
use str0m::media::Mid;

use crate::data::DataChannels;
use crate::ids::{ParticipantId, RoomId, SessionId, TrackId};
use crate::subscription::Slot;

/// A publisher m-line as its client declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    pub track: TrackId,
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
    /// m-lines waiting to be stopped in the next offer.
    pub to_stop: Vec<Mid>,
    /// m-lines added or stopped by the pending offer.
    pub opening: Vec<(Mid, TrackId)>,
    pub stopping: Vec<Mid>,
    /// Whether the data channel that keeps the connection up has been offered.
    pub channel_offered: bool,
}

/// One peer connection.
#[derive(Debug)]
pub struct Session {
    pub id: SessionId,
    pub room: RoomId,
    pub participant: ParticipantId,
    pub role: SessionRole,
    pub rtc: Rtc,
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
    pub negotiation: Negotiation,
    /// Subscriber: its open data channels.
    pub channels: DataChannels,
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
        }
    }
}
