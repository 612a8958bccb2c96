//! What workers tell each other: a room may span workers, so a track published on one
//! worker is mirrored on the others, its frames fan out to every worker with receivers in
//! the room, and keyframe requests travel back to the publisher's worker.
//!
//! Datagrams can land on the wrong worker too: every worker reads its own socket of the
//! shared port (`SO_REUSEPORT`), and the kernel picks the socket by the remote address, not
//! by the session's worker. Such datagrams are handed to their worker in batches, one
//! buffer per batch. The [`crate::router::Router`] produces and consumes these messages
//! without IO; the worker loop carries them over bounded channels.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use moim_proto::signal::{TrackKind, TrackSource};
use str0m::format::PayloadParams;
use str0m::media::{MediaData, MediaTime, Rid};

use crate::ids::{ParticipantId, RoomId, TrackId};
use crate::router::Router;
use crate::track::Track;

/// A media worker: one thread with its own socket and [`crate::router::Router`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub usize);

impl WorkerId {
    /// The most workers a media plane runs (a worker is a bit in a room's interest mask,
    /// and two hex digits in the ICE ufrags of its sessions).
    pub const MAX: usize = 64;
}

/// One frame of a track, as every worker forwards it.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The simulcast layer it came on; `None` for a track without simulcast.
    pub rid: Option<Rid>,
    /// The codec and its parameters, which each receiving session matches to its own
    /// payload type.
    pub params: PayloadParams,
    /// The publisher's RTP time, in the media clock; subscriptions rewrite it.
    pub time: MediaTime,
    /// When its first packet arrived: the clock by which subscriptions continue their
    /// timeline after a switch.
    pub network_time: Instant,
    /// No packet is missing between this frame and the previous one.
    pub contiguous: bool,
    /// A video keyframe: where a subscription may start or switch layers.
    pub keyframe: bool,
    /// Shared by every subscriber and worker; never copied.
    pub data: Arc<[u8]>,
}

impl Frame {
    /// The frame str0m assembled; `video` tells whether a keyframe is possible at all.
    pub fn from_media(data: MediaData, video: bool) -> Frame {
        Frame {
            keyframe: video && data.is_keyframe(),
            rid: data.rid,
            params: data.params,
            time: data.time,
            network_time: data.network_time,
            contiguous: data.contiguous,
            data: data.data,
        }
    }
}

/// A track as other workers learn of it.
#[derive(Debug, Clone, Copy)]
pub struct TrackInfo {
    /// The track's key, the same on every worker.
    pub id: TrackId,
    /// Its room, whose subscribers on the receiving worker are offered it.
    pub room: RoomId,
    /// Its publisher.
    pub participant: ParticipantId,
    /// Audio or video.
    pub kind: TrackKind,
    /// What the publisher declared it to be; players choose by it.
    pub source: TrackSource,
    /// The publisher sends several layers.
    pub simulcast: bool,
    /// Muted when the mirror is made; later changes come as [`Relay::TrackMuted`].
    pub muted: bool,
}

/// Datagrams received by one worker for sessions of another, in one buffer.
#[derive(Debug, Default)]
pub struct DatagramBatch {
    bytes: Vec<u8>,
    datagrams: Vec<(SocketAddr, Range<usize>)>,
}

impl DatagramBatch {
    /// Appends one datagram.
    pub fn push(&mut self, source: SocketAddr, datagram: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(datagram);
        self.datagrams.push((source, start..self.bytes.len()));
    }

    /// Whether the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// The datagrams with their sources, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.datagrams
            .iter()
            .map(|(source, range)| (*source, &self.bytes[range.clone()]))
    }
}

/// A message from one worker to another.
#[derive(Debug)]
pub enum Relay {
    /// Datagrams for sessions the receiving worker owns.
    Datagrams(DatagramBatch),
    /// A track was published on the sending worker.
    TrackPublished(TrackInfo),
    /// A track of the sending worker is gone.
    TrackUnpublished(TrackId),
    /// A track of the sending worker was muted or unmuted.
    TrackMuted {
        /// The track.
        track: TrackId,
        /// Muted (`true`) or unmuted.
        muted: bool,
    },
    /// A frame of a track of the sending worker, for the receiving worker's subscribers.
    Frame {
        /// The track, mirrored on the receiving worker.
        track: TrackId,
        /// The frame, its data shared with the sending worker's subscribers.
        frame: Frame,
    },
    /// Subscribers on the sending worker need a keyframe of the receiving worker's track.
    KeyframeRequest {
        /// The track.
        track: TrackId,
        /// The layer that needs a keyframe.
        rid: Option<Rid>,
    },
    /// The sending worker's receivers show the receiving worker's track at these heights
    /// (dynacast; empty: it has none).
    ReceiverHeights {
        /// The track.
        track: TrackId,
        /// The sending worker.
        worker: WorkerId,
        /// The heights, each once.
        heights: Vec<u32>,
    },
    /// The sending worker starts (or stops) having subscribers or players in the room, so
    /// it wants (or no longer wants) the room's frames.
    Interest {
        /// The room.
        room: RoomId,
        /// The sending worker, whose bit the receiving worker sets or clears.
        worker: WorkerId,
        /// Wants the frames (`true`) or no longer does.
        wanted: bool,
    },
}

