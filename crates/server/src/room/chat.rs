//! Chat and application data messages: their limits, per-participant rate limits, the
//! room's chat log (recent messages for newcomers, the transcript for the host) and
//! delivery to the whole room or to chosen identities.
//!
//! Messages travel over each participant's data channel (relayed by the media plane) once
//! it is open, over the signaling WebSocket otherwise; clients may send them either way.
//!
//! Direct messages reach only their recipients and the sender; they are kept out of the
//! history newcomers receive and out of the transcript.

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use moim_media::{Command, ParticipantId};

use crate::media::Media;
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{
    ChatMessage, ClientMessage, ClientRequest, PollInfo, ServerMessage, ServerReply,
};

use crate::room::Room;
use crate::room::polls;
use crate::state::{AppState, unix_millis};

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 4000;
/// Largest data payload, in bytes (fits one SCTP message of any WebRTC stack).
pub const MAX_DATA_BYTES: usize = 15 * 1024;
/// Longest data topic, in bytes.
pub const MAX_TOPIC_BYTES: usize = 64;
/// Chat messages a newcomer receives with `joined`.
pub const HISTORY_FOR_NEWCOMERS: usize = 100;
/// Chat messages the room keeps for its transcript; older ones are dropped.
pub const TRANSCRIPT_LIMIT: usize = 10_000;

