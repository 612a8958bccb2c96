//! A simulated media plane for tests and benchmarks: str0m peers exchange datagrams with
//! one or more routers in memory, in simulated time, so every run is the same. With several
//! workers, one router each, datagrams land on a worker chosen by the peer's port (as the
//! kernel spreads addresses over the sockets of the port) and the routers' relays are
//! carried between them.

// Shared by the simulation tests and the fan-out benchmark; each uses a part.
#![allow(dead_code)]

mod joins;
mod peer;

pub use peer::{Downlink, Peer};

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use moim_media::nodes::wire::{Decoder, Encoder, NodeMessage};
use moim_media::nodes::{Gateway, LinkId, Out};
use moim_media::outbox::RelayOutbox;
use moim_media::placement::Placement;
use moim_media::relay::{Relay, WorkerId};
use moim_media::stun::IceKey;
use moim_media::{
    Command, Forwarding, MediaError, MediaEvent, ParticipantId, RoomId, Router, RouterStats,
    TrackId, overload,
};
use moim_proto::signal::TrackKind;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::{Candidate, Input};
use tokio::sync::{mpsc, oneshot};

pub const SERVER: &str = "127.0.0.1:7882";
pub const STEP: Duration = Duration::from_millis(5);

/// The queues between workers while they are overloaded.
pub struct Overload {
    outboxes: Vec<RelayOutbox>,
    inboxes: Vec<mpsc::Receiver<(WorkerId, Relay)>>,
    /// A worker takes a relay every this many steps (0: all there are).
    take_every: u32,
    steps: u32,
}

impl Overload {
    fn has_waiting(&self) -> bool {
        self.outboxes.iter().any(RelayOutbox::has_waiting)
            || self.inboxes.iter().any(|inbox| !inbox.is_empty())
    }
}

/// Two nodes of a cluster, each one worker and its gateway, linked for the room: the
/// routers are the nodes' workers, and what crosses the link goes through its bytes.
pub struct Nodes {
    gateways: [Gateway; 2],
    encoders: [Encoder; 2],
    decoders: [Decoder; 2],
    /// The node new peers join.
    pub on: usize,
    /// The node of each peer, by its index.
    peer_nodes: Vec<usize>,
    /// Frames each node sent over the link.
    pub frames_sent: [usize; 2],
}

/// Each node's one link, with the same id on both (the gateways are separate).
const LINK: LinkId = LinkId(1);

pub struct Sim {
    pub routers: Vec<Router>,
    /// Set when the routers are two nodes rather than one node's workers.
    pub nodes: Option<Nodes>,
    pub placement: Placement,
    pub peers: Vec<Peer>,
    pub now: Instant,
    pub start: Instant,
    pub room: RoomId,
    /// Every n-th datagram from the server is lost, if set.
    pub drop_every: Option<usize>,
    /// Video tracks announced, by publisher.
    pub videos: Vec<(ParticipantId, TrackId)>,
    /// Tracks unpublished so far.
    pub unpublished: usize,
    /// The number of tracks in the latest subscriber offer.
    pub last_offer_tracks: Option<usize>,
    /// Datagrams the routers sent to peers.
    pub sent: usize,
    /// Data-channel events the routers emitted.
    pub data_events: Vec<MediaEvent>,
    /// What peers answered while taking the routers' datagrams, for the next step.
    backlog: Vec<(SocketAddr, Vec<u8>)>,
    /// The queues between workers, while they are overloaded.
    overload: Option<Overload>,
    /// Addresses peers moved away from: what they still send from there is lost.
    gone: Vec<SocketAddr>,
    /// How long every read of the routers' sockets says its datagrams waited, if set.
    pub socket_wait: Option<Duration>,
    /// Peers made from now on offer RED for their sound.
    red: bool,
}

impl Sim {
    pub fn new() -> Sim {
        Sim::with_workers(1)
    }

    pub fn with_workers(workers: usize) -> Sim {
        str0m::crypto::from_feature_flags().install_process_default();
        let now = Instant::now();
        let server = SERVER.parse().unwrap();
        let key = IceKey::random();
        Sim {
            routers: (0..workers)
                .map(|w| Router::for_worker(server, WorkerId(w), workers, key.clone()))
                .collect(),
            placement: Placement::new(workers),
            nodes: None,
            peers: Vec::new(),
            now,
            start: now,
            room: RoomId::next(),
            drop_every: None,
            videos: Vec::new(),
            unpublished: 0,
            last_offer_tracks: None,
            sent: 0,
            data_events: Vec::new(),
            backlog: Vec::new(),
            overload: None,
            gone: Vec::new(),
            socket_wait: None,
            red: false,
        }
    }

