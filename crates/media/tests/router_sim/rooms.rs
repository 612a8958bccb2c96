//! Rooms across workers and nodes: renegotiation when publishers leave, data channels,
//! overloaded workers shedding load and turning newcomers away.

use std::sync::Arc;
use std::time::Duration;

use moim_media::{Command, Forwarding, MediaEvent};

use crate::sim::Sim;

#[test]
fn publisher_leaving_renegotiates_its_tracks_away() {
    publisher_leaving_renegotiates(1, false);
}

#[test]
fn publisher_leaving_renegotiates_subscribers_on_another_worker() {
    publisher_leaving_renegotiates(2, false);
}

#[test]
fn a_speaker_made_listener_stops_publishing_on_every_worker() {
    publisher_leaving_renegotiates(2, true);
}

/// The publisher leaves, or (`unpublish_only`) only its publisher connection closes.
fn publisher_leaving_renegotiates(workers: usize, unpublish_only: bool) {
    let mut sim = Sim::with_workers(workers);
    let alice = sim.add_publisher(10001);
    let _bob = sim.add_subscriber(10002);
    sim.run(Duration::from_secs(1));
    let id = sim.peers[alice].id;
    sim.command(if unpublish_only {
        Command::Unpublish { participant: id }
    } else {
        Command::RemoveParticipant { participant: id }
    });
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
fn a_track_that_comes_after_one_left_takes_its_m_line() {
    takes_a_freed_m_line(Sim::new());
}

#[test]
fn a_track_that_comes_after_one_left_takes_its_m_line_in_frame_forwarding() {
    takes_a_freed_m_line(Sim::new().with_forwarding(Forwarding::Frames));
}

fn takes_a_freed_m_line(mut sim: Sim) {
    // A subscriber's connection does not grow with a meeting's comings and goings: the
    // m-line of a track that left carries the next track of its kind.
    let alice = sim.add_publisher(10001);
    let bob = sim.add_subscriber(10002);
    sim.run(Duration::from_secs(3));
    assert_eq!(
        sim.peers[bob].offered_m_lines, 3,
        "data channels, alice's sound and camera"
    );
    let id = sim.peers[alice].id;
    sim.command(Command::RemoveParticipant { participant: id });
    sim.run(Duration::from_millis(500));
    assert_eq!(sim.last_offer_tracks, Some(0));
    let carol = sim.add_publisher(10003);
    sim.run(Duration::from_secs(1));
    let carol_id = sim.peers[carol].id;
    assert_eq!(sim.peers[bob].offered_from, [carol_id, carol_id]);
    assert_eq!(
        sim.peers[bob].offered_m_lines, 3,
        "carol's sound and camera took the m-lines alice's left"
    );
    let (frames, sounds) = (sim.peers[bob].video_frames, sim.peers[bob].audio_frames);
    sim.run(Duration::from_secs(2));
    let b = &sim.peers[bob];
    assert!(
        b.video_frames > frames + 40,
        "carol's camera: {} frames",
        b.video_frames - frames
    );
    assert!(
        b.audio_frames > sounds + 40,
        "carol's sound: {} frames",
        b.audio_frames - sounds
    );
    assert_eq!(b.gaps, 0, "the m-line's stream went on without a gap");
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

#[test]
fn subscriber_data_channels_carry_messages_both_ways_across_workers() {
    let mut sim = Sim::with_workers(2);
    let ada = sim.add_subscriber(10001);
    let bob = sim.add_subscriber(10002);
    sim.run(Duration::from_secs(2));
    let labels: Vec<&str> = sim.peers[ada]
        .channels
        .iter()
        .map(|(_, l)| l.as_str())
        .collect();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert!(labels.contains(&"moim") && labels.contains(&"moim-lossy"));
    let opened = sim
        .data_events
        .iter()
        .filter(|e| matches!(e, MediaEvent::DataChannel { open: true, .. }))
        .count();
    assert_eq!(opened, 2, "each participant reported open once");

    // Ada writes on her reliable channel: the control plane gets the text.
    let (channel, _) = *sim.peers[ada]
        .channels
        .iter()
        .find(|(_, l)| l == "moim")
        .unwrap();
    let ada_id = sim.peers[ada].id;
    sim.peers[ada]
        .rtc
        .channel(channel)
        .unwrap()
        .write(false, br#"{"type":"chat","text":"hi"}"#)
        .unwrap();
    sim.run(Duration::from_millis(200));
    let received: Vec<_> = sim
        .data_events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::DataReceived { participant, text } => Some((*participant, text.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(received, [(ada_id, r#"{"type":"chat","text":"hi"}"#)]);

    // The control plane's message for both, sent to every worker, reaches each once.
    let participants: Arc<[_]> = [ada_id, sim.peers[bob].id].into();
    sim.command(Command::SendData {
        participants,
        reliable: true,
        text: r#"{"type":"chat"}"#.into(),
    });
    sim.run(Duration::from_millis(200));
    for peer in [ada, bob] {
        assert_eq!(sim.peers[peer].channel_messages, [r#"{"type":"chat"}"#]);
    }
}

#[test]
fn a_full_data_channel_hands_reliable_messages_back_for_signaling() {
    let mut sim = Sim::new();
    let ada = sim.add_subscriber(10001);
    sim.run(Duration::from_secs(2));
    let participants: Arc<[_]> = [sim.peers[ada].id].into();
    let text: Arc<str> = "x".repeat(16 * 1024).into();
    // Far more than a channel buffers at once, written before the peer can read any.
    for _ in 0..200 {
        sim.command(Command::SendData {
            participants: participants.clone(),
            reliable: true,
            text: text.clone(),
        });
    }
    sim.handle_events();
    let handed_back = sim
        .data_events
        .iter()
        .filter(|e| matches!(e, MediaEvent::DataUndelivered { .. }))
        .count();
    assert!(handed_back > 0, "nothing lost silently");
    assert_eq!(sim.stats().data_to_signaling as usize, handed_back);
    sim.run(Duration::from_secs(2));
    let delivered = sim.peers[ada].channel_messages.len();
    assert_eq!(
        delivered + handed_back,
        200,
        "every message went one way or the other"
    );
}

#[test]
fn a_room_on_two_overloaded_workers_converges_when_the_load_passes() {
    let mut sim = Sim::with_workers(2).without_bandwidth_estimation();
    let mut publishers: Vec<usize> = (0..4).map(|i| sim.add_publisher(10001 + i)).collect();
    let subscribers = [sim.add_subscriber(10011), sim.add_subscriber(10012)];
    sim.run(Duration::from_secs(1));

    // Inboxes of four relays, one relay taken every 20 ms (a sixth of the frames crossing),
    // one event passed per step: the queues between the workers are full all the time.
    // Meanwhile the room changes: a publisher leaves, another joins, one mutes its camera
    // and unmutes it.
    sim.overload(4, 4);
    let gone = publishers.remove(0);
    sim.command(Command::RemoveParticipant {
        participant: sim.peers[gone].id,
    });
    sim.run(Duration::from_millis(300));
    publishers.push(sim.add_publisher(10005));
    sim.run(Duration::from_millis(300));
    let muting = publishers[0];
    for muted in [true, false] {
        sim.command(Command::Mute {
            participant: sim.peers[muting].id,
            track: sim.video_track_of(muting),
            muted,
        });
        sim.run(Duration::from_millis(300));
    }
    sim.run(Duration::from_secs(2));
    assert!(
        sim.relays_dropped() > 100,
        "media was dropped: {}",
        sim.relays_dropped()
    );

    sim.relieve();
    // The newcomer's handshake lost datagrams handed between the workers (media, dropped
    // under overload); its DTLS retransmissions back off, so it may take seconds more.
    let tracks = 2 * publishers.len();
    let settled = |sim: &Sim| {
        subscribers
            .iter()
            .all(|&s| sim.peers[s].offered_tracks == Some(tracks))
    };
    let relieved = sim.now;
    while !settled(&sim) && sim.now - relieved < Duration::from_secs(20) {
        sim.run(Duration::from_millis(250));
    }
    eprintln!("converged {:?} after the load passed", sim.now - relieved);
    sim.run(Duration::from_secs(1));
    for &s in &subscribers {
        assert_eq!(
            sim.peers[s].offered_tracks,
            Some(tracks),
            "subscriber {s} is offered every track there is, no more: from {:?}, publishers {:?}",
            sim.peers[s].offered_from,
            publishers
                .iter()
                .map(|&p| sim.peers[p].id)
                .collect::<Vec<_>>()
        );
    }
    for w in 0..2 {
        let mirrored = sim.routers[w].stats().mirrored_tracks;
        let elsewhere = sim.routers[1 - w].stats().tracks;
        assert_eq!(
            mirrored, elsewhere,
            "worker {w} mirrors exactly the other's tracks"
        );
    }
    assert_eq!(sim.stats().tracks as usize, tracks);

    // Every publisher's video reaches every subscriber: four cameras at 30 fps.
    let before: Vec<u32> = subscribers
        .iter()
        .map(|&s| sim.peers[s].video_frames)
        .collect();
    sim.run(Duration::from_secs(1));
    for (i, &s) in subscribers.iter().enumerate() {
        let frames = sim.peers[s].video_frames - before[i];
        assert!(frames >= 100, "subscriber {s}: {frames} frames in a second");
    }
}

#[test]
fn a_viewer_without_the_data_grant_receives_over_a_connection_without_data_channels() {
    // The viewer comes first: an inactive audio m-line brings its connection up before
    // any track exists and keeps it up while none is left.
    let mut sim = Sim::new();
    let viewer = sim.add_viewer(10002);
    let guest = sim.add_subscriber(10003);
    sim.run(Duration::from_secs(1));
    let alice = sim.add_publisher(10001);
    sim.run(Duration::from_secs(3));
    let v = &sim.peers[viewer];
    assert!(v.video_frames > 50, "video frames: {}", v.video_frames);
    assert!(v.audio_frames > 50, "audio frames: {}", v.audio_frames);
    assert!(!v.offered_data, "no data channels offered");
    assert!(v.channels.is_empty());
    assert!(
        sim.peers[guest].offered_data,
        "a guest has its data channels"
    );

    // Every track gone, then a new publisher: the same connection carries it.
    let id = sim.peers[alice].id;
    sim.command(Command::RemoveParticipant { participant: id });
    sim.run(Duration::from_secs(1));
    assert_eq!(sim.peers[viewer].offered_tracks, Some(0));
    let frames = sim.peers[viewer].video_frames;
    sim.add_publisher(10004);
    sim.run(Duration::from_secs(3));
    assert!(
        sim.peers[viewer].video_frames > frames + 50,
        "the next publisher's video: {}",
        sim.peers[viewer].video_frames - frames
    );
}

#[test]
fn a_room_spans_two_nodes_and_each_frame_crosses_between_them_once() {
    let mut sim = Sim::with_nodes();
    let alice = sim.add_publisher(10001);
    sim.run(Duration::from_secs(1));
    sim.nodes.as_mut().unwrap().on = 1;
    let bob = sim.add_subscriber(10002);
    let carol = sim.add_subscriber(10003);
    sim.run(Duration::from_secs(3));
    let alice_id = sim.peers[alice].id;
    for peer in [bob, carol] {
        let p = &sim.peers[peer];
        assert!(p.video_frames > 50, "video frames: {}", p.video_frames);
        assert!(p.audio_frames > 80, "audio frames: {}", p.audio_frames);
        assert!(p.keyframes >= 1, "the keyframe request crossed back");
        assert_eq!(p.gaps, 0);
        assert_eq!(p.offered_from, [alice_id, alice_id], "under alice's own id");
    }
    assert!(sim.peers[alice].keyframe_requests >= 1);
    assert_eq!(
        sim.routers[0].stats().frames_forwarded,
        0,
        "alice's node has no subscriber"
    );
    assert_eq!(sim.routers[0].stats().tracks, 2);
    assert_eq!(sim.routers[1].stats().mirrored_tracks, 2);
    let nodes = sim.nodes.as_ref().unwrap();
    let forwarded = sim.routers[1].stats().frames_forwarded as usize;
    assert!(
        nodes.frames_sent[0] * 2 >= forwarded - 10 && nodes.frames_sent[0] < forwarded * 3 / 4,
        "{} frames crossed for {forwarded} forwarded to two subscribers",
        nodes.frames_sent[0]
    );
}

#[test]
fn tracks_published_on_the_second_node_reach_the_first_and_leave_with_their_link() {
    let mut sim = Sim::with_nodes();
    let erin = sim.add_subscriber(10001);
    sim.nodes.as_mut().unwrap().on = 1;
    let dave = sim.add_publisher(10002);
    sim.run(Duration::from_secs(3));
    let e = &sim.peers[erin];
    assert!(e.video_frames > 50, "video frames: {}", e.video_frames);
    assert_eq!(e.offered_from, [sim.peers[dave].id; 2]);
    // Dave's node is lost: its tracks leave the first node's subscriber.
    sim.unlink(0);
    sim.run(Duration::from_millis(500));
    assert_eq!(sim.peers[erin].offered_tracks, Some(0));
    assert_eq!(sim.routers[0].stats().mirrored_tracks, 0);
}

#[test]
fn a_worker_behind_sheds_load_and_turns_newcomers_away_until_it_keeps_up() {
    let mut sim = Sim::new();
    let alice = sim.add_simulcast_publisher(10001, &["q", "h", "f"]);
    let viewers = [sim.add_subscriber(10002), sim.add_subscriber(10003)];
    sim.run(Duration::from_secs(1));
    let track = sim.video_track_of(alice);
    for viewer in viewers {
        let participant = sim.peers[viewer].id;
        sim.command(Command::VideoSize {
            participant,
            track,
            width: 1280,
            height: 720,
        });
    }
    sim.run(Duration::from_secs(2));
    let heights = |sim: &Sim| {
        let mut h: Vec<_> = viewers
            .iter()
            .map(|v| sim.peers[*v].last_keyframe_height)
            .collect();
        h.sort();
        h
    };
    assert_eq!(heights(&sim), [Some(720); 2]);
    assert_eq!(sim.stats().overload_level, 0);

    // Every read finds datagrams that waited 300 ms: a queue stands in the socket.
    sim.socket_wait = Some(Duration::from_millis(300));
    for (level, expected) in [
        (1, [Some(360), Some(720)]),
        (2, [Some(360); 2]),
        (3, [Some(180); 2]),
    ] {
        sim.run(Duration::from_millis(if level == 1 { 600 } else { 1000 }));
        assert_eq!(sim.stats().overload_level, level);
        assert_eq!(heights(&sim), expected, "level {level}");
        // From level 2 the worker takes no newcomer; those it has carry on.
        let newcomer = sim.try_add_subscriber(20_100 + level as u16);
        assert_eq!(newcomer.is_ok(), level < 2, "level {level}: {newcomer:?}");
    }
    sim.run(Duration::from_millis(1000));
    assert_eq!(sim.stats().overload_level, 4);
    let before: Vec<_> = viewers
        .iter()
        .map(|v| (sim.peers[*v].video_frames, sim.peers[*v].audio_frames))
        .collect();
    sim.run(Duration::from_secs(1));
    for (viewer, (video, audio)) in viewers.iter().zip(before) {
        let peer = &sim.peers[*viewer];
        assert!(peer.video_frames <= video + 1, "late video is dropped");
        assert!(peer.audio_frames >= audio + 25, "the sound goes on");
    }
    assert!(sim.stats().frames_shed >= 25, "{:?}", sim.stats());

    // The queue is gone: after a calm spell the late frames flow again, then the layers
    // come back one level at a time.
    sim.socket_wait = Some(Duration::from_millis(1));
    sim.run(Duration::from_millis(10_500));
    assert_eq!(sim.stats().overload_level, 3);
    let video: Vec<_> = viewers.iter().map(|v| sim.peers[*v].video_frames).collect();
    sim.run(Duration::from_secs(1));
    for (viewer, video) in viewers.iter().zip(video) {
        assert!(sim.peers[*viewer].video_frames > video + 20, "video again");
    }
    sim.run(Duration::from_secs(32));
    assert_eq!(sim.stats().overload_level, 0);
    assert_eq!(heights(&sim), [Some(720); 2]);
    sim.try_add_subscriber(20_110)
        .expect("a worker that keeps up takes newcomers again");
}