impl Relay {
    /// Whether the relay changes what the receiving worker knows of a room (a track
    /// published or gone, an interest): such relays are never dropped (`outbox.rs`);
    /// frames, keyframe requests and datagrams may be.
    pub fn is_state(&self) -> bool {
        matches!(
            self,
            Relay::TrackPublished(_)
                | Relay::TrackUnpublished(_)
                | Relay::TrackMuted { .. }
                | Relay::Interest { .. }
                | Relay::ReceiverHeights { .. }
        )
    }
}

impl Router {
    /// Carries out a message from worker `from`.
    pub fn handle_relay(&mut self, now: Instant, from: WorkerId, relay: Relay) {
        match relay {
            Relay::Datagrams(batch) => {
                // One by one, unlike a read of the worker's own socket: settled as one
                // batch, a room spanning two overloaded workers got fewer frames to one
                // subscriber in the simulation (`a_room_on_two_overloaded_workers_...`).
                // One by one, unlike a read of the worker's own socket: settled as one
                // batch, a room spanning two overloaded workers got fewer frames to one
                // subscriber in the simulation (`a_room_on_two_overloaded_workers_...`).
                for (source, datagram) in batch.iter() {
                    self.handle_handed_over(now, source, datagram);
                }
            }
            Relay::TrackPublished(info) => {
                if !self.tracks.contains_key(&info.id) {
                    self.add_track(Track::mirror(info, from));
                }
            }
            Relay::TrackUnpublished(track) => self.unpublish_track(track),
            Relay::TrackMuted { track, muted } => self.mute_track(track, muted),
            Relay::Frame { track, frame } => {
                // A mirror of another node's track is recorded here (the recording's
                // node is the room's); another worker's tracks are recorded there.
                if self.tracks.get(&track).is_some_and(|t| t.egress.any()) {
                    self.record(now, track, &frame, None);
                }
                self.fan_out(now, track, &frame);
            }
            Relay::KeyframeRequest { track, rid } => {
                if let Some(layer) = self.tracks.get(&track).and_then(|t| t.find_layer(rid)) {
                    self.pending.request_keyframe(track, layer);
                }
            }
            Relay::ReceiverHeights {
                track,
                worker,
                heights,
            } => {
                if let Some(t) = self.tracks.get_mut(&track) {
                    t.dynacast.remote_needs(worker, heights);
                    self.layers_due = true;
                }
            }
            Relay::Interest {
                room,
                worker,
                wanted,
            } => {
                let bit = 1u64 << worker.0;
                let r = self.rooms.entry(room).or_default();
                if wanted {
                    r.remote_receivers |= bit;
                    if Some(worker) == self.gateway {
                        // The gateway links the room with other nodes: they mirror this
                        // worker's tracks of it from now on.
                        let tracks = r.tracks.clone();
                        for info in tracks
                            .iter()
                            .filter_map(|t| self.tracks.get(t))
                            .filter(|t| t.is_local())
                            .map(Track::info)
                        {
                            self.pending.relay(worker, Relay::TrackPublished(info));
                        }
                    }
                } else {
                    r.remote_receivers &= !bit;
                    for t in self.tracks.values_mut().filter(|t| t.room == room) {
                        t.dynacast.forget_worker(worker);
                    }
                    self.layers_due = true;
                    self.forget_empty_room(room);
                }
            }
        }
        self.drive(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_keeps_datagrams_apart_and_in_order() {
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        let mut batch = DatagramBatch::default();
        assert!(batch.is_empty());
        batch.push(a, &[1, 2, 3]);
        batch.push(b, &[]);
        batch.push(a, &[4]);
        let got: Vec<(SocketAddr, Vec<u8>)> = batch.iter().map(|(s, d)| (s, d.to_vec())).collect();
        assert_eq!(got, vec![(a, vec![1, 2, 3]), (b, vec![]), (a, vec![4])]);
    }
}
