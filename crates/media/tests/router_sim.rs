//! The router driven without sockets, in simulated time: str0m peers exchange datagrams
//! with it in memory, so every run is the same. With several workers, one router each,
//! datagrams land on a worker chosen by the peer's port (as the kernel spreads addresses
//! over the sockets of the port) and the routers' relays are carried between them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use moim_media::placement::Placement;
use moim_media::relay::WorkerId;
use moim_media::{Command, MediaEvent, ParticipantId, RoomId, Router, RouterStats, TrackId};
use moim_proto::signal::{TrackKind, TrackSource};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{
    Direction, Frequency, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer,
};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::sync::oneshot;

const SERVER: &str = "127.0.0.1:7882";
const STEP: Duration = Duration::from_millis(5);

struct Peer {
    id: ParticipantId,
    rtc: Rtc,
    addr: SocketAddr,
    pending: Option<SdpPendingOffer>,
    mids: Vec<(Mid, MediaKind)>,
    video_frames: u32,
    keyframes: u32,
    audio_frames: u32,
    keyframe_requests: u32,
    /// Simulcast rids sent (`[None]` without simulcast) and whether each owes a keyframe.
    rids: Vec<Option<Rid>>,
    keyframe_wanted: Vec<bool>,
    gaps: u32,
    /// Height of the last keyframe received.
    last_keyframe_height: Option<u32>,
}

impl Peer {
    fn new(port: u16, now: Instant) -> Peer {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut rtc = Rtc::builder().build(now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        Peer {
            id: ParticipantId::next(),
            rtc,
            addr,
            pending: None,
            mids: Vec::new(),
            video_frames: 0,
            keyframes: 0,
            audio_frames: 0,
            keyframe_requests: 0,
            rids: vec![None],
            keyframe_wanted: vec![true],
            gaps: 0,
            last_keyframe_height: None,
        }
    }

    /// Offers one audio and one video track, the video in the given simulcast layers.
    fn offer_tracks(&mut self, rids: &[&str]) -> (String, Vec<(String, TrackSource)>) {
        let simulcast = (!rids.is_empty()).then(|| Simulcast {
            send: rids.iter().map(|r| SimulcastLayer::new(r)).collect(),
            recv: Vec::new(),
        });
        if !rids.is_empty() {
            self.rids = rids.iter().map(|r| Some(Rid::from(*r))).collect();
            self.keyframe_wanted = vec![true; rids.len()];
        }
        let mut api = self.rtc.sdp_api();
        let a = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let v = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, simulcast);
        let (offer, pending) = api.apply().unwrap();
        self.pending = Some(pending);
        self.mids = vec![(a, MediaKind::Audio), (v, MediaKind::Video)];
        let sources = vec![
            (a.to_string(), TrackSource::Microphone),
            (v.to_string(), TrackSource::Camera),
        ];
        (offer.to_sdp_string(), sources)
    }

    /// Sends one audio frame and one video frame per layer (layer i is 180·2^i pixels
    /// tall); a keyframe first and then only when asked.
    fn send_frames(&mut self, now: Instant, start: Instant) {
        let micros = (now - start).as_micros() as u64;
        for (mid, kind) in self.mids.clone() {
            let codec = if kind == MediaKind::Audio {
                Codec::Opus
            } else {
                Codec::Vp8
            };
            let pt = {
                let Some(w) = self.rtc.writer(mid) else {
                    continue;
                };
                w.payload_params()
                    .find(|p| p.spec().codec == codec)
                    .unwrap()
                    .pt()
            };
            if kind == MediaKind::Audio {
                let time = MediaTime::from_micros(micros).rebase(Frequency::FORTY_EIGHT_KHZ);
                let w = self.rtc.writer(mid).unwrap();
                w.write(pt, now, time, vec![0xfc; 40]).unwrap();
                continue;
            }
            let time = MediaTime::from_micros(micros).rebase(Frequency::NINETY_KHZ);
            for (i, rid) in self.rids.clone().into_iter().enumerate() {
                let keyframe = std::mem::take(&mut self.keyframe_wanted[i]);
                let data = if keyframe {
                    let height = (180u16 << i).to_le_bytes();
                    let mut f = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01];
                    f.extend_from_slice(&height);
                    f.resize(2500, 7);
                    f
                } else {
                    vec![0x11, 0, 0, 1, 2, 3]
                };
                let mut w = self.rtc.writer(mid).unwrap();
                if let Some(rid) = rid {
                    w = w.rid(rid);
                }
                w.write(pt, now, time, data).unwrap();
            }
        }
    }

    /// Drains the peer's output into `to_server`, counting what it received.
    fn poll(&mut self, to_server: &mut Vec<(SocketAddr, Vec<u8>)>) {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Transmit(t) => to_server.push((t.source, t.contents.to_vec())),
                Output::Timeout(_) => return,
                Output::Event(Event::MediaData(d)) => {
                    if d.params.spec().codec == Codec::Opus {
                        self.audio_frames += 1;
                    } else {
                        self.video_frames += 1;
                        self.keyframes += u32::from(d.is_keyframe());
                        if d.is_keyframe() && d.data.len() >= 10 {
                            let h = u16::from_le_bytes([d.data[8], d.data[9]]) & 0x3fff;
                            self.last_keyframe_height = Some(u32::from(h));
                        }
                        self.gaps += u32::from(!d.contiguous);
                    }
                }
                Output::Event(Event::KeyframeRequest(r)) => {
                    self.keyframe_requests += 1;
                    for (i, rid) in self.rids.iter().enumerate() {
                        if r.rid.is_none() || r.rid == *rid {
                            self.keyframe_wanted[i] = true;
                        }
                    }
                }
                Output::Event(_) => {}
            }
        }
    }
}

