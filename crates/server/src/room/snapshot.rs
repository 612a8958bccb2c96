//! What of a room outlives the node it runs on when nodes share rooms: its chat, polls,
//! board, settings, who was admitted or made a speaker, and its bans. The room's node
//! keeps it in Redis as it changes (with every heartbeat); a node that takes the room over,
//! after its node died or drained, starts the room from it, so the people who come back
//! find the room as they left it.

use moim_proto::signal::{BoardStroke, ChatMessage, PollInfo, RoomSettings};
use serde::{Deserialize, Serialize};

use crate::room::Room;
use crate::room::board::Board;
use crate::room::chat::ChatLog;
use crate::room::lobby::Lobby;
use crate::room::polls::Polls;

/// A room's lasting state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoomSnapshot {
    /// Chat messages to everyone, oldest first, and the latest id given.
    pub chat: Vec<ChatMessage>,
    pub chat_id: u64,
    /// Polls with the identities that voted, oldest first, and the latest id given.
    pub polls: Vec<(PollInfo, Vec<String>)>,
    pub poll_id: u64,
    /// The board's strokes, bottom first.
    pub board: Vec<BoardStroke>,
    pub settings: RoomSettings,
    /// Identities let in, who pass the lock and the waiting room when they come back.
    pub admitted: Vec<String>,
    /// Identities made speakers of an audio room.
    pub speakers: Vec<String>,
    /// Identities a host removed with a ban.
    pub banned: Vec<String>,
    /// The id of the server recording running then, if one was: a node that takes the
    /// room over after a crash marks it interrupted (its files are readable as they are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
}

impl Room {
    /// The room's lasting state, with its `banned` identities (kept by [`super::Rooms`]).
    pub fn snapshot(&self, banned: Vec<String>) -> RoomSnapshot {
        let (chat, chat_id) = self.chat.parts();
        let (admitted, speakers) = self.lobby.parts();
        RoomSnapshot {
            chat,
            chat_id,
            polls: self.polls.all_with_voters(),
            poll_id: self.polls.next_id(),
            board: self.board.strokes(),
            settings: self.lobby.settings(),
            admitted,
            speakers,
            banned,
            recording: self.recording.running().map(|r| r.info.id.clone()),
        }
    }

    /// An empty room that goes on from `snapshot` (its bans go to [`super::Rooms`]).
    pub fn restored(snapshot: RoomSnapshot) -> Room {
        let mut room = Room::new();
        room.take_over(snapshot);
        room
    }

    /// Goes on from `snapshot`: its chat, polls, board and door (a mirror whose room now
    /// runs here keeps its players).
    pub fn take_over(&mut self, snapshot: RoomSnapshot) {
        self.mirror = false;
        self.chat = ChatLog::from_parts(snapshot.chat, snapshot.chat_id);
        self.polls = Polls::from_parts(snapshot.polls, snapshot.poll_id);
        self.board = Board::from_strokes(snapshot.board);
        self.lobby = Lobby::from_parts(snapshot.settings, snapshot.admitted, snapshot.speakers);
    }

    /// Takes the door of `snapshot` (settings, who was let in, speakers) and nothing else.
    pub fn take_door(&mut self, snapshot: &RoomSnapshot) {
        self.lobby = Lobby::from_parts(
            snapshot.settings,
            snapshot.admitted.clone(),
            snapshot.speakers.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use moim_proto::signal::{BoardTool, PollOption, RoomMode, Sender};

    use super::*;

    #[test]
    fn a_restored_room_has_what_its_snapshot_had_and_its_ids_go_on() {
        let ada = Sender {
            sid: "PA_1".into(),
            identity: "ada".into(),
            name: "Ada".into(),
        };
        let far = u64::MAX / 4;
        let snapshot = RoomSnapshot {
            chat: vec![ChatMessage {
                id: far,
                ts: 1,
                from: ada.clone(),
                text: "hello".into(),
                to: Vec::new(),
            }],
            chat_id: far,
            polls: vec![(
                PollInfo {
                    id: far,
                    ts: 2,
                    from: ada,
                    question: "tea?".into(),
                    options: vec![
                        PollOption {
                            text: "yes".into(),
                            votes: 1,
                        },
                        PollOption {
                            text: "no".into(),
                            votes: 0,
                        },
                    ],
                    closed: false,
                },
                vec!["ada".into()],
            )],
            poll_id: far,
            board: vec![BoardStroke {
                id: "PA_1.1".into(),
                by: "ada".into(),
                tool: BoardTool::Pen,
                color: "#000000".into(),
                width: 4,
                points: vec![0, 0, 10, 10],
                done: true,
            }],
            settings: RoomSettings {
                locked: true,
                mode: RoomMode::Audio,
                ..RoomSettings::default()
            },
            admitted: vec!["ada".into()],
            speakers: vec!["grace".into()],
            banned: vec!["mallory".into()],
            recording: None,
        };
        let mut room = Room::restored(snapshot.clone());
        assert_eq!(room.snapshot(vec!["mallory".into()]), snapshot);
        assert!(
            room.chat_mut().take_id() > far,
            "new messages come after the old"
        );
        let err = room
            .polls
            .vote(far, 0, "ada")
            .expect_err("ada voted before the room moved");
        assert_eq!(err.code, moim_proto::ErrorCode::Conflict);
    }

    #[test]
    fn a_mirror_is_not_hosted_until_its_room_comes_here_and_then_goes_on_from_its_state() {
        use crate::room::participant::{Link, Participant};
        use crate::room::rooms::Rooms;
        use moim_proto::token::{GrantPreset, Grants};

        let mut rooms = Rooms::new(std::time::Duration::from_secs(60), Default::default());
        assert!(rooms.mirror("show"));
        let player = Participant::new(
            "viewer~1".into(),
            "Viewer".into(),
            Grants::preset("show", GrantPreset::Viewer),
            Link::Http {
                resource: "r1".into(),
            },
            true,
        );
        rooms.join("show", player);
        assert!(
            !rooms.contains("show"),
            "a mirror is not a room hosted here"
        );
        assert!(rooms.names().is_empty(), "nor placed here at a heartbeat");
        assert!(
            rooms.take_snapshots(true).is_empty(),
            "nor written to Redis"
        );

        let snapshot = RoomSnapshot {
            chat_id: 7,
            settings: RoomSettings {
                locked: true,
                ..RoomSettings::default()
            },
            ..RoomSnapshot::default()
        };
        rooms.restore("show", snapshot);
        assert!(rooms.contains("show"), "the room runs here now");
        assert!(!rooms.mirror("show"), "and is no mirror any more");
        let room = rooms.room("show").expect("kept");
        assert_eq!(room.roster().iter().count(), 1, "its player stays");
        assert!(room.lobby().settings().locked, "its state came with it");
        assert_eq!(rooms.names(), vec!["show".to_owned()]);
    }
}
