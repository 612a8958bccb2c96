//! Who gets into a room and who may speak in it: the lock, the waiting room (hosts admit
//! or reject each newcomer), the settings hosts change, and in audio rooms raised hands and
//! speakers promoted or demoted live, without anyone rejoining. Signaling and the room API
//! share these operations.

use moim_media::{Command, ParticipantId, TrackId};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{ParticipantInfo, RoomMode, RoomSettings, ServerMessage, TrackKind};
use moim_proto::token::Grants;

use crate::room::lobby::SettingsChange;
use crate::room::moderation::disconnect;
use crate::room::participant::Participant;
use crate::room::{Entry, Joined, Room, no_one_in};
use crate::state::{AppState, media_error};

/// Brings a newcomer into `room_name` through its gate: the reply is `joined`, or
/// `waiting` while a host decides.
pub fn enter(
    state: &AppState,
    room_name: &str,
    participant: Participant,
) -> Result<ServerMessage, ApiError> {
    let id = participant.id;
    let grants = participant.grants.clone();
    let info = participant.info();
    // A newcomer the media plane cannot take is told so before anyone sees it come.
    state.media.admit(id).map_err(media_error)?;
    let entry = state.rooms().enter(room_name, participant)?;
    match entry {
        Entry::Waiting => Ok(ServerMessage::Waiting {
            room: room_name.to_owned(),
            participant: info,
        }),
        Entry::Joined(joined) => arrive(state, room_name, id, &grants, *joined),
    }
}

/// Finishes a join: the participant it replaced loses its media, the newcomer gets its
/// subscriber connection.
fn arrive(
    state: &AppState,
    room_name: &str,
    id: ParticipantId,
    grants: &Grants,
    mut joined: Joined,
) -> Result<ServerMessage, ApiError> {
    if let Some(old) = joined.replaced.take() {
        state.release_media(old.id);
        // The one replaced may have been the room's stream.
        if let Some(room) = state.rooms().room_mut(room_name) {
            room.refresh_stream(&state.media);
        }
    }
    if grants.can_subscribe {
        let subscribed = state.media.send(Command::Subscribe {
            room: joined.room,
            participant: id,
            data: grants.can_publish_data,
        });
        if let Err(e) = subscribed {
            // In the room without media is no way to be in it.
            state.remove_participant(id);
            return Err(media_error(e));
        }
    }
    let ice_servers = state.ice.for_identity(&joined.me.identity);
    Ok(joined.message(room_name, ice_servers))
}

/// Lets `target` in from the waiting room; it receives `joined`.
pub fn admit(state: &AppState, room_name: &str, target: ParticipantId) -> Result<(), ApiError> {
    let (joined, grants) = {
        let mut rooms = state.rooms();
        let p = rooms
            .take_waiting(room_name, target)
            .ok_or_else(not_waiting)?;
        let grants = p.grants.clone();
        (rooms.join(room_name, p), grants)
    };
    let message = arrive(state, room_name, target, &grants, joined)?;
    state.rooms().send_to(target, message);
    Ok(())
}

/// Turns `target` away from the waiting room with the error `rejected`.
pub fn reject(state: &AppState, room_name: &str, target: ParticipantId) -> Result<(), ApiError> {
    let mut rooms = state.rooms();
    let p = rooms
        .take_waiting(room_name, target)
        .ok_or_else(not_waiting)?;
    disconnect(
        &p,
        ErrorCode::Rejected,
        "A host did not let you into the meeting.",
    );
    rooms.note_if_empty(room_name);
    Ok(())
}

/// Changes the settings of `room_name` and tells everyone. Turning the waiting room off
/// lets everyone waiting in; changing the mode changes who may publish.
pub fn change_settings(
    state: &AppState,
    room_name: &str,
    change: SettingsChange,
) -> Result<RoomSettings, ApiError> {
    let (settings, let_in) = {
        let mut rooms = state.rooms();
        let room = rooms
            .room_mut(room_name)
            .ok_or_else(|| no_one_in(room_name))?;
        let settings = room.lobby_mut().change(change);
        for id in room.roster().ids() {
            update_publishing(state, room, id, false);
        }
        if settings.mode == RoomMode::Audio {
            turn_off_video(state, room);
        }
        room.broadcast(None, ServerMessage::RoomSettings { settings });
        let let_in: Vec<ParticipantId> = if settings.waiting_room {
            Vec::new()
        } else {
            room.lobby().waiting_ids()
        };
        (settings, let_in)
    };
    for id in let_in {
        admit(state, room_name, id)?;
    }
    Ok(settings)
}

