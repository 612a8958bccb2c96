//! What HLS viewers read: each room's latest broadcast, live or ended, with its ladder's
//! renditions. Kept apart from the rooms (and their lock) so that serving thousands of
//! viewers never touches a room, and so that a broadcast stays watchable after its room
//! is gone: an ended one is kept for [`KEEP_ENDED`], or until the room broadcasts again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{BroadcastInfo, BroadcastOutput};

use crate::broadcast::access;
use crate::broadcast::ladder::{LadderStats, Renditions};

/// How long an ended broadcast stays watchable.
pub const KEEP_ENDED: Duration = Duration::from_secs(3600);

/// One broadcast as its viewers reach it.
pub struct Playback {
    /// The broadcast: its id (`BC_…`) is the folder of its renditions in URLs; a public
    /// one anyone may watch, else only with a key ([`crate::broadcast::access`]).
    pub info: BroadcastInfo,
    renditions: Renditions,
    ended_at: Mutex<Option<Instant>>,
}

impl Playback {
    /// The playback of broadcast `id`, live.
    pub fn new(info: BroadcastInfo, renditions: Renditions) -> Playback {
        Playback {
            info,
            renditions,
            ended_at: Mutex::new(None),
        }
    }

    /// Whether anyone may watch it over HLS, without a key.
    pub fn is_public(&self) -> bool {
        self.info.public && self.info.outputs.contains(&BroadcastOutput::Hls)
    }

    /// Lets in a viewer of `room` with `key` (a path or query key) at `now` (Unix
    /// seconds): the broadcast's key, or none for a public one; else the refusal.
    pub fn let_in(
        &self,
        secret: &str,
        room: &str,
        key: Option<&str>,
        now: u64,
    ) -> Result<(), ApiError> {
        let open = match key {
            Some(key) => access::opens(secret, room, &self.info.id, key, now),
            None => self.is_public(),
        };
        if open {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::PermissionDenied,
            "This broadcast is private, and the key of this link is missing, wrong or expired; ask the host for a fresh link.",
        ))
    }

    /// The ladder's renditions.
    pub fn renditions(&self) -> &Renditions {
        &self.renditions
    }

    /// The broadcast stopped (its playlists end once the ladder has published the rest).
    pub fn end(&self) {
        self.ended().get_or_insert_with(Instant::now);
    }

    /// Whether the broadcast stopped.
    pub fn is_ended(&self) -> bool {
        self.ended().is_some()
    }

    fn ended(&self) -> MutexGuard<'_, Option<Instant>> {
        self.ended_at.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The rooms' latest broadcasts, by room name.
#[derive(Default)]
pub struct Playbacks {
    rooms: Mutex<HashMap<String, Arc<Playback>>>,
}

impl Playbacks {
    /// Makes `playback` the one viewers of `room` reach (an older one goes).
    pub fn insert(&self, room: &str, playback: Arc<Playback>) {
        self.lock().insert(room.to_owned(), playback);
    }

    /// The broadcast viewers of `room` reach now.
    pub fn get(&self, room: &str) -> Option<Arc<Playback>> {
        self.lock().get(room).cloned()
    }

    /// Forgets broadcasts that ended more than [`KEEP_ENDED`] ago.
    pub fn sweep(&self, now: Instant) {
        self.lock().retain(|_, p| {
            p.ended()
                .is_none_or(|at| now.saturating_duration_since(at) < KEEP_ENDED)
        });
    }

    /// The broadcasts that ended and are still kept, by room.
    pub fn ended(&self) -> Vec<(String, Arc<Playback>)> {
        self.lock()
            .iter()
            .filter(|(_, p)| p.is_ended())
            .map(|(room, p)| (room.clone(), p.clone()))
            .collect()
    }

    /// Broadcasts live now, and the frames of every broadcast kept (live or ended)
    /// added up.
    pub fn stats(&self) -> (usize, LadderStats) {
        let rooms = self.lock();
        let live = rooms.values().filter(|p| !p.is_ended()).count();
        let total = rooms.values().fold(LadderStats::default(), |sum, p| {
            let s = p.renditions.stats();
            LadderStats {
                fed: sum.fed + s.fed,
                dropped: sum.dropped + s.dropped,
                refused: sum.refused + s.refused,
            }
        });
        (live, total)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Playback>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for Playbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playbacks")
            .field("rooms", &self.lock().len())
            .finish()
    }
}