struct Sim {
    routers: Vec<Router>,
    placement: Placement,
    peers: Vec<Peer>,
    now: Instant,
    start: Instant,
    room: RoomId,
    /// Every n-th datagram from the server is lost, if set.
    drop_every: Option<usize>,
    /// Video tracks announced, by publisher.
    videos: Vec<(ParticipantId, TrackId)>,
    /// Tracks unpublished so far.
    unpublished: usize,
    /// The number of tracks in the latest subscriber offer.
    last_offer_tracks: Option<usize>,
}

impl Sim {
    fn new() -> Sim {
        Sim::with_workers(1)
    }

    fn with_workers(workers: usize) -> Sim {
        str0m::crypto::from_feature_flags().install_process_default();
        let now = Instant::now();
        let server = SERVER.parse().unwrap();
        Sim {
            routers: (0..workers)
                .map(|w| Router::for_worker(server, WorkerId(w), workers))
                .collect(),
            placement: Placement::new(workers),
            peers: Vec::new(),
            now,
            start: now,
            room: RoomId::next(),
            drop_every: None,
            videos: Vec::new(),
            unpublished: 0,
            last_offer_tracks: None,
        }
    }

    /// Hands a command to its worker(s), as the media plane's handle does.
    fn command(&mut self, command: Command) {
        match self.placement.route(&command) {
            Some(worker) => self.routers[worker.0].handle_command(self.now, command),
            None => {
                for router in &mut self.routers {
                    router.handle_command(self.now, command.duplicate().unwrap());
                }
            }
        }
        self.carry_relays();
    }

