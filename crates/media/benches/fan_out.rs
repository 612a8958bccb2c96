//! The whole forwarding path in one process: one publisher's frame (a 720p-sized VP8
//! interframe and an Opus frame) through the `Router` to N connected subscribers —
//! decrypting, depacketizing, the forwarding decisions, packetizing and encrypting per
//! subscriber. Peers run in simulated time (`tests/sim`); only the router's work is timed.
//! Three ways: the frame's datagrams handled one by one; taken as one read and settled
//! once, as the worker does when they arrive together; and that with packet forwarding,
//! where the frame is cut into packets once and each subscriber sends the same ones
//! (`packets.rs`) instead of cutting it again.
//! `cargo bench -p moim-media --bench fan_out`.

#[path = "../tests/sim/mod.rs"]
mod sim;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use moim_media::Forwarding;
use sim::Sim;

/// A 1.7 Mbit/s layer at 30 fps: about 7 KB per frame, six RTP packets.
const INTERFRAME_BYTES: usize = 7_000;
/// Simulated steps between timed frames (keeps ICE, RTCP and NACKs flowing).
const STEPS_BETWEEN_FRAMES: usize = 6;

fn fan_out(c: &mut Criterion) {
    fan_out_by(c, "router: one frame to N subscribers", false, false);
    fan_out_by(
        c,
        "router: one frame to N subscribers, one read",
        true,
        false,
    );
    fan_out_by(
        c,
        "router: one frame to N subscribers, one read, packets",
        true,
        true,
    );
}

fn fan_out_by(c: &mut Criterion, name: &str, one_read: bool, packets: bool) {
    let mut group = c.benchmark_group(name);
    for subscribers in [1u16, 10, 100] {
        // Without estimation: a simulated path never grows its estimate past the starting
        // guess, under this layer's 1.7 Mbit/s, and the allocation would pause the video.
        let mut sim = Sim::new().without_bandwidth_estimation();
        if !packets {
            sim = sim.with_forwarding(Forwarding::Frames);
        }
        let publisher = sim.add_publisher(10_000);
        sim.peers[publisher].interframe_bytes = INTERFRAME_BYTES;
        for port in 0..subscribers {
            sim.add_subscriber(20_000 + port);
        }
        sim.run(Duration::from_secs(3));
        // Packets out per timed frame, to report the cost per forwarded packet.
        let frames = 10;
        let mut packets = 0;
        for _ in 0..frames {
            let datagrams = sim.frame_datagrams(publisher);
            let transmits = forward(&mut sim, &datagrams, one_read).1;
            packets += transmits.len();
            sim.deliver(transmits);
            for _ in 0..STEPS_BETWEEN_FRAMES {
                sim.step(false);
            }
        }
        let packets_per_frame = (packets / frames) as u64;
        assert!(
            packets_per_frame >= 7 * u64::from(subscribers),
            "the frame reached every subscriber: {packets_per_frame} packets per frame"
        );
        group.throughput(Throughput::Elements(packets_per_frame));
        group.bench_function(BenchmarkId::from_parameter(subscribers), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let datagrams = sim.frame_datagrams(publisher);
                    let (took, transmits) = forward(&mut sim, &datagrams, one_read);
                    timed += took;
                    sim.deliver(transmits);
                    for _ in 0..STEPS_BETWEEN_FRAMES {
                        sim.step(false);
                    }
                }
                timed
            })
        });
    }
    group.finish();
}

/// Feeds a frame's datagrams to the (only) router, one by one or as `one_read`, and
/// collects what it sends; returns the time that took.
fn forward(
    sim: &mut Sim,
    datagrams: &[(std::net::SocketAddr, Vec<u8>)],
    one_read: bool,
) -> (Duration, Vec<str0m::net::Transmit>) {
    let mut transmits = Vec::with_capacity(1024);
    let router = &mut sim.routers[0];
    let now = sim.now;
    let start = Instant::now();
    for (from, datagram) in datagrams {
        if one_read {
            router.take_datagram(now, *from, datagram);
        } else {
            router.handle_datagram(now, *from, datagram);
        }
    }
    if one_read {
        router.settle(now);
    }
    router.handle_timeout(now);
    while let Some(t) = router.poll_transmit() {
        transmits.push(t);
    }
    (start.elapsed(), transmits)
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = fan_out
}
criterion_main!(benches);