    /// Two nodes of one worker each, their gateways linked for the room.
    pub fn with_nodes() -> Sim {
        let mut sim = Sim::new();
        let server = SERVER.parse().unwrap();
        let mut second = Router::for_worker(server, WorkerId(0), 1, IceKey::random());
        second.link_nodes();
        sim.routers[0].link_nodes();
        sim.routers.push(second);
        let mut nodes = Nodes {
            gateways: [Gateway::new(1), Gateway::new(1)],
            encoders: Default::default(),
            decoders: Default::default(),
            on: 0,
            peer_nodes: Vec::new(),
            frames_sent: [0, 0],
        };
        let mut out = Vec::new();
        for node in 0..2 {
            nodes.gateways[node].open(LINK, sim.room, &mut out);
            for o in out.drain(..) {
                if let Out::Worker(_, relay) = o {
                    sim.routers[node].handle_relay(sim.now, WorkerId(1), relay);
                }
            }
        }
        sim.nodes = Some(nodes);
        sim.carry_relays();
        sim
    }

    /// The node of the peer with `participant`'s id, else the one new peers join.
    fn node_of(&self, participant: Option<ParticipantId>) -> usize {
        let nodes = self.nodes.as_ref().expect("two nodes");
        participant
            .and_then(|id| self.peers.iter().position(|p| p.id == id))
            .and_then(|i| nodes.peer_nodes.get(i).copied())
            .unwrap_or(nodes.on)
    }

    /// Closes the link on `node`'s side, as when the other node is lost.
    pub fn unlink(&mut self, node: usize) {
        let mut out = Vec::new();
        self.nodes.as_mut().unwrap().gateways[node].close(LINK, &mut out);
        self.carry_out(node, out);
        self.carry_relays();
    }

    /// Carries what `node`'s gateway says: to its worker, or over the link to the other
    /// node's gateway, as bytes.
    fn carry_out(&mut self, node: usize, out: Vec<Out>) {
        let mut queue: Vec<(usize, Out)> = out.into_iter().map(|o| (node, o)).collect();
        while !queue.is_empty() {
            for (node, o) in std::mem::take(&mut queue) {
                match o {
                    Out::Worker(_, relay) => {
                        self.routers[node].handle_relay(self.now, WorkerId(1), relay);
                    }
                    Out::Link(_, message) => {
                        let nodes = self.nodes.as_mut().unwrap();
                        if matches!(message, NodeMessage::Frame { .. }) {
                            nodes.frames_sent[node] += 1;
                        }
                        let mut bytes = Vec::new();
                        assert!(nodes.encoders[node].encode(&message, &mut bytes));
                        let far = 1 - node;
                        let mut got = Vec::new();
                        let read = nodes.decoders[far].decode(&bytes, |m| got.push(m)).unwrap();
                        assert_eq!(read, bytes.len());
                        let mut out = Vec::new();
                        for m in got {
                            nodes.gateways[far].from_link(LINK, m, &mut out);
                        }
                        queue.extend(out.into_iter().map(|o| (far, o)));
                    }
                }
            }
        }
    }

    /// Hands a command to its worker(s), as the media plane's handle does.
    /// Turns off the subscribers' bandwidth estimation: the simulated links deliver at
    /// once in steps of 5 ms, and a publisher whose video is mostly keyframes sends in
    /// bursts an estimate follows poorly; for tests about something else.
    pub fn without_bandwidth_estimation(mut self) -> Sim {
        for router in &mut self.routers {
            router.estimate_bandwidth(false);
        }
        self
    }

    /// Sound goes with RED (RFC 2198) between the routers and the peers added from now on.
    pub fn with_sound_redundancy(mut self) -> Sim {
        for router in &mut self.routers {
            router.audio_red(true);
        }
        self.red = true;
        self
    }

    /// Forwards frames `forwarding` for sessions added from now on (the routers' default
    /// is packets, `packets.rs`).
    pub fn with_forwarding(mut self, forwarding: Forwarding) -> Sim {
        for router in &mut self.routers {
            router.forwarding(forwarding);
        }
        self
    }

    pub fn command(&mut self, command: Command) {
        self.try_command(command)
            .expect("a worker takes the command");
    }

