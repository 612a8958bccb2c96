//! A participant as the control plane holds it: who it is, what it may do now, its
//! tracks and rate limits, and how the server reaches it (a signaling socket's bounded
//! outbox, or a WHIP/WHEP resource).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use moim_media::{ParticipantId, TrackId};
use moim_proto::signal::{
    ConnectionQuality, NetworkStats, ParticipantInfo, Role, Sender, TrackInfo,
};
use moim_proto::token::Grants;

use crate::room::chat::RateLimit;
use crate::room::outbox::Outbox;
use crate::state::unix_millis;

/// How the server reaches a participant.
#[derive(Debug, Clone)]
pub enum Link {
    /// Signaling over WebSocket: messages go to its outbox, which a new socket resumes when
    /// the client's network changed.
    Socket(Outbox),
    /// A WHIP or WHEP session, addressed by its resource id.
    Http { resource: String },
}

/// One participant of a room.
#[derive(Debug)]
pub struct Participant {
    pub id: ParticipantId,
    pub identity: String,
    pub name: String,
    /// What it may do now: its token's grants, changed live by the room (audio rooms).
    pub grants: Grants,
    /// The grants of its access token.
    pub token_grants: Grants,
    pub tracks: Vec<TrackInfo>,
    /// Tracks a publish answer named that the media plane has not announced yet, with
    /// the muted state the client wants for each (announced with it).
    pub unannounced: HashMap<TrackId, bool>,
    pub link: Link,
    /// Not announced to the room (WHEP players).
    pub hidden: bool,
    pub chat_limit: RateLimit,
    pub data_limit: RateLimit,
    pub board_limit: RateLimit,
    /// Requests the whole room hears of (`RateLimit::announce`).
    pub announce_limit: RateLimit,
    /// Its mutes of its own tracks (`RateLimit::own_mute`).
    pub mute_limit: RateLimit,
    /// The reliable data channel of its subscriber connection is open: messages for it go
    /// there rather than on signaling.
    pub data_channel: bool,
    /// How well its connection carries its media, as the room was last told.
    pub quality: Option<ConnectionQuality>,
    /// Its connection's latest numbers (sent to it every two seconds), for `/metrics`.
    pub stats: Option<NetworkStats>,
    /// Its audio tracks that carry speech now.
    pub speaking: Vec<TrackId>,
    /// Tracks a host muted and locked: it may not unmute them.
    pub locked_tracks: Vec<TrackId>,
    /// It asks to speak (audio rooms).
    pub hand_raised: bool,
    /// When it came, in milliseconds since the Unix epoch.
    pub joined_at: u64,
}

impl Participant {
    /// A participant with no tracks yet.
    pub fn new(identity: String, name: String, grants: Grants, link: Link, hidden: bool) -> Self {
        let now = Instant::now();
        Participant {
            id: ParticipantId::next(),
            identity,
            name,
            token_grants: grants.clone(),
            grants,
            tracks: Vec::new(),
            unannounced: HashMap::new(),
            link,
            hidden,
            chat_limit: RateLimit::chat(now),
            data_limit: RateLimit::data(now),
            board_limit: RateLimit::board(now),
            announce_limit: RateLimit::announce(now),
            mute_limit: RateLimit::own_mute(now),
            data_channel: false,
            quality: None,
            stats: None,
            speaking: Vec::new(),
            locked_tracks: Vec::new(),
            hand_raised: false,
            joined_at: unix_millis(),
        }
    }

    /// Host with the admin grant, viewer without publish, guest otherwise.
    pub fn role(&self) -> Role {
        if self.grants.room_admin {
            Role::Host
        } else if self.grants.can_publish {
            Role::Guest
        } else {
            Role::Viewer
        }
    }

    /// The participant as announced to others.
    pub fn info(&self) -> ParticipantInfo {
        ParticipantInfo {
            sid: self.id.to_string(),
            identity: self.identity.clone(),
            name: self.name.clone(),
            role: self.role(),
            tracks: self.tracks.clone(),
            hand_raised: self.hand_raised,
            quality: self.quality,
        }
    }

    /// Its sid, identity and name: how it appears as the author of a message or poll, or
    /// in the waiting room.
    pub fn sender(&self) -> Sender {
        Sender {
            sid: self.id.to_string(),
            identity: self.identity.clone(),
            name: self.name.clone(),
        }
    }

    /// Queues a message; a full queue disconnects the client.
    pub fn send(&self, text: &Arc<str>) {
        if let Link::Socket(outbox) = &self.link {
            outbox.push(text);
        }
    }

    /// Closes its signaling connection for good, after what was queued for it.
    pub fn disconnect(&self) {
        if let Link::Socket(outbox) = &self.link {
            outbox.end();
        }
    }
}