/// Makes `target` a speaker of the audio room (it may publish at once, on the connection
/// it has) or a listener again (its tracks stop being forwarded).
pub fn set_speaker(
    state: &AppState,
    room: &mut Room,
    target: ParticipantId,
    speaker: bool,
) -> Result<(), ApiError> {
    if room.settings().mode != RoomMode::Audio {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "Speakers and listeners belong to audio rooms; switch the room to audio first.",
        ));
    }
    let p = room
        .roster_mut()
        .get_mut(target)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "No such participant in this room."))?;
    if p.grants.room_admin {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "Hosts always speak in an audio room.",
        ));
    }
    let identity = p.identity.clone();
    if speaker {
        p.hand_raised = false;
    }
    room.lobby_mut().set_speaker(&identity, speaker);
    update_publishing(state, room, target, true);
    Ok(())
}

/// What a host or the server API changes about a participant live; absent fields stay.
#[derive(Debug, Default, Clone)]
pub struct ParticipantChange {
    pub name: Option<String>,
    pub can_publish: Option<bool>,
    pub can_publish_data: Option<bool>,
    pub room_admin: Option<bool>,
    pub room_record: Option<bool>,
}

/// Changes a participant's name and grants as if its token had said so, and tells the
/// room. One who may no longer publish has its tracks unpublished at once; one who may
/// now publishes on the connection it has (in an audio room, only as a host or a speaker
/// a host chose); a new host is told who waits.
pub fn update_participant(
    state: &AppState,
    room: &mut Room,
    target: ParticipantId,
    change: ParticipantChange,
) -> Result<ParticipantInfo, ApiError> {
    if let Some(name) = &change.name {
        moim_proto::names::check_name(name)?;
    }
    let p = room
        .roster_mut()
        .get_mut(target)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "No such participant in this room."))?;
    if let Some(name) = change.name {
        p.name = name;
    }
    let token = &mut p.token_grants;
    token.can_publish = change.can_publish.unwrap_or(token.can_publish);
    token.can_publish_data = change.can_publish_data.unwrap_or(token.can_publish_data);
    token.room_admin = change.room_admin.unwrap_or(token.room_admin);
    token.room_record = change.room_record.unwrap_or(token.room_record);
    let became_host = !p.grants.room_admin && token.room_admin;
    p.grants = Grants {
        can_publish: p.grants.can_publish,
        ..token.clone()
    };
    update_publishing(state, room, target, true);
    if became_host {
        room.tell_hosts_waiting();
    }
    room.roster()
        .get(target)
        .map(|p| p.info())
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "No such participant in this room."))
}

/// Raises or lowers the hand of `participant` and tells the room.
pub fn raise_hand(room: &mut Room, participant: ParticipantId, raised: bool) {
    let Some(p) = room.roster_mut().get_mut(participant) else {
        return;
    };
    if p.hand_raised == raised {
        return;
    }
    p.hand_raised = raised;
    let participant = p.info();
    room.broadcast(None, ServerMessage::ParticipantUpdated { participant });
}

/// Applies the room's mode to what `id` may publish. Someone who loses the right has its
/// publisher connection closed at once (its tracks unpublished for everyone); someone who
/// gains it may publish on the signaling connection it has. The room hears of it when that
/// changed, or always with `announce`.
fn update_publishing(state: &AppState, room: &mut Room, id: ParticipantId, announce: bool) {
    let Some((could, can, info)) = room.regrant(id) else {
        return;
    };
    let announce = (announce || could != can).then_some(info);
    if could && !can {
        let _ = state.media.send(Command::Unpublish { participant: id });
    }
    if let Some(participant) = announce {
        room.broadcast(None, ServerMessage::ParticipantUpdated { participant });
    }
}

/// Audio rooms carry voices only: every camera and screen still published is muted (its
/// owner's app unpublishes it when it hears the room became an audio room).
fn turn_off_video(state: &AppState, room: &mut Room) {
    let video: Vec<(ParticipantId, TrackId)> = room
        .roster()
        .iter()
        .flat_map(|p| {
            p.tracks
                .iter()
                .filter(|t| t.kind == TrackKind::Video && !t.muted)
                .filter_map(|t| TrackId::parse(&t.sid))
                .map(move |t| (p.id, t))
        })
        .collect();
    for (participant, track) in video {
        if let Err(e) = room.set_track_muted(&state.media, participant, track, true) {
            tracing::warn!(%track, "could not turn a video off in an audio room: {}", e.message);
        }
    }
}

fn not_waiting() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "No one with that id is in the waiting room.",
    )
}