    /// Hands `command` to its worker as the media plane does: a worker shedding load
    /// takes no newcomer.
    pub fn try_command(&mut self, command: Command) -> Result<(), MediaError> {
        if self.nodes.is_some() {
            let node = self.node_of(command.participant());
            self.routers[node].handle_command(self.now, command);
            self.carry_relays();
            return Ok(());
        }
        for (index, router) in self.routers.iter().enumerate() {
            let saturated = router.stats().overload_level >= u64::from(overload::REFUSING);
            self.placement.set_saturated(WorkerId(index), saturated);
        }
        match self.placement.route(&command)? {
            Some(worker) => self.routers[worker.0].handle_command(self.now, command),
            None => {
                for router in &mut self.routers {
                    router.handle_command(self.now, command.duplicate().unwrap());
                }
            }
        }
        self.carry_relays();
        Ok(())
    }

    /// From now on, workers talk through their real outboxes into inboxes of `capacity`,
    /// and each worker takes one relay every `take_every` steps of time and passes one
    /// event per step: the queues overflow as they do when a worker cannot keep up.
    pub fn overload(&mut self, capacity: usize, take_every: u32) {
        let (senders, inboxes): (Vec<_>, Vec<_>) = (0..self.routers.len())
            .map(|_| mpsc::channel(capacity))
            .unzip();
        let outboxes = (0..self.routers.len())
            .map(|w| RelayOutbox::new(WorkerId(w), senders.clone()))
            .collect();
        self.overload = Some(Overload {
            outboxes,
            inboxes,
            take_every,
            steps: 0,
        });
    }

    /// Ends the overload: whatever waits in the queues is carried, then relays flow freely.
    pub fn relieve(&mut self) {
        if let Some(overload) = &mut self.overload {
            overload.take_every = 0;
        }
        while self.overload.as_ref().is_some_and(Overload::has_waiting) {
            self.take_relays();
            self.carry_relays();
        }
        self.overload = None;
        self.carry_relays();
    }

    /// Under overload, each worker takes what it can of its inbox this step.
    fn take_relays(&mut self) {
        let Some(overload) = &mut self.overload else {
            return;
        };
        overload.steps += 1;
        let take = match overload.take_every {
            0 => usize::MAX,
            every if overload.steps.is_multiple_of(every) => 1,
            _ => return,
        };
        for (to, inbox) in overload.inboxes.iter_mut().enumerate() {
            for _ in 0..take {
                let Ok((from, relay)) = inbox.try_recv() else {
                    break;
                };
                self.routers[to].handle_relay(self.now, from, relay);
            }
        }
    }

    /// Media relays the outboxes dropped during the overload.
    pub fn relays_dropped(&self) -> u64 {
        self.overload
            .as_ref()
            .map_or(0, |o| o.outboxes.iter().map(|out| out.dropped).sum())
    }

    /// Delivers messages between workers until none is left (under overload: into the
    /// outboxes, as a worker does; [`Sim::take_relays`] takes them out).
    pub fn carry_relays(&mut self) {
        if let Some(overload) = &mut self.overload {
            for (from, outbox) in overload.outboxes.iter_mut().enumerate() {
                outbox.retry();
                while let Some((to, relay)) = self.routers[from].poll_relay() {
                    outbox.send(to, relay);
                }
            }
            return;
        }
        if self.nodes.is_some() {
            loop {
                let mut carried = false;
                for node in 0..self.routers.len() {
                    while let Some((to, relay)) = self.routers[node].poll_relay() {
                        carried = true;
                        assert_eq!(to, WorkerId(1), "a node's one worker talks to its gateway");
                        let mut out = Vec::new();
                        let gateway = &mut self.nodes.as_mut().unwrap().gateways[node];
                        gateway.from_worker(WorkerId(0), relay, &mut out);
                        self.carry_out(node, out);
                    }
                }
                if !carried {
                    return;
                }
            }
        }
        loop {
            let mut carried = false;
            for from in 0..self.routers.len() {
                while let Some((to, relay)) = self.routers[from].poll_relay() {
                    carried = true;
                    self.routers[to.0].handle_relay(self.now, WorkerId(from), relay);
                }
            }
            if !carried {
                return;
            }
        }
    }

    pub fn stats(&self) -> RouterStats {
        let mut total = RouterStats::default();
        for router in &self.routers {
            total += router.stats();
        }
        total
    }

    /// The routers' events (under overload: as many per worker as its channel takes).
    pub fn events(&mut self) -> Vec<MediaEvent> {
        let per_step = match &self.overload {
            Some(o) if o.take_every > 0 => 1,
            _ => usize::MAX,
        };
        let mut events = Vec::new();
        for router in &mut self.routers {
            for _ in 0..per_step {
                let Some(event) = router.poll_event() else {
                    break;
                };
                events.push(event);
            }
        }
        events
    }

