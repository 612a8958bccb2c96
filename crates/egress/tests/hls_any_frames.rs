//! Property tests of the LL-HLS segmenter: whatever frames arrive (times that jump, go back
//! or stall, keyframes anywhere, malformed or empty frames), it never
//! panics, and everything its playlist names is served: each part is a well-formed
//! fragment, each segment is its parts back to back, and each segment lasts what its
//! parts last.

use std::time::SystemTime;

use moim_egress::cmaf::{AudioTrack, Tracks, VideoTrack};
use moim_egress::hls::{
    AudioFrame, Availability, Resource, Segmenter, SegmenterConfig, VideoFrame,
};
use proptest::prelude::*;

const AVCC: &[u8] = &[
    1, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0, 4, 0x67, 0x64, 0x00, 0x1F, 1, 0, 2, 0x68, 0xEE,
];

#[derive(Debug, Clone)]
enum Op {
    Video {
        after: i64,
        keyframe: bool,
        len: usize,
        malformed: bool,
    },
    Audio {
        after: i64,
        len: usize,
    },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let after = |typical: i64| {
        prop_oneof![
            16 => (typical - 90)..(typical + 90),
            1 => -5_000i64..=0,
            1 => 0i64..2_000_000,
        ]
    };
    let video = (
        after(3_000),
        prop::bool::weighted(0.05),
        1usize..5_000,
        prop::bool::weighted(0.02),
    )
        .prop_map(|(after, keyframe, len, malformed)| Op::Video {
            after,
            keyframe,
            len,
            malformed,
        });
    let audio = (after(1_920), 0usize..600).prop_map(|(after, len)| Op::Audio { after, len });
    let op = prop_oneof![video, audio];
    prop::collection::vec(op, 1..400)
}

fn tracks() -> impl Strategy<Value = (bool, bool)> {
    prop_oneof![Just((true, true)), Just((true, false)), Just((false, true))]
}

/// A part or a segment: boxes end to end, the `moof` before its `mdat`.
fn well_formed(mut data: &[u8]) -> bool {
    let mut kinds = Vec::new();
    while !data.is_empty() {
        let Some(size) = data
            .get(..4)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
        else {
            return false;
        };
        let size = size as usize;
        if size < 8 || size > data.len() {
            return false;
        }
        kinds.push(data[4..8].to_vec());
        data = &data[size..];
    }
    kinds
        .iter()
        .filter(|k| k.as_slice() != b"styp")
        .collect::<Vec<_>>()
        .chunks(2)
        .all(|pair| pair.len() == 2 && pair[0] == b"moof" && pair[1] == b"mdat")
}

/// What the playlist promises is there.
fn promises_hold(s: &Segmenter) -> Result<(), TestCaseError> {
    let playlist = s.playlist();
    let mut part_seconds = 0.0;
    let mut parts_listed = 0;
    for line in playlist.lines() {
        if let Some(rest) = line.strip_prefix("#EXT-X-PART:DURATION=") {
            let seconds = rest.split(',').next().unwrap().parse::<f64>().unwrap();
            prop_assert!(seconds > 0.0, "{}", line);
            part_seconds += seconds;
            parts_listed += 1;
        }
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let seconds: f64 = rest.trim_end_matches(',').parse().unwrap();
            prop_assert!(seconds > 0.0, "{}", line);
            if parts_listed > 0 {
                prop_assert!((seconds - part_seconds).abs() < 1e-5 * (parts_listed + 1) as f64);
            }
            part_seconds = 0.0;
            parts_listed = 0;
        }
        let uri = line
            .split("URI=\"")
            .nth(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .or((!line.starts_with('#')).then_some(line));
        let Some(resource) = uri.and_then(Resource::parse) else {
            continue;
        };
        let hint = line.starts_with("#EXT-X-PRELOAD-HINT");
        let (msn, part) = match resource {
            Resource::Segment(msn) => (msn, None),
            Resource::Part { msn, part } => (msn, Some(part)),
            Resource::Init | Resource::Playlist => continue,
        };
        prop_assert_eq!(
            s.availability(msn, part) == Availability::Ready,
            !hint,
            "{}",
            line
        );
        let bytes = s.get(resource);
        prop_assert_eq!(bytes.is_some(), !hint, "{}", line);
        if let Some(bytes) = bytes {
            prop_assert!(well_formed(bytes), "{}", line);
        }
        if let Resource::Segment(msn) = resource {
            let mut joined = Vec::new();
            for n in 0.. {
                let Some(part) = s.get(Resource::Part { msn, part: n }) else {
                    break;
                };
                joined.extend_from_slice(part);
            }
            prop_assert!(bytes == Some(&joined[..]), "{}", line);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_frames_keep_the_playlists_promises((video, audio) in tracks(), ops in ops()) {
        let tracks = Tracks {
            video: video.then(|| VideoTrack::new(AVCC.to_vec(), 320, 240).unwrap()),
            audio: audio.then(|| AudioTrack::new(vec![0x11, 0x90]).unwrap()),
        };
        let mut s = Segmenter::new(tracks, SegmenterConfig::default(), SystemTime::now()).unwrap();
        let (mut video_time, mut audio_time) = (1_000_000i64, 1_000_000i64);
        let mut data = Vec::new();
        for op in &ops {
            match *op {
                Op::Video { after, keyframe, len, malformed } => {
                    video_time += after;
                    data.clear();
                    if !malformed {
                        data.extend_from_slice(&(len as u32).to_be_bytes());
                    }
                    data.resize(data.len() + len, 0x41);
                    let frame = VideoFrame {
                        dts: video_time,
                        composition_offset: 0,
                        keyframe,
                        data: &data,
                    };
                    let _ = s.push_video(&frame);
                }
                Op::Audio { after, len } => {
                    audio_time += after;
                    data.clear();
                    data.resize(len, 0x21);
                    let _ = s.push_audio(&AudioFrame { pts: audio_time, data: &data });
                }
            }
            promises_hold(&s)?;
        }
        s.finish();
        promises_hold(&s)?;
        prop_assert!(s.playlist().ends_with("#EXT-X-ENDLIST\n"));
        let late = AudioFrame { pts: audio_time + 1_920, data: &[1] };
        prop_assert!(s.push_audio(&late).is_err(), "nothing after the end");
    }
}
