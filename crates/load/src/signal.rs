//! What a participant's media side (`peer.rs`) and its signaling say to each other, and which
//! signaling to run: Moim's WebSocket protocol (`moim_signal.rs`), a Janus videoroom over
//! HTTP (`janus_signal.rs`), or WHEP for a player of a Moim room's stream (`whep_signal.rs`).
//! The two run side by side and talk through channels, so the media
//! loop never waits on the server's HTTP or WebSocket traffic.

use str0m::media::{MediaKind, Mid};
use tokio::sync::mpsc::{Receiver, Sender};

use crate::janus_signal::JanusSignal;
use crate::moim_signal::MoimSignal;
use crate::whep_signal::WhepSignal;

/// Capacity of either channel. Offers and answers alternate, so at most a couple of messages
/// are ever in flight.
pub const CHANNEL: usize = 8;

/// From the signaling to the media side.
#[derive(Debug)]
pub enum ToMedia {
    /// The server let the participant in; others already in the room and their tracks.
    Joined { participants: usize, tracks: usize },
    /// The server's media worker that holds the participant's sessions (Moim).
    Placed { worker: usize },
    /// The server's answer to the publisher connection's offer.
    PublishAnswer(String),
    /// The server's offer for the subscriber connection (first or renegotiated).
    SubscribeOffer(String),
    /// Offer to play the room's stream (WHEP: the client offers).
    OfferToPlay,
    /// The server's answer to the play offer.
    PlayAnswer(String),
}

/// From the media side to the signaling.
#[derive(Debug)]
pub enum ToSignaling {
    /// The publisher connection's offer and what each of its m-lines sends.
    PublishOffer {
        sdp: String,
        tracks: Vec<(Mid, MediaKind)>,
    },
    /// The answer to the last subscribe offer, and the video m-lines of that offer.
    SubscribeAnswer { sdp: String, video: Vec<Mid> },
    /// The subscriber connection's offer to play the room's stream (WHEP).
    PlayOffer(String),
    /// Time is up.
    Leave,
}

/// A participant's signaling, for one of the servers under test.
pub enum Signaling {
    Moim(MoimSignal),
    Janus(JanusSignal),
    Whep(WhepSignal),
}

impl Signaling {
    /// Runs until the media side leaves or goes away (`Ok`) or the signaling fails (`Err`).
    pub async fn run(
        self,
        to_media: Sender<ToMedia>,
        from_media: Receiver<ToSignaling>,
    ) -> anyhow::Result<()> {
        match self {
            Signaling::Moim(s) => s.run(to_media, from_media).await,
            Signaling::Janus(s) => s.run(to_media, from_media).await,
            Signaling::Whep(s) => s.run(to_media, from_media).await,
        }
    }
}
