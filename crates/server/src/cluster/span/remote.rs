//! The control planes' side of a link: the room's node commands the media of its
//! participants on the edge, the edge answers and tells it what happens to them.
//!
//! Messages are JSON ([`Control`]), carried beside the media on the link. A command that
//! expects a reply waits for it under a number; the link ending drops every wait, which
//! the caller sees as the media plane gone. Commands run on the edge in the order they
//! came, each in the edge's own room for the link.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use moim_media::command::{DeclaredTrack, Reply};
use moim_media::{Command, MediaError, MediaEvent, ParticipantId, PublishAnswer, RoomId, TrackId};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::state::AppState;

/// A media-plane command for a participant on the other node.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "c", rename_all = "snake_case")]
enum RemoteCommand {
    Publish {
        participant: ParticipantId,
        offer: String,
        sources: Option<Vec<DeclaredTrack>>,
    },
    Subscribe {
        participant: ParticipantId,
        data: bool,
    },
    SubscribeAnswer {
        participant: ParticipantId,
        answer: String,
    },
    RestartIce {
        participant: ParticipantId,
    },
    Mute {
        participant: ParticipantId,
        track: TrackId,
        muted: bool,
    },
    VideoSize {
        participant: ParticipantId,
        track: TrackId,
        width: u32,
        height: u32,
    },
    RemoveParticipant {
        participant: ParticipantId,
    },
    Unpublish {
        participant: ParticipantId,
    },
    SendData {
        participants: Vec<ParticipantId>,
        reliable: bool,
        text: String,
    },
}

impl RemoteCommand {
    /// The participant the command is about (`None`: data for several).
    fn participant(&self) -> Option<ParticipantId> {
        match self {
            RemoteCommand::Publish { participant, .. }
            | RemoteCommand::Subscribe { participant, .. }
            | RemoteCommand::SubscribeAnswer { participant, .. }
            | RemoteCommand::RestartIce { participant }
            | RemoteCommand::Mute { participant, .. }
            | RemoteCommand::VideoSize { participant, .. }
            | RemoteCommand::RemoveParticipant { participant }
            | RemoteCommand::Unpublish { participant } => Some(*participant),
            RemoteCommand::SendData { .. } => None,
        }
    }
}

/// What the control planes at the two ends of a link tell each other.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Control {
    /// The room's node: carry this out (and reply under `id`, when it has a reply).
    Command { id: u64, command: RemoteCommand },
    /// The edge: how command `id` went.
    Reply {
        id: u64,
        result: Result<serde_json::Value, MediaError>,
    },
    /// The edge: this happened to a participant the room's node commands.
    Event { event: MediaEvent },
}

/// A command's reply being waited for.
#[derive(Debug)]
enum Awaiting {
    Publish(Reply<PublishAnswer>),
    Done(Reply<()>),
}

/// The control side of one link. Clones share it.
#[derive(Debug, Clone)]
pub struct Remote {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    to_peer: mpsc::Sender<Vec<u8>>,
    awaiting: Mutex<HashMap<u64, Awaiting>>,
    next: AtomicU64,
    /// This node's media room for the link.
    room: RoomId,
    /// This node is the link's edge (it takes commands), not the room's node (which takes
    /// replies and events).
    edge: bool,
}

impl Remote {
    /// The control side of a link for this node's media room `room`, sending on
    /// `to_peer`; `edge` when this node is the link's edge.
    pub fn new(to_peer: mpsc::Sender<Vec<u8>>, room: RoomId, edge: bool) -> Remote {
        Remote {
            inner: Arc::new(Inner {
                to_peer,
                awaiting: Mutex::new(HashMap::new()),
                next: AtomicU64::new(1),
                room,
                edge,
            }),
        }
    }

    /// This node's media room for the link.
    pub fn room(&self) -> RoomId {
        self.inner.room
    }

    /// Whether `other` is this same link.
    pub fn same(&self, other: &Remote) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether the link ended.
    pub fn is_closed(&self) -> bool {
        self.inner.to_peer.is_closed()
    }