/// A token bucket: `rate` messages per second on average, bursts of `burst`.
#[derive(Debug, Clone)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    /// Chat: 5 messages per second, bursts of 10.
    pub fn chat(now: Instant) -> RateLimit {
        RateLimit::new(5.0, 10.0, now)
    }

    /// Data: 60 messages per second (game input, a ticker), bursts of 120.
    pub fn data(now: Instant) -> RateLimit {
        RateLimit::new(60.0, 120.0, now)
    }

    /// Requests the whole room hears of (a raised hand, a mute, a host's settings): 5 per
    /// second, bursts of 10, so no one can flood everyone else with them.
    pub fn announce(now: Instant) -> RateLimit {
        RateLimit::new(5.0, 10.0, now)
    }

    /// Muting and unmuting one's own tracks (everyone hears of it): 10 per second, bursts
    /// of 20, more than any hand on a button.
    pub fn own_mute(now: Instant) -> RateLimit {
        RateLimit::new(10.0, 20.0, now)
    }

    /// Whiteboard: 50 messages per second (stroke segments and the pointer), bursts of 100.
    pub fn board(now: Instant) -> RateLimit {
        RateLimit::new(50.0, 100.0, now)
    }

    fn new(rate: f64, burst: f64, now: Instant) -> RateLimit {
        RateLimit {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes one message's token; false when the limit is reached.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// The limit in words, for error messages.
    pub fn describe(&self) -> String {
        format!(
            "at most {} per second (bursts of {})",
            self.rate, self.burst
        )
    }
}

/// The first id of a room's messages and polls: far beyond any id an earlier run of the
/// same room (before a restart) gave out, so that clients that stayed never take a new
/// message for one they have.
pub fn first_id() -> u64 {
    unix_millis() * 1000
}

/// A room's chat messages to everyone, oldest first.
#[derive(Debug)]
pub struct ChatLog {
    messages: VecDeque<ChatMessage>,
    next_id: u64,
}

impl Default for ChatLog {
    fn default() -> ChatLog {
        ChatLog {
            messages: VecDeque::new(),
            next_id: first_id(),
        }
    }
}

impl ChatLog {
    /// The id the next message gets.
    pub(super) fn take_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn keep(&mut self, message: ChatMessage) {
        if self.messages.len() == TRANSCRIPT_LIMIT {
            self.messages.pop_front();
        }
        self.messages.push_back(message);
    }

    /// The latest messages for a newcomer.
    pub fn recent(&self) -> Vec<ChatMessage> {
        let skip = self.messages.len().saturating_sub(HISTORY_FOR_NEWCOMERS);
        self.messages.iter().skip(skip).cloned().collect()
    }

    /// Every kept message.
    pub fn all(&self) -> impl Iterator<Item = &ChatMessage> {
        self.messages.iter()
    }

    /// The kept messages and the latest id given, for a snapshot.
    pub(super) fn parts(&self) -> (Vec<ChatMessage>, u64) {
        (self.messages.iter().cloned().collect(), self.next_id)
    }

    /// The log of a snapshot: its messages (the newest that fit), its ids going on.
    pub(super) fn from_parts(messages: Vec<ChatMessage>, next_id: u64) -> ChatLog {
        let skip = messages.len().saturating_sub(TRANSCRIPT_LIMIT);
        ChatLog {
            messages: messages.into_iter().skip(skip).collect(),
            next_id: next_id.max(first_id()),
        }
    }
}

/// What a chat or data message is checked against before it is delivered.
pub enum Outgoing {
    Chat {
        text: String,
    },
    Data {
        payload: String,
        topic: Option<String>,
        /// May travel on the lossy data channel.
        reliable: bool,
    },
}

impl Outgoing {
    fn check(&self) -> Result<(), ApiError> {
        match self {
            Outgoing::Chat { text } => {
                let chars = text.chars().count();
                if text.trim().is_empty() {
                    return Err(ApiError::new(
                        ErrorCode::MalformedMessage,
                        "A chat message needs some text.",
                    ));
                }
                if chars > MAX_CHAT_CHARS {
                    return Err(ApiError::new(
                        ErrorCode::MessageTooLarge,
                        format!(
                            "The chat message has {chars} characters; the limit is {MAX_CHAT_CHARS}."
                        ),
                    ));
                }
            }
            Outgoing::Data { payload, topic, .. } => {
                if payload.len() > MAX_DATA_BYTES {
                    return Err(ApiError::new(
                        ErrorCode::MessageTooLarge,
                        format!(
                            "The data payload is {} bytes; the limit is {MAX_DATA_BYTES}.",
                            payload.len()
                        ),
                    ));
                }
                if topic.as_ref().is_some_and(|t| t.len() > MAX_TOPIC_BYTES) {
                    return Err(ApiError::new(
                        ErrorCode::MessageTooLarge,
                        format!("A topic is at most {MAX_TOPIC_BYTES} bytes."),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Checks and delivers a message from participant `from` (or from the server API when
/// `None`) in `room`, to everyone else or to the identities in `to`. Returns the chat
/// message as delivered (for the sender's reply), `None` for data.
pub fn send(
    room: &mut Room,
    media: &Media,
    from: Option<ParticipantId>,
    outgoing: Outgoing,
    to: Vec<String>,
    now: Instant,
    unix_ms: u64,
) -> Result<Option<ChatMessage>, ApiError> {
    outgoing.check()?;
    let recipients = recipients(room, from, &to)?;
    let sender = match from {
        Some(id) => {
            let p = room
                .roster_mut()
                .get_mut(id)
                .ok_or_else(|| ApiError::new(ErrorCode::NotJoined, "You are not in a room."))?;
            if !p.grants.can_publish_data {
                return Err(ApiError::new(
                    ErrorCode::PermissionDenied,
                    "Your access token does not allow sending chat or data (data grant).",
                ));
            }
            let limit = match outgoing {
                Outgoing::Chat { .. } => &mut p.chat_limit,
                Outgoing::Data { .. } => &mut p.data_limit,
            };
            if !limit.take(now) {
                return Err(ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "Too many messages: {}. This one was not sent.",
                        limit.describe()
                    ),
                ));
            }
            Some(p.sender())
        }
        None => None,
    };
    let (message, chat, reliable) = match outgoing {
        Outgoing::Chat { text } => {
            let Some(from) = sender else {
                return Err(ApiError::new(
                    ErrorCode::PermissionDenied,
                    "Chat messages come from participants.",
                ));
            };
            let chat = ChatMessage {
                id: room.chat_mut().take_id(),
                ts: unix_ms,
                from,
                text,
                to,
            };
            if chat.to.is_empty() {
                room.chat_mut().keep(chat.clone());
            }
            (
                ServerMessage::Chat {
                    message: chat.clone(),
                },
                Some(chat),
                true,
            )
        }
        Outgoing::Data {
            payload,
            topic,
            reliable,
        } => (
            ServerMessage::Data {
                from: sender,
                payload,
                topic,
            },
            None,
            reliable,
        ),
    };
    deliver(
        room,
        media,
        &recipients,
        ServerReply::event(message),
        reliable,
    );
    Ok(chat)
}

/// Sends `reply` to `recipients`: on their data channels where open, else on signaling.
pub fn deliver(
    room: &Room,
    media: &Media,
    recipients: &[ParticipantId],
    reply: ServerReply,
    reliable: bool,
) {
    let text: Arc<str> = reply.to_json().into();
    let mut on_channel = Vec::new();
    for p in recipients.iter().filter_map(|id| room.roster().get(*id)) {
        if p.data_channel {
            on_channel.push(p.id);
        } else {
            p.send(&text);
        }
    }
    if on_channel.is_empty() {
        return;
    }
    let command = Command::SendData {
        participants: on_channel.clone().into(),
        reliable,
        text: text.clone(),
    };
    if media.send(command).is_err() {
        for p in on_channel.iter().filter_map(|id| room.roster().get(*id)) {
            p.send(&text);
        }
    }
}

/// A request a participant wrote on its data channel: chat and data are carried out, the
/// reply (the delivered chat message, or an error) goes back the same way.
pub fn from_channel(state: &AppState, participant: ParticipantId, text: &str) {
    let (id, result) = match ClientRequest::decode(text) {
        Err(e) => (e.id, Err(e.error)),
        Ok(ClientRequest { id, message }) => (id, channel_request(state, participant, message)),
    };
    let reply = match result {
        Ok(None) => return,
        Ok(Some(message)) => ServerReply {
            id,
            message: ServerMessage::Chat { message },
        },
        Err(error) => ServerReply::error(id, error),
    };
    let rooms = state.rooms();
    if let Some(room) = rooms.room_of(participant) {
        deliver(room, &state.media, &[participant], reply, true);
    }
}

fn channel_request(
    state: &AppState,
    participant: ParticipantId,
    message: ClientMessage,
) -> Result<Option<ChatMessage>, ApiError> {
    let (outgoing, to) = match message {
        ClientMessage::Chat { text, to } => (Outgoing::Chat { text }, to),
        ClientMessage::Data {
            payload,
            topic,
            to,
            reliable,
        } => (
            Outgoing::Data {
                payload,
                topic,
                reliable,
            },
            to,
        ),
        _ => {
            return Err(ApiError::new(
                ErrorCode::UnknownMessage,
                "Only chat and data messages travel on the data channel; send the others on the signaling WebSocket.",
            ));
        }
    };
    let mut rooms = state.rooms();
    let room = rooms
        .room_of_mut(participant)
        .ok_or_else(|| ApiError::new(ErrorCode::NotJoined, "You are not in a room."))?;
    send(
        room,
        &state.media,
        Some(participant),
        outgoing,
        to,
        Instant::now(),
        unix_millis(),
    )
}

/// Everyone in the room but the sender, or the participants with the identities in `to`
/// (each of which must be in the room).
fn recipients(
    room: &Room,
    from: Option<ParticipantId>,
    to: &[String],
) -> Result<Vec<ParticipantId>, ApiError> {
    if to.is_empty() {
        return Ok(room
            .roster()
            .iter()
            .filter(|p| Some(p.id) != from && !p.hidden)
            .map(|p| p.id)
            .collect());
    }
    to.iter()
        .map(|identity| {
            room.roster()
                .find_identity(identity)
                .filter(|p| !p.hidden)
                .map(|p| p.id)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::NotFound,
                        format!("No participant \"{identity}\" in this room; nothing was sent."),
                    )
                })
        })
        .collect()
}

/// The transcript as plain text: one line per message, `[YYYY-MM-DD HH:MM:SS UTC] name:
/// text`, and one per poll (with its results) at the time it was asked.
pub fn transcript_text(room_name: &str, log: &ChatLog, polls: &[PollInfo]) -> String {
    let mut lines: Vec<(u64, String)> = log
        .all()
        .map(|m| {
            let text = format!("{}: {}", m.from.name, m.text.replace('\n', "\n    "));
            (m.ts, text)
        })
        .chain(polls.iter().map(|p| (p.ts, polls::summary(p))))
        .collect();
    lines.sort_by_key(|(ts, _)| *ts);
    let mut out = format!("Chat of room {room_name}\n");
    for (ts, text) in lines {
        let _ = writeln!(out, "[{}] {text}", utc_time(ts));
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS UTC` for milliseconds since the Unix epoch.
fn utc_time(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use moim_proto::signal::Sender;

    #[test]
    fn rate_limit_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut limit = RateLimit::chat(start);
        for _ in 0..10 {
            assert!(limit.take(start));
        }
        assert!(!limit.take(start), "the burst is spent");
        assert!(
            limit.take(start + Duration::from_millis(200)),
            "one more after 1/5 s"
        );
        assert!(!limit.take(start + Duration::from_millis(210)));
    }

    #[test]
    fn utc_times_are_civil_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(1_795_000_000_000), "2026-11-18 11:06:40 UTC");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn log_keeps_the_latest_for_newcomers() {
        let mut log = ChatLog::default();
        for i in 0..150 {
            let id = log.take_id();
            log.keep(ChatMessage {
                id,
                ts: i,
                from: Sender {
                    sid: "PA_1".into(),
                    identity: "ada".into(),
                    name: "Ada".into(),
                },
                text: format!("m{i}"),
                to: vec![],
            });
        }
        let recent = log.recent();
        assert_eq!(recent.len(), HISTORY_FOR_NEWCOMERS);
        assert_eq!(recent[0].text, "m50");
        assert_eq!(log.all().count(), 150);
        let text = transcript_text("r", &log, &[]);
        assert!(text.starts_with("Chat of room r\n[1970-01-01 00:00:00 UTC] Ada: m0\n"));
    }
}
