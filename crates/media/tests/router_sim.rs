//! The router driven without sockets, in simulated time: str0m peers exchange datagrams
//! with it in memory, so every run is the same (harness in `sim/mod.rs`).

mod sim;

use std::time::Duration;

use std::sync::Arc;

use moim_media::{Command, Forwarding, MediaError, MediaEvent};

use sim::Sim;

#[test]
fn subscriber_receives_publisher_media() {
    receives_publisher_media(Sim::new());
}

#[test]
fn subscriber_receives_publisher_media_in_frame_forwarding() {
    receives_publisher_media(Sim::new().with_forwarding(Forwarding::Frames));
}

fn receives_publisher_media(mut sim: Sim) {
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
fn peers_whose_addresses_change_restart_ice_and_media_flows_again() {
    // Two workers, and each new port lands on the other one: the restarted credentials
    // must be known on every worker.
    let mut sim = Sim::with_workers(2);
    let publisher = sim.add_publisher(5000);
    let subscriber = sim.add_subscriber(6000);
    sim.run(Duration::from_secs(2));
    assert!(
        sim.peers[subscriber].video_frames > 20,
        "media before the move"
    );
    sim.move_publisher(publisher, 5001);
    sim.move_subscriber(subscriber, 6001);
    sim.run(Duration::from_secs(1));
    let before = sim.peers[subscriber].video_frames;
    sim.run(Duration::from_secs(2));
    let after = sim.peers[subscriber].video_frames;
    assert!(
        after >= before + 50,
        "{before} then {after} frames after the move"
    );
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
fn lost_packets_are_retransmitted_so_frames_arrive_whole() {
    lost_packets_are_retransmitted(Sim::new());
}

#[test]
fn lost_packets_are_retransmitted_so_frames_arrive_whole_in_frame_forwarding() {
    lost_packets_are_retransmitted(Sim::new().with_forwarding(Forwarding::Frames));
}

fn lost_packets_are_retransmitted(mut sim: Sim) {
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
fn a_lost_sound_packet_comes_back_with_the_next_one_in_either_forwarding() {
    let received = |sim: Sim| {
        let mut sim = sim;
        let _alice = sim.add_publisher(10001);
        let bob = sim.add_subscriber(10002);
        sim.run(Duration::from_secs(1));
        sim.drop_every = Some(11);
        let before = sim.peers[bob].audio_frames;
        sim.run(Duration::from_secs(6));
        sim.peers[bob].audio_frames - before
    };
    let without = received(Sim::new());
    for way in [Forwarding::Frames, Forwarding::Packets] {
        let with = received(Sim::new().with_forwarding(way).with_sound_redundancy());
        assert!(
            with > without + 5 && with >= 178,
            "{way:?}: {with} sound frames with RED, {without} without, of 180"
        );
    }
}

#[test]
fn simulcast_layer_follows_the_rendered_size() {
    simulcast_layer_follows(Sim::new());
}

#[test]
fn simulcast_layer_follows_the_rendered_size_across_workers() {
    simulcast_layer_follows(Sim::with_workers(2));
}

#[test]
fn simulcast_layer_follows_the_rendered_size_in_frame_forwarding_across_workers() {
    simulcast_layer_follows(Sim::with_workers(2).with_forwarding(Forwarding::Frames));
}

fn simulcast_layer_follows(mut sim: Sim) {
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
fn a_track_published_muted_sends_nothing_until_unmuted() {
    published_muted_then_unmuted(1);
}

#[test]
fn a_mute_reaches_subscribers_on_another_worker() {
    published_muted_then_unmuted(2);
}

fn published_muted_then_unmuted(workers: usize) {
    let mut sim = Sim::with_workers(workers);
    let alice = sim.add_muted_publisher(10001);
    let bob = sim.add_subscriber(10002);
    sim.run(Duration::from_secs(2));
    assert_eq!(
        sim.peers[bob].video_frames, 0,
        "a muted camera is not forwarded"
    );
    assert_eq!(
        sim.peers[bob].audio_frames, 0,
        "a muted microphone is not forwarded"
    );
    let (participant, track) = (sim.peers[alice].id, sim.video_track_of(alice));
    sim.command(Command::Mute {
        participant,
        track,
        muted: false,
    });
    sim.run(Duration::from_secs(2));
    assert!(
        sim.peers[bob].video_frames > 20,
        "unmuted: {}",
        sim.peers[bob].video_frames
    );
    assert!(sim.peers[bob].keyframes >= 1);
    assert_eq!(sim.peers[bob].audio_frames, 0, "the microphone stays muted");
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
fn a_slow_downlink_gets_a_smaller_layer_and_a_very_slow_one_pauses_the_video() {
    slow_downlinks(Sim::new());
}

#[test]
fn a_slow_downlink_gets_a_smaller_layer_in_frame_forwarding_too() {
    slow_downlinks(Sim::new().with_forwarding(Forwarding::Frames));
}

fn slow_downlinks(mut sim: Sim) {
    let alice = sim.add_simulcast_publisher(10001, &["q", "h", "f"]);
    // Layers of about 110, 210 and 420 kbit/s; the subscriber's default size asks for
    // the middle one.
    sim.peers[alice].interframe_bytes = 400;
    let bob = sim.add_subscriber(10002);
    sim.run(Duration::from_secs(3));
    assert_eq!(sim.peers[bob].last_keyframe_height, Some(360), "open");

    sim.limit_downlink(bob, Some(210_000));
    sim.run(Duration::from_secs(10));
    assert_eq!(sim.peers[bob].last_keyframe_height, Some(180), "210 kbit/s");
    let frames = sim.peers[bob].video_frames;
    sim.run(Duration::from_secs(2));
    assert!(
        sim.peers[bob].video_frames > frames + 30,
        "the smaller layer keeps moving"
    );
    assert_eq!(sim.peers[bob].paused, 0);

    sim.limit_downlink(bob, Some(60_000));
    sim.run(Duration::from_secs(10));
    assert_eq!(sim.peers[bob].paused, 1, "60 kbit/s: the video is paused");
    let (frames, audio) = (sim.peers[bob].video_frames, sim.peers[bob].audio_frames);
    sim.run(Duration::from_secs(2));
    assert!(
        sim.peers[bob].video_frames <= frames + 1,
        "no video while paused"
    );
    assert!(
        sim.peers[bob].audio_frames >= audio + 58,
        "the sound goes on (30 frames a second): {} frames in 2 s, {} dropped on the link",
        sim.peers[bob].audio_frames - audio,
        sim.peers[bob].downlink.as_ref().unwrap().dropped
    );

    sim.limit_downlink(bob, None);
    sim.run(Duration::from_secs(20));
    assert_eq!(sim.peers[bob].paused, 0, "resumed once the link is open");
    let frames = sim.peers[bob].video_frames;
    sim.run(Duration::from_secs(1));
    assert!(sim.peers[bob].video_frames > frames + 20);
}

#[test]
fn a_frame_leaves_whole_for_every_subscriber_in_one_pass() {
    // With bandwidth estimation on, str0m's pacer releases one packet per timeout and
    // asks for the next a microsecond later. The router runs those timeouts at once, so
    // a frame does not trickle out one packet per subscriber per pass of the IO loop.
    let mut sim = Sim::new();
    let publisher = sim.add_publisher(10_000);
    // Well inside the starting estimate, so that the pacer has no debt to wait out.
    sim.peers[publisher].interframe_bytes = 3_000;
    let subscribers: Vec<usize> = (0..3).map(|i| sim.add_subscriber(20_000 + i)).collect();
    sim.run(Duration::from_secs(3));
    let datagrams = sim.frame_datagrams(publisher);
    let now = sim.now;
    let router = &mut sim.routers[0];
    for (from, datagram) in &datagrams {
        router.handle_datagram(now, *from, datagram);
    }
    let mut sent = std::collections::HashMap::new();
    while let Some(t) = router.poll_transmit() {
        *sent.entry(t.destination).or_insert(0) += 1;
    }
    for &subscriber in &subscribers {
        let packets = sent.get(&sim.peers[subscriber].addr).copied().unwrap_or(0);
        assert!(
            packets >= 3,
            "a 3 KB frame is three packets or more; {packets} left at once"
        );
    }
    // The IO loop takes a whole read before acting on it: two frames read at once leave
    // together, once settled.
    let mut datagrams = sim.frame_datagrams(publisher);
    datagrams.extend(sim.frame_datagrams(publisher));
    let router = &mut sim.routers[0];
    for (from, datagram) in &datagrams {
        router.take_datagram(now, *from, datagram);
    }
    assert!(router.poll_transmit().is_none(), "nothing before settling");
    router.settle(now);
    let mut sent = std::collections::HashMap::new();
    while let Some(t) = router.poll_transmit() {
        *sent.entry(t.destination).or_insert(0) += 1;
    }
    for subscriber in subscribers {
        let packets = sent.get(&sim.peers[subscriber].addr).copied().unwrap_or(0);
        assert!(packets >= 6, "two frames of three packets; {packets} left");
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

#[test]
fn a_camera_offered_only_in_vp9_is_refused_with_the_codecs_taken_in_packet_forwarding() {
    use std::time::Instant;
    use str0m::Rtc;
    use str0m::media::{Direction, MediaKind};
    let mut sim = Sim::new();
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_vp9(true)
        .enable_opus(true, false)
        .build(Instant::now());
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, _pending) = api.apply().unwrap();
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    sim.command(Command::Publish {
        room: sim.room,
        participant: moim_media::ParticipantId::next(),
        offer: offer.to_sdp_string(),
        sources: None,
        reply: tx,
    });
    let Err(MediaError::Negotiation(reason)) = rx.try_recv().unwrap() else {
        panic!("the offer is refused");
    };
    assert!(reason.contains("the offer's video"), "{reason}");
    assert!(reason.contains("VP8, H264"), "{reason}");
    assert_eq!(sim.stats().sessions, 0, "no session is left behind");
}
