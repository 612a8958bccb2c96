//! Simulcast layers chosen per subscription: by the size it is rendered at, and by what
//! its downlink carries.

use std::time::Duration;

use moim_media::{Command, Forwarding};

use crate::sim::Sim;

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
    let dropped = |sim: &Sim| sim.peers[bob].downlink.as_ref().unwrap().dropped;
    let (frames, audio, lost) = (
        sim.peers[bob].video_frames,
        sim.peers[bob].audio_frames,
        dropped(&sim),
    );
    sim.run(Duration::from_secs(4));
    assert!(
        sim.peers[bob].video_frames <= frames + 1,
        "no video while paused"
    );
    let (audio, lost) = (sim.peers[bob].audio_frames - audio, dropped(&sim) - lost);
    // 30 sound frames a second. The estimator's probes share the full link, so a few
    // datagrams are dropped on it, and how many frames are still queued on it when the
    // window opens and closes varies by a few (111–132 over many runs).
    assert!(
        audio >= 108 && lost <= 6,
        "the sound goes on: {audio} frames in 4 s, {lost} datagrams dropped on the link"
    );

    sim.limit_downlink(bob, None);
    sim.run(Duration::from_secs(20));
    assert_eq!(sim.peers[bob].paused, 0, "resumed once the link is open");
    let frames = sim.peers[bob].video_frames;
    sim.run(Duration::from_secs(1));
    assert!(sim.peers[bob].video_frames > frames + 20);
}

/// A subscriber behind a downlink of `bps` joins four cameras of `interframe_bytes` a
/// frame at 30 frames a second.
fn four_cameras_to_one(interframe_bytes: usize, bps: u64) -> (Sim, usize) {
    let mut sim = Sim::new();
    for port in 10001..10005 {
        let camera = sim.add_publisher(port);
        sim.peers[camera].interframe_bytes = interframe_bytes;
    }
    let subscriber = sim.add_subscriber(10010);
    sim.limit_downlink(subscriber, Some(bps));
    (sim, subscriber)
}

#[test]
fn a_subscriber_whose_path_carries_every_video_keeps_them_all_from_its_first_estimate() {
    // About 2 Mbit/s each: more in all than str0m's starting guess of what a path
    // carries (1,000 kbit/s), and than its first probes (6 times the guess) reach.
    let (mut sim, bob) = four_cameras_to_one(8000, 100_000_000);
    for _ in 0..32 {
        sim.run(Duration::from_millis(250));
        assert_eq!(sim.peers[bob].paused, 0, "no video taken away");
    }
    let frames = sim.peers[bob].video_frames;
    sim.run(Duration::from_secs(2));
    let frames = sim.peers[bob].video_frames - frames;
    assert!(
        frames >= 4 * 55,
        "every camera moves: {frames} frames in 2 s"
    );
    assert_eq!(sim.peers[bob].downlink.as_ref().unwrap().dropped, 0);
}

#[test]
fn a_subscriber_that_joins_on_a_slow_path_has_videos_taken_away_and_keeps_the_sound() {
    // About 360 kbit/s each, on a path of 1,000 kbit/s.
    let (mut sim, bob) = four_cameras_to_one(1500, 1_000_000);
    sim.run(Duration::from_secs(6));
    let paused = sim.peers[bob].paused;
    assert!(paused >= 2, "{paused} of 4 videos paused");
    let dropped = |sim: &Sim| sim.peers[bob].downlink.as_ref().unwrap().dropped;
    let (audio, lost) = (sim.peers[bob].audio_frames, dropped(&sim));
    sim.run(Duration::from_secs(4));
    let (audio, lost) = (sim.peers[bob].audio_frames - audio, dropped(&sim) - lost);
    assert!(
        audio >= 4 * 30 * 4 * 9 / 10 && lost <= 6,
        "the sound goes on: {audio} frames in 4 s, {lost} datagrams dropped on the link"
    );
}
