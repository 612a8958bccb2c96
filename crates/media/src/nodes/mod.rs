//! Rooms spanning nodes: the media plane's side of a link to another node.
//!
//! A node that has participants of a room hosted on another node links the two media
//! planes for that room: every track published on either side is mirrored on the other,
//! under the same [`TrackId`] and [`ParticipantId`](crate::ParticipantId) (keys of different nodes do not
//! meet), and its frames cross the link once, however many receivers the far side has.
//! Keyframe requests and the heights receivers show a video at (dynacast) go back to the
//! track's node the same way.
//!
//! Inside a node, the links of all rooms meet in the [`Gateway`], which the workers see as
//! one more worker (its [`WorkerId`] follows theirs): it asks them for the frames of a
//! linked room as a worker with receivers there would ([`Relay::Interest`]), and they
//! mirror the tracks it announces ([`Track::mirror`](crate::track::Track::mirror)) and
//! send their keyframe requests and receivers' heights back to it. A node linked to
//! several others for one room (the room's own node, when several nodes have its
//! participants) passes what one link brings on to the others, so every node sees every
//! track. The gateway is sans-IO: [`Gateway::open`], [`Gateway::close`],
//! [`Gateway::from_worker`] and [`Gateway::from_link`] say what to send where ([`Out`]);
//! `io.rs` carries it. The bytes on a link are `wire.rs`'s.

mod io;
pub mod transport;
pub mod wire;

use std::collections::HashMap;

use crate::ids::{RoomId, TrackId};
use crate::relay::{Relay, TrackInfo, WorkerId};
pub use io::{Deliverer, LinkHandle, NodeLinks};
use wire::{NodeMessage, NodeTrack};

/// One link to another node, for one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkId(pub u64);

/// What the gateway has to send.
#[derive(Debug)]
pub enum Out {
    /// A message for one of this node's workers.
    Worker(WorkerId, Relay),
    /// A message for the node at the other end of a link.
    Link(LinkId, NodeMessage),
}

/// Where a track's media comes from, as the gateway sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A publisher on this worker.
    Worker(WorkerId),
    /// The node at the other end of this link.
    Link(LinkId),
}

/// A track of a linked room.
#[derive(Debug)]
struct Known {
    track: NodeTrack,
    room: RoomId,
    source: Source,
    /// For a track from a link: the heights each worker and each other link needs it at.
    needs: Vec<(Source, Vec<u32>)>,
    /// The heights last reported to the track's source.
    reported: Option<Vec<u32>>,
}

/// The links of every room of this node, between its workers and other nodes. See the
/// module docs.
#[derive(Debug)]
pub struct Gateway {
    me: WorkerId,
    workers: usize,
    rooms: HashMap<RoomId, Vec<LinkId>>,
    links: HashMap<LinkId, RoomId>,
    tracks: HashMap<TrackId, Known>,
}

impl Gateway {
    /// The gateway of a media plane of `workers` workers; it is worker `workers` to them.
    pub fn new(workers: usize) -> Gateway {
        Gateway {
            me: WorkerId(workers),
            workers,
            rooms: HashMap::new(),
            links: HashMap::new(),
            tracks: HashMap::new(),
        }
    }

    /// The gateway's id among the workers.
    pub fn id(&self) -> WorkerId {
        self.me
    }

    /// How many links are open.
    pub fn links(&self) -> usize {
        self.links.len()
    }

    /// Opens `link` for `room`: the room's tracks, here and from its other links, are
    /// announced to it.
    pub fn open(&mut self, link: LinkId, room: RoomId, out: &mut Vec<Out>) {
        if self.links.contains_key(&link) {
            return;
        }
        self.links.insert(link, room);
        let links = self.rooms.entry(room).or_default();
        links.push(link);
        if links.len() == 1 {
            // The workers answer with their tracks of the room.
            for worker in 0..self.workers {
                let interest = Relay::Interest {
                    room,
                    worker: self.me,
                    wanted: true,
                };
                out.push(Out::Worker(WorkerId(worker), interest));
            }
            return;
        }
        for known in self.tracks.values().filter(|k| k.room == room) {
            out.push(Out::Link(link, NodeMessage::TrackPublished(known.track)));
        }
    }

