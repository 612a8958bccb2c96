//! Turns media-plane events into room state and signaling messages.

use std::sync::Arc;

use moim_media::{Command, MediaEvent};
use moim_proto::signal::{
    LayerActive, RoomMode, ServerMessage, SubscribedMid, TrackInfo, TrackKind,
};
use tokio::sync::mpsc;
use tracing::debug;

use crate::room::chat;
use crate::room::participant::Link;
use crate::state::{AppState, unix_millis};
use crate::webhook::{Event, EventKind};

/// Consumes media events until the media plane stops: this node's, and those other nodes
/// report about this node's participants whose media they carry. Events about
/// participants whose room runs on another node go to that node.
pub async fn run(
    state: Arc<AppState>,
    mut events: mpsc::Receiver<MediaEvent>,
    mut from_nodes: mpsc::Receiver<MediaEvent>,
) {
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
            Some(event) = from_nodes.recv() => event,
        };
        if let Some(event) = state.spans.pass_event(event) {
            handle(&state, event);
        }
    }
}

fn handle(state: &AppState, event: MediaEvent) {
    match event {
        MediaEvent::TrackPublished {
            participant, track, ..
        } => {
            let mut rooms = state.rooms();
            let Some(room) = rooms.room_of_mut(participant) else {
                return;
            };
            let audio_room = room.settings().mode == RoomMode::Audio;
            let Some((p, recording)) = room.member_and_recording(participant) else {
                return;
            };
            // The client's latest word on muting wins over what the media plane knew
            // when it announced the track; audio rooms carry no video.
            let mut muted = p.unannounced.remove(&track.id).unwrap_or(track.muted);
            if track.kind == TrackKind::Video && audio_room {
                muted = true;
            }
            if muted != track.muted {
                let _ = state.media.send(Command::Mute {
                    participant,
                    track: track.id,
                    muted,
                });
            }
            let info = TrackInfo {
                sid: track.id.to_string(),
                kind: track.kind,
                source: track.source,
                muted,
                simulcast: track.simulcast,
            };
            p.tracks.push(info.clone());
            if let Some(recording) = recording.running_mut().filter(|_| !p.hidden) {
                let now = unix_millis();
                recording.track_published(&state.media, p, track.id, track.kind, track.source, now);
                recording.save();
            }
            let hidden = p.hidden;
            let publisher = p.info();
            room.tap_for_broadcast(&state.media, participant, track.id, track.kind);
            if !hidden
                && !room.is_mirror()
                && let Some(name) = rooms.room_name_of(participant)
            {
                let event = Event::new(EventKind::TrackPublished, name);
                state
                    .webhooks
                    .emit(event.participant(publisher).track(info.clone()));
            }
            let Some(room) = rooms.room_of_mut(participant) else {
                return;
            };
            if !hidden {
                room.broadcast(
                    None,
                    ServerMessage::TrackPublished {
                        participant: participant.to_string(),
                        track: info,
                    },
                );
            }
            room.refresh_stream(&state.media);
        }
        MediaEvent::TrackUnpublished {
            participant, track, ..
        } => {
            let mut rooms = state.rooms();
            let Some(room) = rooms.room_of_mut(participant) else {
                return;
            };
            let sid = track.to_string();
            room.set_speaking(&state.media, participant, track, false);
            if let Some(recording) = room.recording_mut().running_mut() {
                recording.track_unpublished(track, unix_millis());
                recording.save();
            }
            if let Some(broadcast) = room.broadcast_mut() {
                broadcast.track_unpublished(track);
            }
            let Some(p) = room.roster_mut().get_mut(participant) else {
                return;
            };
            let gone = p
                .tracks
                .iter()
                .position(|t| t.sid == sid)
                .map(|i| p.tracks.remove(i));
            p.unannounced.remove(&track);
            let told = (!p.hidden && !room.is_mirror())
                .then(|| room.roster().get(participant).map(|p| p.info()));
            if let (Some(track), Some(Some(publisher)), Some(name)) =
                (gone, told, rooms.room_name_of(participant))
            {
                let event = Event::new(EventKind::TrackUnpublished, name);
                state
                    .webhooks
                    .emit(event.participant(publisher).track(track));
            }
            let Some(room) = rooms.room_of_mut(participant) else {
                return;
            };
            room.broadcast(
                None,
                ServerMessage::TrackUnpublished {
                    participant: participant.to_string(),
                    track: sid,
                },
            );
            room.refresh_stream(&state.media);
        }
        MediaEvent::SubscriberOffer {
            participant,
            sdp,
            tracks,
        } => {
            let tracks = tracks
                .into_iter()
                .map(|(mid, track, publisher)| SubscribedMid {
                    mid,
                    track: track.to_string(),
                    participant: publisher.to_string(),
                })
                .collect();
            state
                .rooms()
                .send_to(participant, ServerMessage::SubscribeOffer { sdp, tracks });
        }
        MediaEvent::Speaking {
            participant,
            track,
            speaking,
        } => {
            if let Some(room) = state.rooms().room_of_mut(participant) {
                room.set_speaking(&state.media, participant, track, speaking);
            }
        }
        MediaEvent::ConnectionQuality {
            participant,
            quality,
            stats,
        } => {
            let mut rooms = state.rooms();
            let changed = rooms.participant_mut(participant).is_some_and(|p| {
                p.stats = Some(stats);
                p.quality.replace(quality) != Some(quality)
            });
            rooms.send_to(participant, ServerMessage::NetworkStats { stats });
            if changed && let Some(room) = rooms.room_of_mut(participant) {
                room.tell_quality(participant, quality);
            }
        }
        MediaEvent::LayersWanted {
            participant,
            track,
            layers,
        } => {
            let layers = layers
                .into_iter()
                .map(|(rid, active)| LayerActive {
                    rid: rid.map(|r| r.to_string()),
                    active,
                })
                .collect();
            let message = ServerMessage::PublishLayers {
                track: track.to_string(),
                layers,
            };
            state.rooms().send_to(participant, message);
        }
        MediaEvent::SubscriptionPaused {
            participant,
            publisher,
            track,
            paused,
        } => {
            let message = ServerMessage::SubscriptionPaused {
                participant: publisher.to_string(),
                track: track.to_string(),
                paused,
            };
            state.rooms().send_to(participant, message);
        }
        MediaEvent::DataChannel { participant, open } => {
            if let Some(p) = state.rooms().participant_mut(participant) {
                p.data_channel = open;
            }
        }
        MediaEvent::DataReceived { participant, text } => {
            chat::from_channel(state, participant, &text);
        }
        MediaEvent::DataUndelivered { participant, text } => {
            if let Some(p) = state.rooms().participant(participant) {
                p.send(&text);
            }
        }
        MediaEvent::SessionClosed {
            participant,
            session,
        } => {
            debug!(%participant, %session, "media session closed");
            let is_http = state
                .rooms()
                .participant(participant)
                .is_some_and(|p| matches!(p.link, Link::Http { .. }));
            if is_http {
                state.remove_participant(participant);
            }
        }
    }
}
