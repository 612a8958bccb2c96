//! Micro-benchmarks of the per-packet and per-frame decisions on the forwarding path, so
//! that a regression shows: `cargo bench -p moim-media`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use moim_media::demux::Demux;
use moim_media::ids::{ParticipantId, RoomId, SessionId, TrackId};
use moim_media::stun::binding_request;
use moim_media::subscription::Slot;
use moim_media::track::{Origin, Track, vp8_keyframe_size};
use moim_proto::signal::{TrackKind, TrackSource};
use str0m::media::{Frequency, MediaTime, Mid, Rid};

fn simulcast_track(now: Instant) -> Track {
    let mut track = Track {
        id: TrackId(1),
        room: RoomId(1),
        participant: ParticipantId(1),
        origin: Origin::Local {
            session: SessionId(1),
            mid: Mid::from("1"),
        },
        kind: TrackKind::Video,
        source: TrackSource::Camera,
        simulcast: true,
        muted: false,
        layers: Vec::new(),
        subscribers: Vec::new(),
        speech: Default::default(),
        egress: Default::default(),
        dynacast: Default::default(),
    };
    for rid in ["q", "h", "f"] {
        track.layer_index(Some(Rid::from(rid)), now);
    }
    track
}

fn slot(c: &mut Criterion) {
    let start = Instant::now();
    let mut slot = Slot::new(Some(TrackId(1)), true, true);
    slot.decide(1, Some(1), true);
    let mut n = 0u64;
    c.bench_function("slot: decide and rewrite the RTP time of one frame", |b| {
        b.iter(|| {
            n += 1;
            let d = slot.decide(black_box(1), black_box(Some(1)), false);
            let t = MediaTime::new(n * 3000, Frequency::NINETY_KHZ);
            black_box((d, slot.out_time(t, start + Duration::from_millis(n * 33))))
        })
    });
}

fn layers(c: &mut Criterion) {
    let now = Instant::now();
    let mut track = simulcast_track(now);
    c.bench_function(
        "track: note a frame and choose a layer for one subscriber",
        |b| {
            b.iter(|| {
                let layer = track.layer_index(black_box(Some(Rid::from("h"))), now);
                track.saw_frame(layer, 1000, None, now);
                black_box(track.choose_layer(black_box(540), now))
            })
        },
    );
    let keyframe = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
    c.bench_function("track: VP8 keyframe height", |b| {
        b.iter(|| black_box(vp8_keyframe_size(black_box(&keyframe))))
    });
}

fn demux(c: &mut Criterion) {
    let mut demux = Demux::default();
    let now = Instant::now();
    for i in 0..1000u16 {
        let ufrag = format!("u{i:04}");
        demux.add_session(SessionId(u64::from(i)), ufrag.clone());
        let addr = SocketAddr::from(([127, 0, 0, 1], 20_000 + i));
        let stun = binding_request(&format!("{ufrag}:peer"), Some(&demux.password(&ufrag)));
        demux.route(now, addr, &stun);
    }
    let media = [0x80u8; 200];
    let from = SocketAddr::from(([127, 0, 0, 1], 20_500));
    c.bench_function("demux: route a datagram among 1000 sessions", |b| {
        b.iter(|| black_box(demux.route(now, black_box(from), black_box(&media))))
    });
}

criterion_group!(hot_path, slot, layers, demux);
criterion_main!(hot_path);