    /// Closes `link`: the tracks it brought are gone here and on the room's other links.
    pub fn close(&mut self, link: LinkId, out: &mut Vec<Out>) {
        let Some(room) = self.links.remove(&link) else {
            return;
        };
        let last = self.rooms.get_mut(&room).is_none_or(|links| {
            links.retain(|l| *l != link);
            links.is_empty()
        });
        let gone: Vec<TrackId> = self
            .tracks
            .iter()
            .filter(|(_, k)| k.source == Source::Link(link))
            .map(|(id, _)| *id)
            .collect();
        for track in gone {
            self.tracks.remove(&track);
            self.to_workers(out, || Relay::TrackUnpublished(track));
            self.to_links(room, None, out, || NodeMessage::TrackUnpublished(track));
        }
        let needed: Vec<TrackId> = self
            .tracks
            .iter_mut()
            .filter(|(_, k)| k.room == room)
            .filter_map(|(id, k)| {
                let before = k.needs.len();
                k.needs.retain(|(s, _)| *s != Source::Link(link));
                (k.needs.len() != before).then_some(*id)
            })
            .collect();
        for track in needed {
            self.report(track, out);
        }
        if last {
            self.rooms.remove(&room);
            // The workers announce their tracks again to the next link.
            self.tracks.retain(|_, k| k.room != room);
            let me = self.me;
            self.to_workers(out, || Relay::Interest {
                room,
                worker: me,
                wanted: false,
            });
        }
    }

    /// Carries out a message from worker `from`.
    pub fn from_worker(&mut self, from: WorkerId, relay: Relay, out: &mut Vec<Out>) {
        match relay {
            Relay::TrackPublished(info) => {
                if !self.rooms.contains_key(&info.room) || self.tracks.contains_key(&info.id) {
                    return;
                }
                let track = node_track(&info);
                self.tracks.insert(
                    info.id,
                    Known {
                        track,
                        room: info.room,
                        source: Source::Worker(from),
                        needs: Vec::new(),
                        reported: None,
                    },
                );
                self.to_links(info.room, None, out, || NodeMessage::TrackPublished(track));
            }
            Relay::TrackUnpublished(track) => {
                if self.source(track) != Some(Source::Worker(from)) {
                    return;
                }
                if let Some(known) = self.tracks.remove(&track) {
                    self.to_links(known.room, None, out, || {
                        NodeMessage::TrackUnpublished(track)
                    });
                }
            }
            Relay::TrackMuted { track, muted } => {
                let Some(known) = self.tracks.get_mut(&track) else {
                    return;
                };
                if known.source != Source::Worker(from) {
                    return;
                }
                known.track.muted = muted;
                let room = known.room;
                self.to_links(room, None, out, || NodeMessage::TrackMuted { track, muted });
            }
            Relay::Frame { track, frame } => {
                let Some(known) = self.tracks.get(&track) else {
                    return;
                };
                let room = known.room;
                self.to_links(room, None, out, || NodeMessage::Frame {
                    track,
                    frame: frame.clone(),
                });
            }
            Relay::KeyframeRequest { track, rid } => {
                if let Some(Source::Link(link)) = self.source(track) {
                    out.push(Out::Link(link, NodeMessage::KeyframeRequest { track, rid }));
                }
            }
            Relay::ReceiverHeights {
                track,
                worker,
                heights,
            } => self.needs(track, Source::Worker(worker), heights, out),
            Relay::Interest { .. } | Relay::Datagrams(_) => {}
        }
    }

