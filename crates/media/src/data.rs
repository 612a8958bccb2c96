//! Data channels of subscriber sessions: the server offers two on every subscriber
//! connection, `moim` (reliable, ordered) and `moim-lossy` (unordered, no retransmission).
//! Text messages clients write on them go to the control plane (chat and data requests of
//! the signaling protocol); the control plane's messages for participants go out on them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::SdpApi;
use str0m::channel::{ChannelConfig, ChannelData, ChannelId, Reliability};
use tracing::debug;

use crate::event::MediaEvent;
use crate::ids::{ParticipantId, SessionId};
use crate::router::Router;
use crate::session::SessionRole;

/// Label of the reliable, ordered channel every subscriber connection carries.
pub const RELIABLE_CHANNEL: &str = "moim";
/// Label of the channel for messages that may be lost rather than delayed.
pub const LOSSY_CHANNEL: &str = "moim-lossy";
/// Largest message taken from a client; the control plane's limits are smaller.
pub const MAX_CHANNEL_MESSAGE: usize = 64 * 1024;
/// Events waiting for the control plane beyond which clients' data messages are dropped.
pub const MAX_WAITING_EVENTS: usize = 4096;
/// Messages per second taken from one client's channels; the rest are dropped here, so a
/// flood cannot fill the event queue the control plane shares with every session. (The
/// control plane's own limits are lower and answer with `rate_limited`.)
pub const MAX_CHANNEL_MESSAGES_PER_SECOND: u32 = 200;

/// The open data channels of a subscriber session.
#[derive(Debug, Default, Clone, Copy)]
pub struct DataChannels {
    /// The `moim` channel once the client opened it; until then the participant's messages
    /// go on signaling.
    pub reliable: Option<ChannelId>,
    /// The `moim-lossy` channel once open; until then lossy messages take the reliable one.
    pub lossy: Option<ChannelId>,
    /// The current one-second window of received messages and their count.
    window: Option<(Instant, u32)>,
}

impl DataChannels {
    /// Counts a received message; false when the client is over its budget.
    fn admit(&mut self, now: Instant) -> bool {
        match &mut self.window {
            Some((start, count))
                if now.saturating_duration_since(*start) < Duration::from_secs(1) =>
            {
                *count += 1;
                *count <= MAX_CHANNEL_MESSAGES_PER_SECOND
            }
            _ => {
                self.window = Some((now, 1));
                true
            }
        }
    }
}

/// Adds both channels to an offer.
pub(crate) fn offer_channels(api: &mut SdpApi) {
    api.add_channel(RELIABLE_CHANNEL.into());
    api.add_channel_with_config(ChannelConfig {
        label: LOSSY_CHANNEL.into(),
        ordered: false,
        reliability: Reliability::MaxRetransmits { retransmits: 0 },
        ..Default::default()
    });
}

impl Router {
    /// A channel of session `id` opened; the reliable one makes the participant reachable.
    pub(crate) fn channel_opened(&mut self, id: SessionId, channel: ChannelId, label: &str) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if session.role != SessionRole::Subscriber {
            return;
        }
        match label {
            RELIABLE_CHANNEL => {
                session.channels.reliable = Some(channel);
                self.pending.announce(MediaEvent::DataChannel {
                    participant: session.participant,
                    open: true,
                });
            }
            LOSSY_CHANNEL => session.channels.lossy = Some(channel),
            _ => debug!(session = %id, label, "unknown data channel ignored"),
        }
    }

    /// A channel of session `id` closed.
    pub(crate) fn channel_closed(&mut self, id: SessionId, channel: ChannelId) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if session.channels.lossy == Some(channel) {
            session.channels.lossy = None;
        }
        if session.channels.reliable == Some(channel) {
            session.channels.reliable = None;
            self.pending.announce(MediaEvent::DataChannel {
                participant: session.participant,
                open: false,
            });
        }
    }

    /// A message from a client on one of its subscriber channels.
    pub(crate) fn channel_data(&mut self, now: Instant, id: SessionId, data: ChannelData) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let ours = [session.channels.reliable, session.channels.lossy].contains(&Some(data.id));
        let admitted = session.channels.admit(now);
        if !ours || !admitted || data.binary || data.data.len() > MAX_CHANNEL_MESSAGE {
            debug!(session = %id, bytes = data.data.len(), "data channel message refused");
            self.stats.rejected_datagrams += 1;
            return;
        }
        let Ok(text) = String::from_utf8(data.data) else {
            self.stats.rejected_datagrams += 1;
            return;
        };
        // Events wait here while the control plane is behind; clients' messages are the
        // ones that may pile up, so beyond a bound they go (state changes never do).
        if !self.pending.room_for_messages() {
            self.stats.events_dropped += 1;
            return;
        }
        self.pending.announce(MediaEvent::DataReceived {
            participant: session.participant,
            text,
        });
    }

    /// Writes `text` to the subscriber channel of each of `participants` that this worker
    /// holds (on the lossy channel when `reliable` is false and it is open). When a
    /// channel's buffer is full, a reliable message goes back to the control plane to be
    /// sent on signaling ([`MediaEvent::DataUndelivered`]), unless the control plane is far
    /// behind; a lossy one is dropped. Both are counted.
    pub(crate) fn send_data(
        &mut self,
        participants: &[ParticipantId],
        reliable: bool,
        text: &Arc<str>,
    ) {
        for participant in participants {
            let Some(id) = self
                .participants
                .get(participant)
                .and_then(|p| p.subscriber)
            else {
                continue;
            };
            let Some(session) = self.sessions.get_mut(&id) else {
                continue;
            };
            let channels = session.channels;
            let lossy = if reliable { None } else { channels.lossy };
            let Some(channel) = lossy.or(channels.reliable) else {
                continue;
            };
            let written = match session.rtc.channel(channel) {
                Some(mut channel) => channel.write(false, text.as_bytes()).unwrap_or_else(|e| {
                    debug!(session = %id, "data channel write failed: {e}");
                    false
                }),
                None => false,
            };
            self.pending.poll(session);
            if written {
                continue;
            }
            if lossy.is_some() || !self.pending.room_for_messages() {
                self.stats.data_dropped += 1;
            } else {
                self.stats.data_to_signaling += 1;
                self.pending.announce(MediaEvent::DataUndelivered {
                    participant: *participant,
                    text: text.clone(),
                });
            }
        }
    }
}