    /// Delivers messages between workers until none is left.
    fn carry_relays(&mut self) {
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

    fn stats(&self) -> RouterStats {
        let mut total = RouterStats::default();
        for router in &self.routers {
            total += router.stats();
        }
        total
    }

    fn events(&mut self) -> Vec<MediaEvent> {
        let mut events = Vec::new();
        for router in &mut self.routers {
            while let Some(event) = router.poll_event() {
                events.push(event);
            }
        }
        events
    }

    fn add_publisher(&mut self, port: u16) -> usize {
        self.add_simulcast_publisher(port, &[])
    }

    fn add_simulcast_publisher(&mut self, port: u16, rids: &[&str]) -> usize {
        let mut peer = Peer::new(port, self.now);
        let (offer, sources) = peer.offer_tracks(rids);
        let (tx, mut rx) = oneshot::channel();
        self.command(Command::Publish {
            room: self.room,
            participant: peer.id,
            offer,
            sources: Some(sources),
            reply: tx,
        });
        let answer = rx.try_recv().unwrap().unwrap();
        let answer = SdpAnswer::from_sdp_string(&answer.sdp).unwrap();
        let pending = peer.pending.take().unwrap();
        peer.rtc.sdp_api().accept_answer(pending, answer).unwrap();
        self.peers.push(peer);
        self.peers.len() - 1
    }

    fn add_subscriber(&mut self, port: u16) -> usize {
        let peer = Peer::new(port, self.now);
        self.command(Command::Subscribe {
            room: self.room,
            participant: peer.id,
        });
        self.peers.push(peer);
        self.peers.len() - 1
    }

    fn video_track_of(&self, peer: usize) -> TrackId {
        let id = self.peers[peer].id;
        self.videos.iter().find(|(p, _)| *p == id).unwrap().1
    }

    /// Answers subscriber offers the router emitted.
    fn handle_events(&mut self) {
        for event in self.events() {
            if let MediaEvent::TrackUnpublished { .. } = event {
                self.unpublished += 1;
            }
            if let MediaEvent::TrackPublished {
                participant, track, ..
            } = &event
                && track.kind == TrackKind::Video
            {
                self.videos.push((*participant, track.id));
            }
            if let MediaEvent::SubscriberOffer {
                participant,
                sdp,
                tracks,
            } = event
            {
                self.last_offer_tracks = Some(tracks.len());
                let peer = self.peers.iter_mut().find(|p| p.id == participant).unwrap();
                let offer = SdpOffer::from_sdp_string(&sdp).unwrap();
                let answer = peer.rtc.sdp_api().accept_offer(offer).unwrap();
                let (tx, mut rx) = oneshot::channel();
                self.command(Command::SubscribeAnswer {
                    participant,
                    answer: answer.to_sdp_string(),
                    reply: tx,
                });
                rx.try_recv().unwrap().unwrap();
            }
        }
    }

    /// Runs for `duration`; publishers send 30 fps video, answering keyframe requests.
    fn run(&mut self, duration: Duration) {
        let end = self.now + duration;
        let mut next_frame = self.now;
        let mut sent = 0usize;
        while self.now < end {
            self.handle_events();
            let mut to_server = Vec::new();
            for peer in &mut self.peers {
                peer.rtc.handle_input(Input::Timeout(self.now)).unwrap();
                peer.poll(&mut to_server);
                if self.now >= next_frame && !peer.mids.is_empty() && peer.rtc.is_connected() {
                    peer.send_frames(self.now, self.start);
                    peer.poll(&mut to_server);
                }
            }
            if self.now >= next_frame {
                next_frame += Duration::from_millis(33);
            }
            let workers = self.routers.len();
            for (from, data) in to_server {
                let worker = usize::from(from.port()) % workers;
                self.routers[worker].handle_datagram(self.now, from, &data);
            }
            self.carry_relays();
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
            for t in transmits {
                sent += 1;
                if self.drop_every.is_some_and(|n| sent.is_multiple_of(n)) {
                    continue;
                }
                let Some(peer) = self.peers.iter_mut().find(|p| p.addr == t.destination) else {
                    continue;
                };
                let input = Input::Receive(
                    self.now,
                    Receive {
                        proto: Protocol::Udp,
                        source: t.source,
                        destination: t.destination,
                        contents: (&*t.contents).try_into().unwrap(),
                    },
                );
                peer.rtc.handle_input(input).unwrap();
            }
            self.now += STEP;
        }
    }
}

#[test]
fn subscriber_receives_publisher_media() {
    let mut sim = Sim::new();
    let alice = sim.add_publisher(10001);
    let bob = sim.add_subscriber(10002);
    sim.run(Duration::from_secs(3));
    let (a, b) = (&sim.peers[alice], &sim.peers[bob]);
    assert!(b.video_frames > 50, "video frames: {}", b.video_frames);
    assert!(b.audio_frames > 50, "audio frames: {}", b.audio_frames);
    assert!(b.keyframes >= 1);
    assert_eq!(a.video_frames, 0, "nobody sends to a lone publisher");
    assert!(sim.stats().frames_forwarded > 100);
}

#[test]
fn late_subscriber_gets_a_keyframe_by_asking_the_publisher() {
    let mut sim = Sim::new();
    let alice = sim.add_publisher(10001);
    sim.run(Duration::from_secs(2));
    let bob = sim.add_subscriber(10002);
    sim.run(Duration::from_secs(2));
    assert!(
        sim.peers[alice].keyframe_requests >= 1,
        "the server asked for a keyframe"
    );
    assert!(sim.peers[bob].keyframes >= 1, "bob decoded from a keyframe");
    assert!(sim.peers[bob].video_frames > 20);
}

#[test]
fn keyframe_requests_of_many_subscribers_are_merged() {
    keyframe_requests_are_merged(1);
}

#[test]
fn keyframe_requests_from_subscribers_on_two_workers_are_merged() {
    keyframe_requests_are_merged(2);
}

fn keyframe_requests_are_merged(workers: usize) {
    let mut sim = Sim::with_workers(workers);
    let alice = sim.add_publisher(10001);
    sim.run(Duration::from_secs(1));
    let before = sim.peers[alice].keyframe_requests;
    for port in 10002..10010 {
        sim.add_subscriber(port);
    }
    sim.run(Duration::from_millis(1500));
    let asked = sim.peers[alice].keyframe_requests - before;
    assert!(asked >= 1, "someone asked");
    assert!(
        asked <= 5,
        "eight subscribers, {asked} requests reached the publisher"
    );
    for peer in &sim.peers[1..] {
        assert!(peer.keyframes >= 1);
    }
}

#[test]
fn publisher_leaving_renegotiates_its_tracks_away() {
    publisher_leaving_renegotiates(1);
}

#[test]
fn publisher_leaving_renegotiates_subscribers_on_another_worker() {
    publisher_leaving_renegotiates(2);
}

fn publisher_leaving_renegotiates(workers: usize) {
    let mut sim = Sim::with_workers(workers);
    let alice = sim.add_publisher(10001);
    let _bob = sim.add_subscriber(10002);
    sim.run(Duration::from_secs(1));
    let id = sim.peers[alice].id;
    sim.command(Command::RemoveParticipant { participant: id });
    sim.run(Duration::from_millis(100));
    assert_eq!(
        sim.unpublished, 2,
        "reported once, by the publisher's worker"
    );
    assert_eq!(
        sim.last_offer_tracks,
        Some(0),
        "the subscriber is offered no tracks"
    );
    assert_eq!(sim.stats().tracks, 0);
}

#[test]
fn lost_packets_are_retransmitted_so_frames_arrive_whole() {
    let mut sim = Sim::new();
    let _alice = sim.add_publisher(10001);
    let bob = sim.add_subscriber(10002);
    sim.run(Duration::from_secs(1));
    sim.drop_every = Some(25);
    let before = sim.peers[bob].video_frames;
    sim.run(Duration::from_secs(3));
    let bob = &sim.peers[bob];
    let received = bob.video_frames - before;
    assert!(
        received >= 85,
        "3 s at 30 fps with 4 % loss: {received} frames"
    );
    assert_eq!(bob.gaps, 0, "NACK/RTX filled every gap");
}

#[test]
fn simulcast_layer_follows_the_rendered_size() {
    simulcast_layer_follows(1);
}

#[test]
fn simulcast_layer_follows_the_rendered_size_across_workers() {
    simulcast_layer_follows(2);
}

fn simulcast_layer_follows(workers: usize) {
    let mut sim = Sim::with_workers(workers);
    let alice = sim.add_simulcast_publisher(10001, &["q", "h", "f"]);
    let bob = sim.add_subscriber(10002);
    sim.run(Duration::from_secs(2));
    assert_eq!(
        sim.peers[bob].last_keyframe_height,
        Some(360),
        "default: the middle layer"
    );
    let track = sim.video_track_of(alice);
    for (height, expected) in [(700, 720), (120, 180), (400, 360), (500, 720)] {
        let participant = sim.peers[bob].id;
        sim.command(Command::VideoSize {
            participant,
            track,
            width: height * 16 / 9,
            height,
        });
        sim.run(Duration::from_millis(800));
        assert_eq!(
            sim.peers[bob].last_keyframe_height,
            Some(expected),
            "rendered at {height}px"
        );
    }
    assert!(sim.peers[bob].gaps == 0);
}

#[test]
fn room_spans_workers_and_frames_cross_to_the_other_worker() {
    let mut sim = Sim::with_workers(2);
    // Placement alternates: alice on worker 0, bob on worker 1. Their ports land their
    // datagrams on the other worker, so every datagram is handed over too.
    let alice = sim.add_publisher(10001);
    sim.run(Duration::from_secs(1));
    let bob = sim.add_subscriber(10002);
    sim.run(Duration::from_secs(3));
    let (a, b) = (&sim.peers[alice], &sim.peers[bob]);
    assert!(b.video_frames > 50, "video frames: {}", b.video_frames);
    assert!(b.audio_frames > 80, "audio frames: {}", b.audio_frames);
    assert!(b.keyframes >= 1, "bob's keyframe request reached alice");
    assert!(a.keyframe_requests >= 1);
    assert_eq!(b.gaps, 0);
    let stats = sim.stats();
    assert_eq!(stats.tracks, 2, "mirrors are not counted as tracks");
    assert!(stats.datagrams_handed_over > 100);
    assert_eq!(
        sim.routers[0].stats().frames_forwarded,
        0,
        "alice's worker has no subscriber"
    );
    assert!(sim.routers[1].stats().frames_forwarded > 100);
}
