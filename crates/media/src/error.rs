//! Why a media-plane command failed.

/// A command the media plane could not carry out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum MediaError {
    /// The offer or answer is not SDP that str0m can read; carries the parser's reason.
    #[error("the SDP could not be read: {0}")]
    InvalidSdp(String),
    /// The SDP was read but could not be accepted (no codec in common, say); carries
    /// str0m's reason.
    #[error("the SDP could not be negotiated: {0}")]
    Negotiation(String),
    /// A subscriber answer came while no offer of the server waits for one: a repeated or
    /// stale answer.
    #[error("there is no subscriber offer waiting for an answer")]
    NoPendingOffer,
    /// The participant has no session of the kind the command needs on its worker (an
    /// answer before the subscriber connection exists, or after it closed).
    #[error("the participant has no such connection (it may have closed; rejoin to get it back)")]
    UnknownSession,
    /// A play request found nobody with media to follow.
    #[error("nothing is being published to play")]
    NothingToPlay,
    /// A worker's command channel is full; the client may try again shortly.
    #[error("the media plane is overloaded; try again")]
    Busy,
    /// Every worker is shedding load (`overload.rs`) and takes no new participant; those
    /// already in carry on.
    #[error(
        "the server is at capacity: its media workers are shedding load to keep up; try again in a minute"
    )]
    Full,
    /// A worker is gone because the media plane is shutting down.
    #[error("the media plane is shutting down")]
    Closed,
}
