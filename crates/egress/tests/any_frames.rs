//! Property tests of the recording containers: whatever frames arrive, in whatever sizes
//! and with whatever gaps, the file the writers make is read by ffprobe without a
//! complaint, holds every frame, and its times only grow; and a file cut off after any
//! frame (a crash) still reads up to there.

use std::io::Write;
use std::process::{Command, Stdio};

use moim_egress::ogg::OggOpusWriter;
use moim_egress::webm::{Codec, TrackSpec, WebmWriter};
use proptest::prelude::*;

/// One frame as a recorder hands it over: its track (1 video, 2 audio), how long after the
/// previous frame it came, whether it is a keyframe, and its size.
#[derive(Debug, Clone)]
struct Frame {
    track: u64,
    after_ms: i64,
    keyframe: bool,
    len: usize,
}

fn frames() -> impl Strategy<Value = Vec<Frame>> {
    let frame = (
        1u64..=2,
        prop_oneof![8 => 0i64..60, 1 => 60i64..20_000],
        any::<bool>(),
        prop_oneof![8 => 1usize..1_500, 1 => 1_500usize..200_000],
    )
        .prop_map(|(track, after_ms, keyframe, len)| Frame {
            track,
            after_ms,
            keyframe,
            len,
        });
    prop::collection::vec(frame, 1..120)
}

/// ffprobe's packets of `file`: (stream index, pts in ms) each, and what it printed on
/// stderr at the error level.
fn probe(file: &[u8]) -> (Vec<(u32, f64)>, String) {
    let mut child = Command::new("ffprobe")
        .args(["-v", "error", "-i", "pipe:0", "-show_entries"])
        .args(["packet=stream_index,pts_time", "-of", "csv=p=0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffprobe runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = file.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let packets = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            // Packets with side data (Opus's pre-skip) have more fields after these two.
            let mut fields = line.split(',');
            let stream = fields.next()?.parse().ok()?;
            let pts = fields.next()?.parse::<f64>().ok()?;
            Some((stream, pts * 1000.0))
        })
        .collect();
    (
        packets,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A frame's bytes: what ffprobe reads of a frame's header is real (a VP8 keyframe's size,
/// an Opus TOC byte of 20 ms); the rest is filler.
fn payload(frame: &Frame, i: usize) -> Vec<u8> {
    let header: &[u8] = match (frame.track, frame.keyframe) {
        (1, true) => &[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01],
        (1, false) => &[0x11, 0x02, 0x00],
        _ => &[0xF8],
    };
    // An Opus frame is at most 1275 bytes (RFC 6716 §3.2.1).
    let len = if frame.track == 1 {
        frame.len
    } else {
        frame.len.min(1275)
    };
    let mut data = header.to_vec();
    data.resize(header.len().max(len), i as u8);
    data
}

/// Writes `frames` as the recorder would (times never go back); returns the file, where
/// each frame ends in it and the time each frame was written at.
fn webm(frames: &[Frame]) -> (Vec<u8>, Vec<usize>, Vec<i64>) {
    let tracks = [
        TrackSpec {
            codec: Codec::Vp8,
            width: 640,
            height: 360,
            private: Vec::new(),
        },
        TrackSpec {
            codec: Codec::Opus,
            width: 0,
            height: 0,
            private: Vec::new(),
        },
    ];
    let (mut writer, mut file) = WebmWriter::new(&tracks);
    let mut ends = Vec::new();
    let mut times = Vec::new();
    let mut ms = 0;
    for (i, f) in frames.iter().enumerate() {
        ms += f.after_ms;
        writer.block(&mut file, f.track, ms, f.keyframe, &payload(f, i));
        ends.push(file.len());
        times.push(ms);
    }
    (file, ends, times)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_frames_make_a_webm_that_reads_whole(frames in frames()) {
        let (file, _, times) = webm(&frames);
        let (packets, errors) = probe(&file);
        prop_assert!(errors.is_empty(), "{errors}");
        prop_assert_eq!(packets.len(), frames.len());
        // Every video frame is where it was written, to the millisecond.
        let written: Vec<i64> = frames.iter().zip(&times).filter(|(f, _)| f.track == 1).map(|(_, t)| *t).collect();
        let read: Vec<i64> = packets.iter().filter(|p| p.0 == 0).map(|p| p.1.round() as i64).collect();
        prop_assert_eq!(read, written);
        for stream in 0..2 {
            let times: Vec<f64> = packets.iter().filter(|p| p.0 == stream).map(|p| p.1).collect();
            prop_assert!(times.windows(2).all(|w| w[0] <= w[1]), "stream {stream}: {times:?}");
        }
    }

    #[test]
    fn a_webm_cut_after_any_frame_reads_up_to_it(frames in frames(), cut in any::<prop::sample::Index>()) {
        let (file, ends, _) = webm(&frames);
        let kept = cut.index(ends.len());
        let (packets, errors) = probe(&file[..ends[kept]]);
        prop_assert!(errors.is_empty(), "{errors}");
        prop_assert_eq!(packets.len(), kept + 1);
    }

    #[test]
    fn any_opus_packets_make_an_ogg_that_reads_whole(
        gaps in prop::collection::vec(prop_oneof![8 => Just(0u64), 1 => 1u64..100], 1..300),
        flush_every in 1usize..40,
    ) {
        let (mut writer, mut file) = OggOpusWriter::new(7);
        let mut at = 0;
        let mut silent_frames = 0;
        for (i, gap) in gaps.iter().enumerate() {
            // A gap of whole 20 ms frames (a muted microphone) is filled with silence; the
            // file starts at the first packet.
            at += gap * 960;
            if i > 0 {
                silent_frames += gap;
            }
            writer.packet(&mut file, at, &[0xF8, 0xFF, 0xFE]);
            at += 960;
            if i % flush_every == 0 {
                writer.flush(&mut file);
            }
        }
        // With nothing left to write, the last page gets one silent frame of its own.
        writer.flush(&mut file);
        writer.finish(&mut file);
        let (packets, errors) = probe(&file);
        prop_assert!(errors.is_empty(), "{errors}");
        prop_assert_eq!(packets.len() as u64, gaps.len() as u64 + silent_frames + 1);
        prop_assert!(packets.windows(2).all(|w| w[0].1 < w[1].1));
    }
}
