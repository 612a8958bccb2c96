use std::process::Command;

use proptest::prelude::*;

use super::*;
use crate::ebml;
use crate::webm::{Codec, TrackSpec, WebmWriter, opus_head};

fn spec(codec: Codec, width: u32, height: u32, private: &[u8]) -> TrackSpec {
    TrackSpec {
        codec,
        width,
        height,
        private: private.to_vec(),
    }
}

/// Every block of `bytes` through [`BlockReader::next_frame`], with its first payload byte.
fn frames(bytes: &[u8]) -> io::Result<Vec<(Block, u8)>> {
    let mut reader = BlockReader::new(bytes);
    let mut payload = Vec::new();
    let mut got = Vec::new();
    while let Some(block) = reader.next_frame(&mut payload)? {
        got.push((block, payload.first().copied().unwrap_or(0)));
    }
    Ok(got)
}

#[test]
fn a_block_claiming_more_than_any_picture_is_refused_not_allocated() {
    // Found by fuzz/run.sh (matroska_blocks): a SimpleBlock whose size says 25 PB.
    let input: &[u8] = &[
        0xa3, 0x01, 0x59, 0x80, 0x75, 0x80, 0x53, 0x18, 0x60, 0x59, 0x66, 0x76, 0x66, 0x66, 0x66,
        0x66, 0x66, 0x66, 0x00,
    ];
    let mut payload = Vec::new();
    let error = BlockReader::new(input)
        .next_block(&mut payload)
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    // A size within bounds but more than arrives ends the stream without a block.
    let mut short = vec![0xa3, 0x88, 0x81, 0x00, 0x00, 0x80];
    short.extend_from_slice(&[1, 2]);
    let error = BlockReader::new(&short[..])
        .next_block(&mut payload)
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn reads_back_what_the_writer_wrote() {
    let (mut w, mut bytes) = WebmWriter::new(&[spec(Codec::Vp8, 64, 36, &[])]);
    w.block(&mut bytes, 1, 0, true, &[1, 2, 3]);
    w.block(&mut bytes, 1, 40, false, &[4; 300]);
    // A new cluster, then a block before its start.
    w.block(&mut bytes, 1, 6_000, false, &[5]);
    w.block(&mut bytes, 1, 5_990, false, &[6]);
    let mut reader = BlockReader::new(&bytes[..]);
    let mut payload = Vec::new();
    let mut got = Vec::new();
    while let Some(ms) = reader.next_block(&mut payload).unwrap() {
        got.push((ms, payload.len(), payload[0]));
    }
    assert_eq!(got, [(0, 3, 1), (40, 300, 4), (6_000, 1, 5), (5_990, 1, 6)]);
}

#[test]
fn a_cut_stream_is_an_error_not_a_block() {
    let (mut w, mut bytes) = WebmWriter::new(&[spec(Codec::Opus, 0, 0, &[])]);
    w.block(&mut bytes, 1, 0, true, &[7; 50]);
    bytes.truncate(bytes.len() - 10);
    let mut reader = BlockReader::new(&bytes[..]);
    assert!(reader.next_block(&mut Vec::new()).is_err());
    assert!(frames(&bytes).is_err());
}

#[test]
fn frames_carry_their_track_and_keyframe_flag_and_the_tracks_are_described() {
    let avcc = [1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 1, 0x67, 1, 0, 1, 0x68];
    let specs = [
        spec(Codec::Vp8, 64, 36, &[]),
        spec(Codec::H264, 1280, 720, &avcc),
        spec(Codec::Opus, 0, 0, &[]),
    ];
    let (mut w, mut bytes) = WebmWriter::new(&specs);
    w.block(&mut bytes, 1, 0, true, &[1]);
    w.block(&mut bytes, 2, 0, true, &[2]);
    w.block(&mut bytes, 3, 5, true, &[3]);
    w.block(&mut bytes, 1, 33, false, &[4]);
    w.block(&mut bytes, 2, 33, false, &[5]);
    let mut reader = BlockReader::new(&bytes[..]);
    assert!(reader.tracks().is_none(), "nothing read yet");
    let mut payload = Vec::new();
    let first = reader.next_frame(&mut payload).unwrap().unwrap();
    assert_eq!(
        first,
        Block {
            track: 1,
            time_ms: 0,
            keyframe: true
        }
    );
    let tracks = reader.tracks().expect("Tracks precede the first block");
    let track = |number, codec_id: &str, private: &[u8], video| Track {
        number,
        codec_id: codec_id.to_owned(),
        codec_private: private.to_vec(),
        video,
    };
    assert_eq!(
        tracks,
        [
            track(1, "V_VP8", &[], Some((64, 36))),
            track(2, "V_MPEG4/ISO/AVC", &avcc, Some((1280, 720))),
            track(3, "A_OPUS", &opus_head(), None),
        ]
    );
    let rest: Vec<(u64, i64, bool, u8)> = frames(&bytes)
        .unwrap()
        .into_iter()
        .skip(1)
        .map(|(b, first)| (b.track, b.time_ms, b.keyframe, first))
        .collect();
    assert_eq!(
        rest,
        [
            (2, 0, true, 2),
            (3, 5, true, 3),
            (1, 33, false, 4),
            (2, 33, false, 5)
        ]
    );
}

/// A Block of track 1 at `relative` ms in a BlockGroup, with a ReferenceBlock before or
/// after it when asked.
fn group(out: &mut Vec<u8>, relative: i16, reference: Option<bool>, payload: u8) {
    ebml::master(out, BLOCK_GROUP, |g| {
        if reference == Some(true) {
            ebml::uint(g, REFERENCE_BLOCK, 1);
        }
        let mut block = vec![0x81];
        block.extend_from_slice(&relative.to_be_bytes());
        block.extend_from_slice(&[0, payload]);
        ebml::bytes(g, BLOCK, &block);
        ebml::uint(g, 0x9B, 33); // BlockDuration
        if reference == Some(false) {
            ebml::uint(g, REFERENCE_BLOCK, 1);
        }
    });
}

#[test]
fn a_block_group_is_a_keyframe_unless_it_refers_to_another() {
    let mut bytes = Vec::new();
    ebml::id(&mut bytes, CLUSTER);
    bytes.extend_from_slice(&ebml::UNKNOWN_SIZE);
    ebml::uint(&mut bytes, TIMESTAMP, 1_000);
    group(&mut bytes, 0, None, 1);
    group(&mut bytes, 33, Some(false), 2);
    group(&mut bytes, 66, Some(true), 3);
    // A SimpleBlock without the keyframe flag.
    ebml::bytes(&mut bytes, SIMPLE_BLOCK, &[0x82, 0, 100, 0, 4]);
    let got: Vec<(u64, i64, bool, u8)> = frames(&bytes)
        .unwrap()
        .into_iter()
        .map(|(b, first)| (b.track, b.time_ms, b.keyframe, first))
        .collect();
    assert_eq!(
        got,
        [
            (1, 1_000, true, 1),
            (1, 1_033, false, 2),
            (1, 1_066, false, 3),
            (2, 1_100, false, 4)
        ]
    );
    // The old way reads the same blocks and times.
    let mut reader = BlockReader::new(&bytes[..]);
    let mut payload = Vec::new();
    let mut times = Vec::new();
    while let Some(ms) = reader.next_block(&mut payload).unwrap() {
        times.push(ms);
    }
    assert_eq!(times, [1_000, 1_033, 1_066, 1_100]);
    // A group cut after its Block, before its end, gives no block.
    let cut = &bytes[..bytes.len() - 10];
    assert!(frames(cut).is_err());
}

#[test]
fn malformed_tracks_leave_out_what_cannot_be_read() {
    let mut bytes = Vec::new();
    ebml::master(&mut bytes, TRACKS, |t| {
        ebml::master(t, TRACK_ENTRY, |e| {
            ebml::uint(e, TRACK_NUMBER, 1);
            ebml::bytes(e, CODEC_ID, b"A_AAC");
            ebml::bytes(e, CODEC_PRIVATE, &[0x11, 0x90]);
        });
        // No number: left out.
        ebml::master(t, TRACK_ENTRY, |e| ebml::bytes(e, CODEC_ID, b"V_VP8"));
        // A picture size beyond 32 bits: left out.
        ebml::master(t, TRACK_ENTRY, |e| {
            ebml::uint(e, TRACK_NUMBER, 3);
            ebml::master(e, VIDEO, |v| ebml::uint(v, PIXEL_WIDTH, u64::MAX));
        });
        // An entry whose size runs past the element ends the list.
        t.extend_from_slice(&[0xAE, 0x85, 0xD7, 0x81]);
    });
    let mut reader = BlockReader::new(&bytes[..]);
    assert_eq!(reader.next_frame(&mut Vec::new()).unwrap(), None);
    let tracks = reader.tracks().unwrap();
    assert_eq!(tracks.len(), 1);
    assert_eq!(
        (tracks[0].number, tracks[0].codec_id.as_str()),
        (1, "A_AAC")
    );
    assert_eq!(tracks[0].codec_private, [0x11, 0x90]);
}

#[test]
fn an_ffmpeg_stream_with_two_video_tracks_and_one_audio_track() {
    let filter = "[0:v]split=2[a][b];[b]scale=160:90[c]";
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=320x180:rate=10")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "2", "-filter_complex", filter])
        .args(["-map", "[a]", "-map", "[c]", "-map", "1:a"])
        .args([
            "-c:v",
            "libx264",
            "-g",
            "10",
            "-sc_threshold",
            "0",
            "-bf",
            "0",
        ])
        .args(["-c:a", "aac"])
        .args(["-f", "matroska", "-"])
        .output()
        .expect("ffmpeg is installed");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = output.stdout;
    let mut reader = BlockReader::new(&bytes[..]);
    let mut payload = Vec::new();
    let mut blocks = Vec::new();
    while let Some(block) = reader.next_frame(&mut payload).unwrap() {
        assert!(!payload.is_empty());
        blocks.push(block);
    }
    let tracks = reader.tracks().unwrap();
    let described: Vec<String> = tracks
        .iter()
        .map(|t| format!("{} {} {:?}", t.number, t.codec_id, t.video))
        .collect();
    assert_eq!(
        described,
        [
            "1 V_MPEG4/ISO/AVC Some((320, 180))",
            "2 V_MPEG4/ISO/AVC Some((160, 90))",
            "3 A_AAC None",
        ]
    );
    assert_eq!(tracks[0].codec_private[0], 1, "an avcC record");
    assert_eq!(
        tracks[2].codec_private[..2],
        [0x11, 0x88],
        "an AudioSpecificConfig: AAC-LC, 48 kHz, mono"
    );
    for track in [1, 2] {
        let video: Vec<&Block> = blocks.iter().filter(|b| b.track == track).collect();
        assert_eq!(video.len(), 20, "2 s at 10 frames a second");
        let keyframes: Vec<i64> = video
            .iter()
            .filter(|b| b.keyframe)
            .map(|b| b.time_ms)
            .collect();
        // Every time is shifted by the AAC encoder's priming (1024 samples, 21 ms).
        let start = video[0].time_ms;
        assert!((0..=25).contains(&start), "{start}");
        assert_eq!(
            keyframes,
            [start, start + 1_000],
            "a keyframe every 10 frames"
        );
    }
    let audio = blocks.iter().filter(|b| b.track == 3).count();
    assert!((90..=96).contains(&audio), "2 s of AAC frames: {audio}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Whatever bytes arrive, or whatever a valid stream turns into with a few bytes
    /// changed, both ways of reading end in blocks, an end or an error, never a panic.
    #[test]
    fn any_bytes_are_read_without_a_panic(
        noise in prop::collection::vec(any::<u8>(), 0..400),
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    ) {
        let (mut w, mut stream) = WebmWriter::new(&[
            spec(Codec::Vp8, 64, 36, &[]),
            spec(Codec::Opus, 0, 0, &[]),
        ]);
        w.block(&mut stream, 1, 0, true, &[1; 20]);
        group(&mut stream, 10, Some(false), 2);
        w.block(&mut stream, 2, 20, true, &[3; 10]);
        for (at, byte) in changes {
            let i = at.index(stream.len());
            stream[i] = byte;
        }
        for bytes in [&noise[..], &stream[..]] {
            let mut reader = BlockReader::new(bytes);
            let mut payload = Vec::new();
            for _ in 0..100 {
                match reader.next_frame(&mut payload) {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            let _ = reader.tracks();
            let mut reader = BlockReader::new(bytes);
            while let Ok(Some(_)) = reader.next_block(&mut payload) {}
        }
    }
}