    /// Runs for `duration`; publishers send 30 fps video, answering keyframe requests.
    pub fn run(&mut self, duration: Duration) {
        let end = self.now + duration;
        let mut next_frame = self.now;
        while self.now < end {
            let send = self.now >= next_frame;
            if send {
                next_frame += Duration::from_millis(33);
            }
            self.step(send);
        }
    }

    /// One step of simulated time: peers and routers exchange what they have; with
    /// `send_frames`, connected publishers first send a frame of each track.
    pub fn step(&mut self, send_frames: bool) {
        self.handle_events();
        let mut to_server = std::mem::take(&mut self.backlog);
        for peer in &mut self.peers {
            peer.rtc.handle_input(Input::Timeout(self.now)).unwrap();
            peer.poll(&mut to_server);
            if send_frames && !peer.mids.is_empty() && peer.rtc.is_connected() {
                peer.send_frames(self.now, self.start);
                peer.poll(&mut to_server);
            }
        }
        let workers = self.routers.len();
        for (from, data) in to_server {
            if self.gone.contains(&from) {
                continue;
            }
            let worker = match &self.nodes {
                Some(nodes) => {
                    let peer = self.peers.iter().position(|p| p.addr == from);
                    peer.map_or(0, |i| nodes.peer_nodes[i])
                }
                None => usize::from(from.port()) % workers,
            };
            self.routers[worker].handle_datagram(self.now, from, &data);
        }
        if let Some(wait) = self.socket_wait {
            for router in &mut self.routers {
                router.socket_waited(self.now, wait);
            }
        }
        self.carry_relays();
        self.take_relays();
        for router in &mut self.routers {
            router.handle_timeout(self.now);
        }
        self.carry_relays();
        let mut transmits = Vec::new();
        for router in &mut self.routers {
            while let Some(t) = router.poll_transmit() {
                transmits.push(t);
            }
        }
        self.deliver(transmits);
        self.now += STEP;
    }

    /// The datagrams of one frame of each of `peer`'s tracks, not yet sent.
    pub fn frame_datagrams(&mut self, peer: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut datagrams = Vec::new();
        let (now, start) = (self.now, self.start);
        let peer = &mut self.peers[peer];
        peer.send_frames(now, start);
        // str0m packetizes a written frame on its next (immediate) timeout.
        for _ in 0..4 {
            peer.poll(&mut datagrams);
            peer.rtc.handle_input(Input::Timeout(now)).unwrap();
        }
        peer.poll(&mut datagrams);
        datagrams
    }

    /// Limits what reaches `peer` to `bps` bits a second (queueing up to 300 ms), or
    /// lifts the limit.
    pub fn limit_downlink(&mut self, peer: usize, bps: Option<u64>) {
        let now = self.now;
        let peer = &mut self.peers[peer];
        let queued = peer
            .downlink
            .take()
            .map(Downlink::into_queued)
            .unwrap_or_default();
        for (_, t) in queued {
            Sim::hand(now, peer, t, &mut self.backlog);
        }
        peer.downlink = bps.map(|bps| Downlink::new(bps, Duration::from_millis(300), now));
    }

    /// Hands the routers' datagrams to the peers they are for (dropping every
    /// `drop_every`-th), through their downlinks where they have one.
    pub fn deliver(&mut self, transmits: Vec<Transmit>) {
        let now = self.now;
        for peer in &mut self.peers {
            while let Some(t) = peer.downlink.as_mut().and_then(|d| d.arrived(now)) {
                Sim::hand(now, peer, t, &mut self.backlog);
            }
        }
        for t in transmits {
            self.sent += 1;
            if self.drop_every.is_some_and(|n| self.sent.is_multiple_of(n)) {
                continue;
            }
            let Some(peer) = self.peers.iter_mut().find(|p| p.addr == t.destination) else {
                continue;
            };
            match &mut peer.downlink {
                Some(link) => {
                    link.send(now, t);
                }
                None => Sim::hand(now, peer, t, &mut self.backlog),
            }
        }
    }

    /// A datagram arrives at `peer`.
    fn hand(now: Instant, peer: &mut Peer, t: Transmit, backlog: &mut Vec<(SocketAddr, Vec<u8>)>) {
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: t.source,
                destination: t.destination,
                contents: (&*t.contents).try_into().unwrap(),
            },
        );
        peer.rtc.handle_input(input).unwrap();
        // A peer takes in what arrives as it arrives (its queues are short).
        peer.poll(backlog);
    }
}
