use std::sync::Arc;
use std::time::Instant;

use moim_proto::signal::{TrackKind, TrackSource};
use str0m::format::{Codec, CodecSpec, FormatParams, PayloadParams};
use str0m::media::{Frequency, MediaTime, Pt};

use super::*;
use crate::ids::ParticipantId;
use crate::relay::Frame;

const ROOM: RoomId = RoomId(5);
const A: LinkId = LinkId(1);
const B: LinkId = LinkId(2);

fn info(id: u64) -> TrackInfo {
    TrackInfo {
        id: TrackId(id),
        room: ROOM,
        participant: ParticipantId(id * 10),
        kind: TrackKind::Video,
        source: TrackSource::Camera,
        simulcast: true,
        muted: false,
    }
}

fn frame() -> Frame {
    let spec = CodecSpec {
        codec: Codec::Vp8,
        clock_rate: Frequency::NINETY_KHZ,
        channels: None,
        format: FormatParams::default(),
    };
    Frame {
        rid: None,
        params: PayloadParams::new(Pt::new_with_value(96), None, spec),
        time: MediaTime::new(0, Frequency::NINETY_KHZ),
        network_time: Instant::now(),
        contiguous: true,
        keyframe: false,
        data: Arc::from(&b"x"[..]),
    }
}

/// What went out, briefly: `w0 Interest`, `A TrackPublished`, …
fn names(out: &mut Vec<Out>) -> Vec<String> {
    out.drain(..)
        .map(|o| {
            let (to, what) = match o {
                Out::Worker(w, r) => (format!("w{}", w.0), format!("{r:?}")),
                Out::Link(l, m) => (if l == A { "A" } else { "B" }.to_owned(), format!("{m:?}")),
            };
            let kind = what.split(['(', ' ']).next().unwrap_or_default().to_owned();
            format!("{to} {kind}")
        })
        .collect()
}

#[test]
fn the_first_link_of_a_room_asks_the_workers_and_passes_their_tracks_and_frames_on() {
    let mut g = Gateway::new(2);
    let mut out = Vec::new();
    g.open(A, ROOM, &mut out);
    assert_eq!(names(&mut out), ["w0 Interest", "w1 Interest"]);
    g.from_worker(WorkerId(1), Relay::TrackPublished(info(1)), &mut out);
    g.from_worker(
        WorkerId(1),
        Relay::Frame {
            track: TrackId(1),
            frame: frame(),
        },
        &mut out,
    );
    assert_eq!(names(&mut out), ["A TrackPublished", "A Frame"]);
    // A keyframe request from the far side goes to the track's worker.
    let request = NodeMessage::KeyframeRequest {
        track: TrackId(1),
        rid: None,
    };
    g.from_link(A, request, &mut out);
    assert_eq!(names(&mut out), ["w1 KeyframeRequest"]);
    // A second link learns the room's tracks from the gateway; the workers are not asked.
    g.open(B, ROOM, &mut out);
    assert_eq!(names(&mut out), ["B TrackPublished"]);
}

#[test]
fn a_linked_nodes_tracks_are_mirrored_on_every_worker_and_on_the_rooms_other_links() {
    let mut g = Gateway::new(2);
    let mut out = Vec::new();
    g.open(A, ROOM, &mut out);
    g.open(B, ROOM, &mut out);
    out.clear();
    let track = node_track(&info(2));
    g.from_link(A, NodeMessage::TrackPublished(track), &mut out);
    assert_eq!(
        names(&mut out),
        ["w0 TrackPublished", "w1 TrackPublished", "B TrackPublished"]
    );
    let f = NodeMessage::Frame {
        track: track.id,
        frame: frame(),
    };
    g.from_link(A, f.clone(), &mut out);
    assert_eq!(names(&mut out), ["B Frame", "w0 Frame", "w1 Frame"]);
    // Only the link a track came from speaks for it.
    g.from_link(B, f, &mut out);
    g.from_link(B, NodeMessage::TrackUnpublished(track.id), &mut out);
    assert!(out.is_empty());
    // Keyframe requests from a worker or the other link go back to the track's link.
    let request = Relay::KeyframeRequest {
        track: track.id,
        rid: None,
    };
    g.from_worker(WorkerId(0), request, &mut out);
    let request = NodeMessage::KeyframeRequest {
        track: track.id,
        rid: None,
    };
    g.from_link(B, request, &mut out);
    assert_eq!(names(&mut out), ["A KeyframeRequest", "A KeyframeRequest"]);
    // Its link closing takes the track away everywhere.
    g.close(A, &mut out);
    assert_eq!(
        names(&mut out),
        [
            "w0 TrackUnpublished",
            "w1 TrackUnpublished",
            "B TrackUnpublished"
        ]
    );
}

#[test]
fn receivers_heights_are_added_up_and_reported_to_the_tracks_source_when_they_change() {
    let mut g = Gateway::new(2);
    let mut out = Vec::new();
    g.open(A, ROOM, &mut out);
    g.open(B, ROOM, &mut out);
    let track = node_track(&info(3));
    g.from_link(A, NodeMessage::TrackPublished(track), &mut out);
    out.clear();
    let heights = |worker, heights: &[u32]| Relay::ReceiverHeights {
        track: track.id,
        worker: WorkerId(worker),
        heights: heights.to_vec(),
    };
    g.from_worker(WorkerId(0), heights(0, &[180]), &mut out);
    g.from_worker(WorkerId(1), heights(1, &[720, 180]), &mut out);
    g.from_worker(WorkerId(1), heights(1, &[180, 720]), &mut out);
    let from_b = NodeMessage::ReceiverHeights {
        track: track.id,
        heights: vec![360],
    };
    g.from_link(B, from_b, &mut out);
    let reported: Vec<Vec<u32>> = out
        .drain(..)
        .map(|o| match o {
            Out::Link(l, NodeMessage::ReceiverHeights { heights, .. }) if l == A => heights,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(reported, [vec![180], vec![180, 720], vec![180, 360, 720]]);
    // The other link gone, what it needed is no longer reported.
    g.close(B, &mut out);
    assert!(matches!(
        &out[..],
        [Out::Link(_, NodeMessage::ReceiverHeights { heights, .. })] if *heights == [180, 720]
    ));
}

#[test]
fn the_last_link_of_a_room_closing_tells_the_workers_and_forgets_their_tracks() {
    let mut g = Gateway::new(1);
    let mut out = Vec::new();
    g.open(A, ROOM, &mut out);
    g.from_worker(WorkerId(0), Relay::TrackPublished(info(4)), &mut out);
    out.clear();
    g.close(A, &mut out);
    assert_eq!(names(&mut out), ["w0 Interest"]);
    assert_eq!(g.links(), 0);
    // A link opened later asks the workers again.
    g.open(B, ROOM, &mut out);
    assert_eq!(names(&mut out), ["w0 Interest"]);
    // Messages for links or rooms that are not there are ignored.
    g.from_link(A, NodeMessage::TrackUnpublished(TrackId(4)), &mut out);
    let other = TrackInfo {
        room: RoomId(99),
        ..info(6)
    };
    g.from_worker(WorkerId(0), Relay::TrackPublished(other), &mut out);
    assert!(out.is_empty());
}
