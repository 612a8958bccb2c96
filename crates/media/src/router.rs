//! The sans-IO core of the SFU: sessions, tracks and rooms, driven by datagrams, commands
//! and time, producing datagrams to send and events for the control plane.
//!
//! The IO loop (`worker.rs`) feeds it with [`Router::handle_datagram`] (or a batch of
//! [`Router::take_datagram`] and a [`Router::settle`]),
//! [`Router::handle_command`] and [`Router::handle_timeout`], then drains
//! [`Router::poll_transmit`] and [`Router::poll_event`]. Tests drive it the same way with
//! simulated time. The role-specific parts live in `publish.rs`, `subscribe.rs`,
//! `play.rs` and `forward.rs`; muting and rendered sizes in `track_control.rs`; timers and
//! the polling of sessions in `drive.rs`.
//!
//! Each media worker has its own router. Routers of one media plane exchange [`Relay`]
//! messages ([`Router::poll_relay`], [`Router::handle_relay`]; see `relay.rs`), so that a
//! room's participants may sit on different workers.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::net::{Protocol, Receive, Transmit};
use str0m::{Event, Input};
use tracing::debug;

use crate::command::{Command, Follow};
use crate::demux::{Demux, Route};
use crate::event::MediaEvent;
use crate::ids::{ParticipantId, RoomId, SessionId, TrackId};
use crate::overload::Overload;
use crate::packets::Forwarding;
use crate::pending::Pending;
use crate::relay::{DatagramBatch, Relay, WorkerId};
use crate::session::Session;
use crate::stats::RouterStats;
use crate::stun::IceKey;
use crate::timers::Timers;
use crate::track::Track;

/// A participant's sessions.
#[derive(Debug, Default)]
pub(crate) struct ParticipantMedia {
    pub publisher: Option<SessionId>,
    pub subscriber: Option<SessionId>,
    pub player: Option<SessionId>,
    pub tracks: Vec<TrackId>,
}

impl ParticipantMedia {
    /// Nothing of the participant is left on this worker.
    pub fn is_empty(&self) -> bool {
        self.publisher.is_none()
            && self.subscriber.is_none()
            && self.player.is_none()
            && self.tracks.is_empty()
    }
}

/// What the media plane knows of a room.
#[derive(Debug, Default)]
pub(crate) struct RoomMedia {
    pub tracks: Vec<TrackId>,
    pub subscribers: Vec<SessionId>,
    pub players: Vec<SessionId>,
    /// The participant the room's stream shows (players following the room play it).
    pub featured: Option<ParticipantId>,
    /// Other workers with subscribers or players in the room, one bit per worker: they
    /// get the frames of this worker's tracks.
    pub remote_receivers: u64,
    /// Whether the other workers were told that this one has receivers here.
    pub announced: bool,
}

impl RoomMedia {
    /// Nothing on this worker and no other worker needs the room here.
    pub(crate) fn is_unused(&self) -> bool {
        self.tracks.is_empty()
            && self.subscribers.is_empty()
            && self.players.is_empty()
            && self.remote_receivers == 0
            && !self.announced
    }
}

/// The SFU core. See the module docs.
pub struct Router {
    pub(crate) worker: WorkerId,
    workers: usize,
    /// The media plane's links to other nodes, a worker after the last (`nodes/`).
    pub(crate) gateway: Option<WorkerId>,
    pub(crate) candidate: SocketAddr,
    /// The passive ICE-TCP candidate every session offers too, if the node listens on TCP.
    pub(crate) tcp_candidate: Option<SocketAddr>,
    pub(crate) sessions: HashMap<SessionId, Session>,
    pub(crate) participants: HashMap<ParticipantId, ParticipantMedia>,
    pub(crate) tracks: HashMap<TrackId, Track>,
    pub(crate) rooms: HashMap<RoomId, RoomMedia>,
    pub(crate) follows: HashMap<SessionId, Follow>,
    pub(crate) demux: Demux,
    /// When sessions next want their timeouts run, and the next sweep (`drive.rs`).
    pub(crate) timers: Timers,
    pub(crate) session_events: VecDeque<(SessionId, Event)>,
    /// What handling an input left to do: polls, keyframe requests, offers, events, relays.
    pub(crate) pending: Pending,
    pub(crate) closed: Vec<SessionId>,
    pub(crate) transmits: VecDeque<Transmit>,
    /// Datagrams for other workers, one batch per worker.
    handovers: Vec<DatagramBatch>,
    /// Subscriptions, rendered sizes or taps changed: the layers publishers send are
    /// worked out again (`dynacast.rs`) before the router next waits.
    pub(crate) layers_due: bool,
    /// New receiving sessions estimate their bandwidth (`bandwidth.rs`).
    pub(crate) estimate_bandwidth: bool,
    /// New sessions offer and accept RED for their sound.
    pub(crate) audio_red: bool,
    /// How frames are sent on to subscribers; sessions made from now on are made for it.
    pub(crate) forwarding: Forwarding,
    /// The payloads of the frame being forwarded, in packet forwarding (`packets.rs`).
    pub(crate) payloads: Vec<Arc<[u8]>>,
    pub(crate) stats: RouterStats,
    /// How far behind the worker is, and how much load it sheds for it.
    pub(crate) overload: Overload,
}

