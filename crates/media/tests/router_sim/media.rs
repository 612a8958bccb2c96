//! Media reaching subscribers: frames whole, keyframes asked for once, losses repaired,
//! mutes obeyed, and codecs the server cannot cut refused.

use std::time::Duration;

use moim_media::{Command, Forwarding, MediaError};

use crate::sim::Sim;

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
