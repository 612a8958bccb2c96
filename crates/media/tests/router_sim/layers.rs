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
    none_paused_for(&mut sim, bob, 32);
    every_camera_moves(&mut sim, bob, 4);
}

/// The longest a datagram waited on `subscriber`'s link since the last call, and how
/// many it dropped in all.
fn link_since(sim: &mut Sim, subscriber: usize) -> (Duration, u64) {
    let link = sim.peers[subscriber].downlink.as_mut().unwrap();
    (std::mem::take(&mut link.longest_wait), link.dropped)
}

/// Runs `quarters` quarter-seconds; no video of `subscriber`'s is paused at any.
fn none_paused_for(sim: &mut Sim, subscriber: usize, quarters: usize) {
    for _ in 0..quarters {
        sim.run(Duration::from_millis(250));
        assert_eq!(sim.peers[subscriber].paused, 0, "no video taken away");
    }
}

/// Each of `cameras` moves for `subscriber` over the next 2 s, and nothing was ever
/// dropped on its link.
fn every_camera_moves(sim: &mut Sim, subscriber: usize, cameras: u32) {
    let frames = sim.peers[subscriber].video_frames;
    sim.run(Duration::from_secs(2));
    let frames = sim.peers[subscriber].video_frames - frames;
    assert!(
        frames >= cameras * 55,
        "every camera moves: {frames} frames in 2 s"
    );
    assert_eq!(sim.peers[subscriber].downlink.as_ref().unwrap().dropped, 0);
}

#[test]
fn a_subscriber_on_a_slow_path_gets_layers_that_leave_its_queue_short() {
    // Four cameras of about 110, 210 and 420 kbit/s a layer, on a path of 1,000 kbit/s
    // that queues up to 300 ms: their middle layers and the sound fill it, and a queue
    // that stays full no longer grows, which is all a delay-based estimate sees.
    let mut sim = Sim::new();
    for port in 10001..10005 {
        let camera = sim.add_simulcast_publisher(port, &["q", "h", "f"]);
        sim.peers[camera].interframe_bytes = 400;
    }
    let bob = sim.add_subscriber(10010);
    sim.limit_downlink(bob, Some(1_000_000));
    sim.run(Duration::from_secs(15));
    let link = |sim: &mut Sim| link_since(sim, bob);
    let (_, dropped) = link(&mut sim);
    let frames = sim.peers[bob].video_frames;
    for _ in 0..10 {
        sim.run(Duration::from_secs(1));
        let (wait, _) = link(&mut sim);
        assert!(
            wait < Duration::from_millis(150),
            "a datagram waited {wait:?} on the link"
        );
    }
    let (_, after) = link(&mut sim);
    assert!(
        after - dropped <= 3,
        "{} datagrams dropped on the link in 10 s",
        after - dropped
    );
    let frames = sim.peers[bob].video_frames - frames;
    assert!(
        frames >= 4 * 30 * 10 * 9 / 10,
        "every camera moves: {frames} frames in 10 s"
    );
    assert_eq!(sim.peers[bob].paused, 0);
}

#[test]
fn a_subscriber_that_joins_on_a_slow_path_hears_everyone_again_within_three_seconds() {
    // About 360 kbit/s each, on a path of 1,000 kbit/s that queues up to 300 ms: the
    // videos overflow it from the start, and the estimate, an average over seconds, would
    // show it only after several.
    let (mut sim, bob) = four_cameras_to_one(1500, 1_000_000);
    sim.run(Duration::from_secs(3));
    let link = |sim: &mut Sim| link_since(sim, bob);
    let (_, lost) = link(&mut sim);
    let audio = sim.peers[bob].audio_frames;
    sim.run(Duration::from_secs(3));
    let (wait, dropped) = link(&mut sim);
    let (audio, lost) = (sim.peers[bob].audio_frames - audio, dropped - lost);
    assert!(
        audio >= 4 * 30 * 3 * 9 / 10 && lost == 0 && wait < Duration::from_millis(100),
        "from the third second: {audio} sound frames in 3 s, {lost} datagrams dropped on the \
         link, one waited {wait:?} on it"
    );
    assert!(
        sim.peers[bob].paused >= 2,
        "{} of 4 videos paused",
        sim.peers[bob].paused
    );
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

#[test]
fn a_subscriber_whose_cameras_join_one_after_another_keeps_them_all() {
    // About 2 Mbit/s each, one more every second on a path of 100 Mbit/s: each time what
    // is sent outgrows the estimate, str0m's estimator starts over from it, and the
    // average it reports mixes its estimates from before and after for a while.
    let mut sim = Sim::new();
    let first = sim.add_publisher(10001);
    sim.peers[first].interframe_bytes = 8000;
    let bob = sim.add_subscriber(10010);
    sim.limit_downlink(bob, Some(100_000_000));
    for port in 10002..10008 {
        none_paused_for(&mut sim, bob, 4);
        let camera = sim.add_publisher(port);
        sim.peers[camera].interframe_bytes = 8000;
    }
    none_paused_for(&mut sim, bob, 24);
    every_camera_moves(&mut sim, bob, 7);
}
