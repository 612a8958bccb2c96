//! Why a media-plane command failed.

/// A command the media plane could not carry out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("the SDP could not be read: {0}")]
    InvalidSdp(String),
    #[error("the SDP could not be negotiated: {0}")]
    Negotiation(String),
    #[error("there is no subscriber offer waiting for an answer")]
    NoPendingOffer,
    #[error("the participant has no such session")]
    UnknownSession,
    #[error("nothing is being published to play")]
    NothingToPlay,
    #[error("the media plane is overloaded; try again")]
    Busy,
    #[error("the media plane is shutting down")]
    Closed,
}