    fn send(&self, message: &Control) -> Result<(), MediaError> {
        let bytes = serde_json::to_vec(message).map_err(|_| MediaError::Closed)?;
        self.inner.to_peer.try_send(bytes).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => MediaError::Busy,
            mpsc::error::TrySendError::Closed(_) => MediaError::Closed,
        })
    }

    /// The edge: tells the room's node what happened to a participant it commands.
    pub fn event(&self, event: &MediaEvent) -> bool {
        let message = Control::Event {
            event: event.clone(),
        };
        self.send(&message).is_ok()
    }

    /// The room's node: sends `command`, about a participant whose media is at the other
    /// end; its reply, if it has one, comes when the other node answers.
    pub fn command(&self, command: Command) -> Result<(), MediaError> {
        let (command, awaiting) = match command {
            Command::Publish {
                participant,
                offer,
                sources,
                reply,
                ..
            } => (
                RemoteCommand::Publish {
                    participant,
                    offer,
                    sources,
                },
                Some(Awaiting::Publish(reply)),
            ),
            Command::Subscribe {
                participant, data, ..
            } => (RemoteCommand::Subscribe { participant, data }, None),
            Command::SubscribeAnswer {
                participant,
                answer,
                reply,
            } => (
                RemoteCommand::SubscribeAnswer {
                    participant,
                    answer,
                },
                Some(Awaiting::Done(reply)),
            ),
            Command::RestartIce { participant } => {
                (RemoteCommand::RestartIce { participant }, None)
            }
            Command::Mute {
                participant,
                track,
                muted,
            } => (
                RemoteCommand::Mute {
                    participant,
                    track,
                    muted,
                },
                None,
            ),
            Command::VideoSize {
                participant,
                track,
                width,
                height,
            } => (
                RemoteCommand::VideoSize {
                    participant,
                    track,
                    width,
                    height,
                },
                None,
            ),
            Command::RemoveParticipant { participant } => {
                (RemoteCommand::RemoveParticipant { participant }, None)
            }
            Command::Unpublish { participant } => (RemoteCommand::Unpublish { participant }, None),
            Command::SendData {
                participants,
                reliable,
                text,
            } => (
                RemoteCommand::SendData {
                    participants: participants.to_vec(),
                    reliable,
                    text: text.to_string(),
                },
                None,
            ),
            // This node's own media plane carries these out (`Media::send`): a tap takes
            // the mirrored frames here, players and the room's stream are this node's.
            Command::Tap { .. } | Command::Play { .. } | Command::Feature { .. } => {
                return Err(MediaError::UnknownSession);
            }
        };
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        if let Some(awaiting) = awaiting {
            self.awaiting().insert(id, awaiting);
        }
        let sent = self.send(&Control::Command { id, command });
        if sent.is_err() {
            self.awaiting().remove(&id);
        }
        sent
    }

    fn awaiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Awaiting>> {
        self.inner
            .awaiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a message from the other node's control plane: on the room's node, a reply
    /// completes the command waiting for it and an event about a participant whose media
    /// this link carries goes to `events` (the event pump); on the edge, a command runs
    /// on this node's media plane. False when it is none of these.
    pub fn receive(
        &self,
        bytes: &[u8],
        state: &Arc<AppState>,
        events: &mpsc::Sender<MediaEvent>,
    ) -> bool {
        let Ok(message) = serde_json::from_slice::<Control>(bytes) else {
            return false;
        };
        let edge = self.inner.edge;
        match message {
            Control::Reply { .. } | Control::Event { .. } if edge => return false,
            Control::Command { .. } if !edge => return false,
            Control::Reply { id, result } => {
                let Some(awaiting) = self.awaiting().remove(&id) else {
                    return true;
                };
                match awaiting {
                    Awaiting::Publish(reply) => {
                        let answer = result.and_then(|value| {
                            serde_json::from_value(value).map_err(|_| MediaError::Closed)
                        });
                        let _ = reply.send(answer);
                    }
                    Awaiting::Done(reply) => {
                        let _ = reply.send(result.map(|_| ()));
                    }
                }
            }
            Control::Event { event } => {
                let about = super::participant_of(&event);
                if !state.spans.placed(about).is_some_and(|r| r.same(self)) {
                    // Gone from the room already (its last events may trail it).
                    return true;
                }
                if events.try_send(event).is_err() {
                    warn!(
                        "the event pump is not keeping up; an event from another node was dropped"
                    );
                }
            }
            Control::Command { id, command } => self.run(id, command, state),
        }
        true
    }

    /// The edge: carries out command `id` on this node's media plane, in this link's room,
    /// for a participant this link brought (its publisher or subscriber connection opens
    /// one; other commands are for one opened).
    fn run(&self, id: u64, command: RemoteCommand, state: &Arc<AppState>) {
        let room = self.room();
        let media = &state.media;
        let ours = |p: &ParticipantId| state.spans.commands(*p, self);
        let sent = match command {
            RemoteCommand::Publish { .. } | RemoteCommand::Subscribe { .. } => Ok(()),
            RemoteCommand::SendData { .. } => Ok(()),
            ref other if !other.participant().is_some_and(|p| ours(&p)) => {
                Err(MediaError::UnknownSession)
            }
            _ => Ok(()),
        };
        if let Err(e) = sent {
            self.reply(id, Err(e));
            return;
        }
        let sent = match command {
            RemoteCommand::Publish {
                participant,
                offer,
                sources,
            } => {
                state.spans.control(participant, self);
                let (reply, answer) = oneshot::channel();
                let sent = media.send(Command::Publish {
                    room,
                    participant,
                    offer,
                    sources,
                    reply,
                });
                self.reply_later(id, answer, |a| serde_json::to_value(a).ok());
                sent
            }
            RemoteCommand::Subscribe { participant, data } => {
                state.spans.control(participant, self);
                media.send(Command::Subscribe {
                    room,
                    participant,
                    data,
                })
            }
            RemoteCommand::SubscribeAnswer {
                participant,
                answer,
            } => {
                let (reply, done) = oneshot::channel();
                let sent = media.send(Command::SubscribeAnswer {
                    participant,
                    answer,
                    reply,
                });
                self.reply_later(id, done, |()| Some(serde_json::Value::Null));
                sent
            }
            RemoteCommand::RestartIce { participant } => {
                media.send(Command::RestartIce { participant })
            }
            RemoteCommand::Mute {
                participant,
                track,
                muted,
            } => media.send(Command::Mute {
                participant,
                track,
                muted,
            }),
            RemoteCommand::VideoSize {
                participant,
                track,
                width,
                height,
            } => media.send(Command::VideoSize {
                participant,
                track,
                width,
                height,
            }),
            RemoteCommand::RemoveParticipant { participant } => {
                state.spans.release(participant);
                media.send(Command::RemoveParticipant { participant })
            }
            RemoteCommand::Unpublish { participant } => {
                media.send(Command::Unpublish { participant })
            }
            RemoteCommand::SendData {
                participants,
                reliable,
                text,
            } => {
                let participants: Vec<ParticipantId> =
                    participants.into_iter().filter(|p| ours(p)).collect();
                media.send(Command::SendData {
                    participants: participants.into(),
                    reliable,
                    text: text.into(),
                })
            }
        };
        if let Err(e) = sent {
            debug!("a command from the room's node failed here: {e}");
            self.reply(id, Err(e));
        }
    }

    /// Replies to command `id` once `answer` comes, as `value` makes it.
    fn reply_later<T: Send + 'static>(
        &self,
        id: u64,
        answer: oneshot::Receiver<Result<T, MediaError>>,
        value: impl FnOnce(T) -> Option<serde_json::Value> + Send + 'static,
    ) {
        let remote = self.clone();
        tokio::spawn(async move {
            let result = match answer.await {
                Ok(Ok(answer)) => value(answer).ok_or(MediaError::Closed),
                Ok(Err(e)) => Err(e),
                // The command never reached the media plane: its error was sent already.
                Err(_) => return,
            };
            remote.reply(id, result);
        });
    }

    fn reply(&self, id: u64, result: Result<serde_json::Value, MediaError>) {
        if self.send(&Control::Reply { id, result }).is_err() {
            debug!("a reply to the room's node could not be sent");
        }
    }
}