impl Router {
    /// The router of a media plane with one worker, whose sessions all advertise the host
    /// candidate `candidate`.
    pub fn new(candidate: SocketAddr) -> Router {
        Router::for_worker(candidate, WorkerId(0), 1, IceKey::random())
    }

    /// The router of `worker`, one of `workers` ([`WorkerId::MAX`] at most), whose
    /// sessions' ICE passwords come from `key` (the same for every worker of the node).
    pub fn for_worker(
        candidate: SocketAddr,
        worker: WorkerId,
        workers: usize,
        key: IceKey,
    ) -> Router {
        assert!(worker.0 < workers && workers <= WorkerId::MAX);
        Router {
            worker,
            workers,
            gateway: None,
            candidate,
            tcp_candidate: None,
            sessions: HashMap::new(),
            participants: HashMap::new(),
            tracks: HashMap::new(),
            rooms: HashMap::new(),
            follows: HashMap::new(),
            demux: Demux::new(worker, workers, key),
            timers: Timers::default(),
            session_events: VecDeque::new(),
            pending: Pending::default(),
            closed: Vec::new(),
            transmits: VecDeque::new(),
            handovers: (0..workers).map(|_| DatagramBatch::default()).collect(),
            layers_due: false,
            estimate_bandwidth: true,
            audio_red: false,
            forwarding: Forwarding::default(),
            payloads: Vec::new(),
            stats: RouterStats::default(),
            overload: Overload::default(),
        }
    }

    /// Links rooms with other nodes through the media plane's gateway, the worker after
    /// the last one (`nodes/`): it gets the frames and tracks of the rooms it asks for.
    pub fn link_nodes(&mut self) {
        assert!(
            self.workers < WorkerId::MAX,
            "a worker's bit for the gateway"
        );
        self.gateway = Some(WorkerId(self.workers));
    }

    /// Every session made from now on offers ICE over TCP at `candidate` too (a passive
    /// host candidate, RFC 6544).
    pub fn offer_tcp(&mut self, candidate: SocketAddr) {
        self.tcp_candidate = Some(candidate);
    }

    /// Whether receiving sessions made from now on estimate their bandwidth and share it
    /// among their videos (on unless turned off; without, each video gets the layer its
    /// rendered size asks for).
    pub fn estimate_bandwidth(&mut self, on: bool) {
        self.estimate_bandwidth = on;
    }

    /// Whether sessions made from now on send and take their sound with RED (RFC 2198:
    /// each packet also carries the frame before it) where the browser offers it.
    pub fn audio_red(&mut self, on: bool) {
        self.audio_red = on;
    }

    /// How sessions made from now on are sent frames: cut once and shared (the default),
    /// or cut into packets by each subscriber's connection (`packets.rs`).
    pub fn forwarding(&mut self, forwarding: Forwarding) {
        self.forwarding = forwarding;
    }

    /// What the router dropped and forwarded so far.
    pub fn stats(&self) -> RouterStats {
        RouterStats {
            sessions: self.sessions.len() as u64,
            tracks: self.tracks.values().filter(|t| t.is_local()).count() as u64,
            mirrored_tracks: self.tracks.values().filter(|t| !t.is_local()).count() as u64,
            overload_level: u64::from(self.overload.level()),
            ..self.stats
        }
    }

