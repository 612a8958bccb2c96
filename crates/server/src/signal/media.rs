//! Signaling requests about the participant's own media: publishing, muting its tracks,
//! the size it renders remote video at.

use moim_media::command::DeclaredTrack;
use moim_media::{Command, MAX_TRACKS_PER_PUBLISHER, ParticipantId, TrackId};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{MidTrack, RoomMode, ServerMessage, TrackKind};

use super::Connection;
use crate::state::media_error;

impl Connection {
    pub(super) async fn publish(
        &mut self,
        participant: ParticipantId,
        sdp: String,
        tracks: Vec<moim_proto::signal::PublishedMid>,
    ) -> Result<ServerMessage, ApiError> {
        let room = {
            let rooms = self.state.rooms();
            let p = rooms
                .participant(participant)
                .ok_or_else(|| ApiError::new(ErrorCode::NotJoined, "You are not in a room."))?;
            if !p.grants.can_publish {
                return Err(ApiError::new(
                    ErrorCode::PermissionDenied,
                    "Your access token does not allow publishing.",
                ));
            }
            rooms
                .room_of(participant)
                .map(|r| r.id())
                .expect("participant has a room")
        };
        if tracks.len() > MAX_TRACKS_PER_PUBLISHER {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                format!("A participant publishes at most {MAX_TRACKS_PER_PUBLISHER} tracks."),
            ));
        }
        let sources = tracks
            .iter()
            .map(|t| DeclaredTrack {
                mid: t.mid.clone(),
                source: t.source,
                muted: t.muted,
            })
            .collect();
        let answer = self
            .state
            .media
            .request(|reply| Command::Publish {
                room,
                participant,
                offer: sdp,
                sources: Some(sources),
                reply,
            })
            .await
            .map_err(media_error)?;
        if let Some(p) = self.state.rooms().participant_mut(participant) {
            // Declared tracks that never became one are forgotten with the next answer.
            p.unannounced
                .retain(|track, _| answer.tracks.iter().any(|(_, t)| t == track));
            for (mid, track) in &answer.tracks {
                let known = p.tracks.iter().any(|t| t.sid == track.to_string());
                let muted = tracks.iter().any(|t| t.mid == *mid && t.muted);
                if !known {
                    p.unannounced.insert(*track, muted);
                }
            }
        }
        Ok(ServerMessage::PublishAnswer {
            sdp: answer.sdp,
            tracks: answer
                .tracks
                .into_iter()
                .map(|(mid, track)| MidTrack {
                    mid,
                    sid: track.to_string(),
                })
                .collect(),
        })
    }

    pub(super) fn mute(
        &self,
        participant: ParticipantId,
        track: &str,
        muted: bool,
    ) -> Result<Option<ServerMessage>, ApiError> {
        let mut rooms = self.state.rooms();
        let unknown = || {
            ApiError::new(
                ErrorCode::UnknownTrack,
                format!("You have no published track \"{track}\"."),
            )
        };
        let room = rooms.room_of_mut(participant).ok_or_else(unknown)?;
        let p = room.roster().get(participant).ok_or_else(unknown)?;
        let track_id = TrackId::parse(track).ok_or_else(unknown)?;
        let published = p.tracks.iter().find(|t| t.sid == track);
        if published.is_none() && !p.unannounced.contains_key(&track_id) {
            return Err(unknown());
        }
        if !muted && p.locked_tracks.contains(&track_id) {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "A host muted this track; you can unmute it once the host allows it.",
            ));
        }
        let video = published.is_some_and(|t| t.kind == TrackKind::Video);
        if !muted && video && room.settings().mode == RoomMode::Audio {
            return Err(audio_room_has_no_video());
        }
        room.set_track_muted(&self.state.media, participant, track_id, muted)?;
        Ok(None)
    }

    pub(super) fn video_size(
        &self,
        participant: ParticipantId,
        track: &str,
        width: u32,
        height: u32,
    ) -> Result<Option<ServerMessage>, ApiError> {
        let exists = self.state.rooms().room_of(participant).is_some_and(|room| {
            room.roster()
                .iter()
                .any(|p| p.tracks.iter().any(|t| t.sid == track))
        });
        // A participant whose media is on another node may be offered a track from a third
        // node before the room here hears of it (the two news travel different links);
        // that node's media plane knows its offers and passes over any other track.
        let exists = exists || self.state.spans.placed(participant).is_some();
        let track_id = TrackId::parse(track).filter(|_| exists).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownTrack,
                format!("There is no track \"{track}\" in this room."),
            )
        })?;
        self.state
            .media
            .send(Command::VideoSize {
                participant,
                track: track_id,
                width,
                height,
            })
            .map_err(media_error)?;
        Ok(None)
    }
}

/// The refusal of a camera or screen in an audio room.
pub fn audio_room_has_no_video() -> ApiError {
    ApiError::new(
        ErrorCode::PermissionDenied,
        "This is an audio room: cameras and screens stay off until a host makes it a meeting again.",
    )
}