    /// Carries out a message from the node at the other end of `link`.
    pub fn from_link(&mut self, link: LinkId, message: NodeMessage, out: &mut Vec<Out>) {
        let Some(&room) = self.links.get(&link) else {
            return;
        };
        let from = Source::Link(link);
        match message {
            NodeMessage::TrackPublished(track) => {
                if self.tracks.contains_key(&track.id) {
                    return;
                }
                self.tracks.insert(
                    track.id,
                    Known {
                        track,
                        room,
                        source: from,
                        needs: Vec::new(),
                        reported: None,
                    },
                );
                let info = TrackInfo {
                    id: track.id,
                    room,
                    participant: track.participant,
                    kind: track.kind,
                    source: track.source,
                    simulcast: track.simulcast,
                    muted: track.muted,
                };
                self.to_workers(out, || Relay::TrackPublished(info));
                self.to_links(room, Some(link), out, || NodeMessage::TrackPublished(track));
            }
            NodeMessage::TrackUnpublished(track) => {
                if self.source(track) != Some(from) {
                    return;
                }
                self.tracks.remove(&track);
                self.to_workers(out, || Relay::TrackUnpublished(track));
                self.to_links(room, Some(link), out, || {
                    NodeMessage::TrackUnpublished(track)
                });
            }
            NodeMessage::TrackMuted { track, muted } => {
                let Some(known) = self.tracks.get_mut(&track).filter(|k| k.source == from) else {
                    return;
                };
                known.track.muted = muted;
                self.to_workers(out, || Relay::TrackMuted { track, muted });
                self.to_links(room, Some(link), out, || NodeMessage::TrackMuted {
                    track,
                    muted,
                });
            }
            NodeMessage::Frame { track, frame } => {
                if self.source(track) != Some(from) {
                    return;
                }
                self.to_links(room, Some(link), out, || NodeMessage::Frame {
                    track,
                    frame: frame.clone(),
                });
                self.to_workers(out, || Relay::Frame {
                    track,
                    frame: frame.clone(),
                });
            }
            NodeMessage::KeyframeRequest { track, rid } => match self.source(track) {
                Some(Source::Worker(worker)) => {
                    out.push(Out::Worker(worker, Relay::KeyframeRequest { track, rid }));
                }
                Some(Source::Link(source)) if source != link => {
                    out.push(Out::Link(
                        source,
                        NodeMessage::KeyframeRequest { track, rid },
                    ));
                }
                _ => {}
            },
            NodeMessage::ReceiverHeights { track, heights } => {
                self.needs(track, from, heights, out);
            }
            NodeMessage::Control(_) => {}
        }
    }

    fn source(&self, track: TrackId) -> Option<Source> {
        self.tracks.get(&track).map(|k| k.source)
    }

    /// Notes the heights `by` needs `track` at, and reports the sum to the track's source
    /// when it changed.
    fn needs(&mut self, track: TrackId, by: Source, heights: Vec<u32>, out: &mut Vec<Out>) {
        let Some(known) = self.tracks.get_mut(&track) else {
            return;
        };
        if known.source == by {
            return;
        }
        known.needs.retain(|(s, _)| *s != by);
        if !heights.is_empty() {
            known.needs.push((by, heights));
        }
        self.report(track, out);
    }

    /// Reports to `track`'s source the heights every receiver here and beyond needs.
    fn report(&mut self, track: TrackId, out: &mut Vec<Out>) {
        let me = self.me;
        let Some(known) = self.tracks.get_mut(&track) else {
            return;
        };
        let mut heights: Vec<u32> = known.needs.iter().flat_map(|(_, h)| h).copied().collect();
        heights.sort_unstable();
        heights.dedup();
        if known.reported.as_ref() == Some(&heights) {
            return;
        }
        known.reported = Some(heights.clone());
        match known.source {
            Source::Worker(worker) => out.push(Out::Worker(
                worker,
                Relay::ReceiverHeights {
                    track,
                    worker: me,
                    heights,
                },
            )),
            Source::Link(link) => out.push(Out::Link(
                link,
                NodeMessage::ReceiverHeights { track, heights },
            )),
        }
    }

    fn to_workers(&self, out: &mut Vec<Out>, make: impl Fn() -> Relay) {
        for worker in 0..self.workers {
            out.push(Out::Worker(WorkerId(worker), make()));
        }
    }

    /// Sends `make()` to every link of `room` but `except`.
    fn to_links(
        &self,
        room: RoomId,
        except: Option<LinkId>,
        out: &mut Vec<Out>,
        make: impl Fn() -> NodeMessage,
    ) {
        let Some(links) = self.rooms.get(&room) else {
            return;
        };
        for link in links.iter().filter(|l| Some(**l) != except) {
            out.push(Out::Link(*link, make()));
        }
    }
}

fn node_track(info: &TrackInfo) -> NodeTrack {
    NodeTrack {
        id: info.id,
        participant: info.participant,
        kind: info.kind,
        source: info.source,
        simulcast: info.simulcast,
        muted: info.muted,
    }
}

#[cfg(test)]
mod tests;