    /// The number of open sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the control plane.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.pending.next_event()
    }

    /// Whether events wait for the control plane.
    pub fn has_events(&self) -> bool {
        self.pending.has_events()
    }

    /// The next message for another worker.
    pub fn poll_relay(&mut self) -> Option<(WorkerId, Relay)> {
        if let Some(relay) = self.pending.next_relay() {
            return Some(relay);
        }
        let (worker, batch) = self
            .handovers
            .iter_mut()
            .enumerate()
            .find(|(_, b)| !b.is_empty())?;
        Some((WorkerId(worker), Relay::Datagrams(std::mem::take(batch))))
    }

    /// Queues `make()` for every other worker.
    pub(crate) fn broadcast(&mut self, make: impl Fn() -> Relay) {
        for worker in (0..self.workers).filter(|w| *w != self.worker.0) {
            self.pending.relay(WorkerId(worker), make());
        }
    }

    /// Queues `make()` for every other worker and, when it links `room` with other
    /// nodes, for the gateway: what changes about this worker's tracks of `room`.
    pub(crate) fn tell_room(&mut self, room: crate::ids::RoomId, make: impl Fn() -> Relay) {
        self.broadcast(&make);
        if let Some(gateway) = self.gateway_for(room) {
            self.pending.relay(gateway, make());
        }
    }

    /// The gateway, when it links `room` with other nodes.
    pub(crate) fn gateway_for(&self, room: crate::ids::RoomId) -> Option<WorkerId> {
        let gateway = self.gateway?;
        let receivers = self.rooms.get(&room)?.remote_receivers;
        (receivers & (1 << gateway.0) != 0).then_some(gateway)
    }

    /// Carries out a command from the control plane.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Publish {
                room,
                participant,
                offer,
                sources,
                reply,
            } => {
                let result = self.publish(now, room, participant, &offer, sources);
                let _ = reply.send(result);
            }
            Command::Subscribe {
                room,
                participant,
                data,
            } => self.subscribe(now, room, participant, data),
            Command::SubscribeAnswer {
                participant,
                answer,
                reply,
            } => {
                let _ = reply.send(self.subscribe_answer(participant, &answer));
            }
            Command::RestartIce { participant } => self.restart_ice(participant),
            Command::Play {
                room,
                participant,
                follow,
                offer,
                paced,
                reply,
            } => {
                let _ = reply.send(self.play(now, room, participant, follow, &offer, paced));
            }
            Command::Mute {
                participant,
                track,
                muted,
            } => self.mute(participant, track, muted),
            Command::VideoSize {
                participant,
                track,
                width: _,
                height,
            } => self.video_size(now, participant, track, height),
            Command::RemoveParticipant { participant } => self.remove_participant(participant),
            Command::Unpublish { participant } => self.unpublish(participant),
            Command::Tap {
                track,
                tap,
                sink,
                height,
                ..
            } => self.set_egress(now, track, tap, sink, height),
            Command::SendData {
                participants,
                reliable,
                text,
            } => self.send_data(&participants, reliable, &text),
            Command::Feature { room, participant } => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.featured = participant;
                    self.rebind_players(room);
                }
            }
        }
        self.drive(now);
    }

    /// Feeds one datagram received on the shared port.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) {
        self.take_datagram(now, source, datagram);
        self.drive(now);
    }

    /// Feeds one datagram of a batch read at once, without acting on it yet: call
    /// [`Router::settle`] after the batch. A subscriber that several of the batch's frames
    /// go to is then polled once for them all; a poll of str0m costs as much as the
    /// streams its session has, whatever it sends.
    pub fn take_datagram(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) {
        self.stats.datagrams_received += 1;
        let route = self.demux.route(now, source, datagram);
        self.deliver(now, route, (Protocol::Udp, source), datagram);
    }

    /// Acts on the datagrams taken since the last call: polls the sessions they touched and
    /// forwards what those emit.
    pub fn settle(&mut self, now: Instant) {
        self.drive(now);
    }

    /// Feeds a datagram another worker received for a session of this one, and acts on it.
    pub(crate) fn handle_handed_over(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) {
        let route = self.demux.route_local(now, source, datagram);
        self.deliver(now, route, (Protocol::Udp, source), datagram);
        self.drive(now);
    }

    /// Feeds one packet received over an ICE-TCP connection from `source` (the listener
    /// handed the connection to the worker owning its session); false when no session of
    /// this worker takes it (the connection is then let go).
    pub fn handle_tcp_frame(&mut self, now: Instant, source: SocketAddr, frame: &[u8]) -> bool {
        self.stats.datagrams_received += 1;
        let route = self.demux.route_local(now, source, frame);
        let known = matches!(route, Route::Session(_));
        self.deliver(now, route, (Protocol::Tcp, source), frame);
        self.drive(now);
        known
    }

    fn deliver(
        &mut self,
        now: Instant,
        route: Route,
        (proto, source): (Protocol, SocketAddr),
        datagram: &[u8],
    ) {
        let id = match route {
            Route::Session(id) => id,
            Route::Worker(worker) => {
                self.stats.datagrams_handed_over += 1;
                self.handovers[worker.0].push(source, datagram);
                return;
            }
            Route::Unknown => {
                self.stats.unroutable_datagrams += 1;
                return;
            }
        };
        let Ok(contents) = datagram.try_into() else {
            self.stats.rejected_datagrams += 1;
            return;
        };
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        session.link.heard = Some(now);
        let input = Input::Receive(
            now,
            Receive {
                proto,
                source,
                destination: match (proto, self.tcp_candidate) {
                    (Protocol::Tcp, Some(tcp)) => tcp,
                    _ => self.candidate,
                },
                contents,
            },
        );
        if let Err(e) = session.rtc.handle_input(input) {
            debug!(session = %id, "datagram refused: {e}");
            self.stats.rejected_datagrams += 1;
        }
        self.pending.poll(session);
    }

    /// The participant's subscriber session on this worker.
    pub(crate) fn subscriber_of(&self, participant: ParticipantId) -> Option<SessionId> {
        self.participants
            .get(&participant)
            .and_then(|p| p.subscriber)
    }

    /// Tells the other workers when this one starts or stops having receivers in `room`.
    pub(crate) fn announce_interest(&mut self, room: RoomId) {
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        let wanted = !r.subscribers.is_empty() || !r.players.is_empty();
        if self.workers == 1 || wanted == r.announced {
            return;
        }
        r.announced = wanted;
        let worker = self.worker;
        self.broadcast(|| Relay::Interest {
            room,
            worker,
            wanted,
        });
    }
}
