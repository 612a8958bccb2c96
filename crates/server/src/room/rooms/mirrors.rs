//! Rooms across the nodes of a cluster: the lasting state each room writes to Redis and is
//! restored from when its node changes, and the mirrors of rooms running on another node
//! (for this node's players of them).

use std::time::Instant;

use moim_media::RoomId;

use super::Rooms;
use crate::room::Room;
use crate::room::snapshot::RoomSnapshot;

impl Rooms {
    /// The lasting state of the rooms whose state changed since the last call (or of
    /// every room with `all`).
    pub fn take_snapshots(&mut self, all: bool) -> Vec<(String, RoomSnapshot)> {
        let mut taken = Vec::new();
        for (name, room) in self.rooms.iter_mut().filter(|(_, r)| !r.mirror) {
            if all || std::mem::take(&mut room.changed) {
                let banned = self
                    .bans
                    .get(name)
                    .map(|b| b.iter().cloned().collect())
                    .unwrap_or_default();
                taken.push((name.clone(), room.snapshot(banned)));
            }
        }
        taken
    }

    /// Notes that the lasting state of `rooms` is still to be written.
    pub fn mark_changed<'a>(&mut self, rooms: impl Iterator<Item = &'a str>) {
        for name in rooms {
            if let Some(room) = self.rooms.get_mut(name) {
                room.changed = true;
            }
        }
    }

    /// Starts room `name` from `snapshot` unless it runs here already; it goes after the
    /// empty-room timeout if nobody comes.
    pub fn restore(&mut self, name: &str, snapshot: RoomSnapshot) {
        if let Some(room) = self.rooms.get_mut(name) {
            if room.mirror {
                room.take_over(snapshot);
            }
            return;
        }
        if !snapshot.banned.is_empty() {
            self.bans
                .entry(name.to_owned())
                .or_default()
                .extend(snapshot.banned.iter().cloned());
        }
        let mut room = Room::restored(snapshot);
        room.emptied_at = Some(Instant::now());
        self.start_room(name, room);
    }

    /// Makes sure room `name`, which runs on another node, has a mirror here for this
    /// node's players of it; false when the room runs here (nothing to mirror). A new
    /// mirror goes after the empty-room timeout if nobody comes.
    pub fn mirror(&mut self, name: &str) -> bool {
        let room = self.rooms.entry(name.to_owned()).or_insert_with(|| {
            let mut room = Room::new();
            room.mirror = true;
            room.emptied_at = Some(Instant::now());
            room
        });
        room.mirror
    }

    /// Room `name` as another node links itself with it to bring participants (made if it
    /// does not exist yet, going after the empty-room timeout if nobody comes): its media
    /// room. `None` when the room runs elsewhere (this node only mirrors it).
    pub fn linked(&mut self, name: &str) -> Option<RoomId> {
        if !self.rooms.contains_key(name) {
            let mut room = Room::new();
            room.emptied_at = Some(Instant::now());
            self.start_room(name, room);
        }
        let room = self.rooms.get(name)?;
        (!room.is_mirror()).then(|| room.id())
    }

    /// Gives mirror `name` the door of its room as the room's node last wrote it to Redis
    /// (`snapshot`): its settings, who was let in and its bans, so that the players here
    /// pass the same gate as on the room's node.
    pub fn mirror_door(&mut self, name: &str, snapshot: &RoomSnapshot) {
        let Some(room) = self.rooms.get_mut(name).filter(|r| r.mirror) else {
            return;
        };
        room.take_door(snapshot);
        self.bans
            .insert(name.to_owned(), snapshot.banned.iter().cloned().collect());
    }

    /// Room `name`, if mirrored here, now runs here: it stops being a mirror (its players
    /// stay). True when it was one.
    pub fn host(&mut self, name: &str) -> bool {
        self.rooms
            .get_mut(name)
            .is_some_and(|r| std::mem::take(&mut r.mirror))
    }
}
