//! Host moderation: muting another participant's track (the server stops forwarding it at
//! once; a lock keeps its owner from unmuting until the host allows it), removing a
//! participant (a ban keeps the identity out of the room, in the store, across restarts) and ending the meeting.
//! The host's signaling requests and the room API share these operations.

use moim_media::{ParticipantId, TrackId};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{ServerMessage, ServerReply};

use crate::room::Room;
use crate::room::participant::Participant;
use crate::state::AppState;

/// Mutes `track` of `target` in `room`, or with `muted: false` lifts a lock so the owner
/// may unmute (a host never turns someone's microphone or camera on).
pub fn mute_track(
    state: &AppState,
    room: &mut Room,
    target: ParticipantId,
    track: &str,
    muted: bool,
    lock: bool,
) -> Result<(), ApiError> {
    let unknown = || {
        ApiError::new(
            ErrorCode::UnknownTrack,
            format!("The participant has no published track \"{track}\"."),
        )
    };
    let track_id = TrackId::parse(track).ok_or_else(unknown)?;
    let p = room.roster().get(target).ok_or_else(no_participant)?;
    let Some(info) = p.tracks.iter().find(|t| t.sid == track) else {
        return Err(unknown());
    };
    if muted && !info.muted {
        room.set_track_muted(&state.media, target, track_id, true)?;
    }
    let p = room
        .roster_mut()
        .get_mut(target)
        .ok_or_else(no_participant)?;
    p.locked_tracks.retain(|t| *t != track_id);
    let locked = muted && lock;
    if locked {
        p.locked_tracks.push(track_id);
    }
    p.send(
        &ServerReply::event(ServerMessage::MutedByHost {
            track: track.to_owned(),
            muted,
            locked,
        })
        .to_json()
        .into(),
    );
    Ok(())
}

/// Removes `target` from room `room_name`, telling it why; with `ban` its identity cannot
/// join the room again.
pub fn remove(
    state: &AppState,
    room_name: &str,
    target: ParticipantId,
    ban: bool,
) -> Result<(), ApiError> {
    {
        let mut rooms = state.rooms();
        let room = rooms.room_mut(room_name).ok_or_else(no_participant)?;
        let p = room.roster().get(target).ok_or_else(no_participant)?;
        let identity = p.identity.clone();
        if ban {
            let sentence = "A host removed you from the meeting and you cannot join it again.";
            disconnect(p, ErrorCode::Banned, sentence);
        } else {
            disconnect(
                p,
                ErrorCode::Removed,
                "A host removed you from the meeting.",
            );
        }
        if ban {
            rooms.ban(room_name, &identity);
            keep_ban(state, room_name, &identity);
        }
    }
    state.remove_participant(target);
    Ok(())
}

/// Writes a ban to the store so that it outlives the server (a task: the rooms lock is
/// held).
fn keep_ban(state: &AppState, room_name: &str, identity: &str) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let store = state.accounts.store().clone();
    let (room, identity) = (room_name.to_owned(), identity.to_owned());
    runtime.spawn(async move {
        let now = i64::try_from(crate::state::unix_now()).unwrap_or(i64::MAX);
        if let Err(e) = store.add_ban(&room, &identity, now).await {
            tracing::warn!(room, identity, "cannot keep the ban: {e}");
        }
    });
}

/// Ends the meeting in `room_name`: everyone is told and disconnected.
pub fn end_meeting(state: &AppState, room_name: &str) -> Result<(), ApiError> {
    let everyone: Vec<ParticipantId> = {
        let mut rooms = state.rooms();
        let room = rooms.room_mut(room_name).ok_or_else(no_participant)?;
        room.end();
        for p in room.roster().iter().chain(room.lobby().waiting()) {
            disconnect(p, ErrorCode::MeetingEnded, "A host ended the meeting.");
        }
        let mut everyone = room.roster().ids();
        everyone.extend(room.lobby().waiting_ids());
        // A room no one is in goes now.
        rooms.note_if_empty(room_name);
        everyone
    };
    for id in everyone {
        state.remove_participant(id);
    }
    Ok(())
}

/// Sends `code` as the participant's last message and closes its signaling connection.
pub fn disconnect(p: &Participant, code: ErrorCode, sentence: &str) {
    p.send(
        &ServerReply::error(None, ApiError::new(code, sentence))
            .to_json()
            .into(),
    );
    p.disconnect();
}

fn no_participant() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "No such participant in this room.")
}
