//! The segmenter fed synthetic frames: where it cuts, what it keeps, what the playlist says
//! and when blocking requests are answered.

use super::*;
use crate::cmaf::test_boxes::{ASC, AVCC, all, boxes, find, u32_at, u64_at};
use crate::cmaf::{AudioTrack, VideoTrack};

/// A video frame: one NAL unit of two bytes after its 4-byte length.
const FRAME: &[u8] = &[0, 0, 0, 2, 0x65, 0x88];
/// 1024 samples at 48 kHz.
const AUDIO_TICKS: i64 = 1920;
const VIDEO_TICKS: i64 = 3000;

fn wall_clock() -> SystemTime {
    // 2023-11-14T22:13:20Z.
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn tracks(video: bool, audio: bool) -> Tracks {
    Tracks {
        video: video.then(|| VideoTrack::new(AVCC.to_vec(), 640, 360).unwrap()),
        audio: audio.then(|| AudioTrack::new(ASC.to_vec()).unwrap()),
    }
}

fn segmenter(video: bool, audio: bool, window: usize) -> Segmenter {
    let config = SegmenterConfig {
        window,
        ..SegmenterConfig::default()
    };
    Segmenter::new(tracks(video, audio), config, wall_clock()).unwrap()
}

/// 30 fps video with a keyframe every `gop` frames and 48 kHz audio, pushed in time order.
struct Source {
    video: Option<i64>,
    audio: Option<i64>,
    gop: i64,
    /// Times rounded to milliseconds, as RTMP carries them.
    rtmp: bool,
}

impl Source {
    fn new(video: bool, audio: bool, gop: i64) -> Source {
        Source {
            video: video.then_some(0),
            audio: audio.then_some(0),
            gop,
            rtmp: false,
        }
    }

    fn video_time(&self, i: i64) -> i64 {
        if self.rtmp {
            (i * 1000 + 15) / 30 * 90
        } else {
            i * VIDEO_TICKS
        }
    }

    fn audio_time(&self, i: i64) -> i64 {
        if self.rtmp {
            (i * 1024 * 1000 + 24_000) / 48_000 * 90
        } else {
            i * AUDIO_TICKS
        }
    }

    /// Pushes every frame before `until` ticks.
    fn run(&mut self, s: &mut Segmenter, until: i64) {
        loop {
            let v = self
                .video
                .map(|i| self.video_time(i))
                .filter(|t| *t < until);
            let a = self
                .audio
                .map(|i| self.audio_time(i))
                .filter(|t| *t < until);
            match (v, a) {
                (Some(v), a) if a.is_none_or(|a| v <= a) => {
                    let i = self.video.unwrap();
                    let frame = VideoFrame {
                        dts: v,
                        composition_offset: 0,
                        keyframe: i % self.gop == 0,
                        data: FRAME,
                    };
                    s.push_video(&frame).unwrap();
                    self.video = Some(i + 1);
                }
                (_, Some(a)) => {
                    let frame = AudioFrame {
                        pts: a,
                        data: &[0x21, 0x10],
                    };
                    s.push_audio(&frame).unwrap();
                    self.audio = self.audio.map(|i| i + 1);
                }
                _ => return,
            }
        }
    }
}

/// The (duration, independent) of each part of the open and listed segments.
fn parts(s: &Segmenter, msn: u64) -> Vec<(i64, bool)> {
    let segment = s
        .window
        .listed()
        .chain(Some(s.window.open()))
        .find(|seg| seg.msn == msn)
        .unwrap();
    segment
        .parts
        .iter()
        .map(|p| (p.duration, p.independent))
        .collect()
}

#[test]
fn parts_and_segments_follow_the_targets() {
    let mut s = segmenter(true, true, 6);
    Source::new(true, true, 30).run(&mut s, 7 * TICKS_PER_SECOND);
    // Six frames a part; the keyframes every second start parts 0 and 5.
    let expected: Vec<(i64, bool)> = (0..10).map(|n| (18_000, n % 5 == 0)).collect();
    assert_eq!(parts(&s, 0), expected);
    assert_eq!(parts(&s, 2), expected);
    assert_eq!(parts(&s, 3), expected[..4]);
    let playlist = s.playlist();
    let head = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n\
        #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.60000\n\
        #EXT-X-PART-INF:PART-TARGET=0.20000\n#EXT-X-MEDIA-SEQUENCE:0\n\
        #EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n\
        #EXT-X-PART:DURATION=0.20000,URI=\"part0.0.m4s\",INDEPENDENT=YES\n\
        #EXT-X-PART:DURATION=0.20000,URI=\"part0.1.m4s\"\n";
    assert!(playlist.starts_with(head), "{playlist}");
    assert!(playlist.contains(
        "#EXT-X-PART:DURATION=0.20000,URI=\"part0.9.m4s\"\n#EXTINF:2.00000,\nseg0.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:22.000Z\n\
         #EXT-X-PART:DURATION=0.20000,URI=\"part1.0.m4s\",INDEPENDENT=YES\n"
    ));
    assert!(playlist.ends_with(
        "#EXT-X-PART:DURATION=0.20000,URI=\"part3.3.m4s\"\n\
         #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part3.4.m4s\"\n"
    ));
    assert_eq!(playlist.matches("#EXTINF:").count(), 3);
}

#[test]
fn the_window_slides_and_keeps_parts_only_near_the_end() {
    let mut s = segmenter(true, true, 6);
    Source::new(true, true, 60).run(&mut s, 21 * TICKS_PER_SECOND);
    let playlist = s.playlist();
    assert!(playlist.contains("#EXT-X-MEDIA-SEQUENCE:4\n"), "{playlist}");
    assert!(!playlist.contains("seg3.m4s"));
    assert!(playlist.contains("#EXTINF:2.00000,\nseg4.m4s\n"));
    // Three target durations (6 s) before the end (20.8 s): segments from 14 s on.
    assert!(!playlist.contains("part6."), "{playlist}");
    assert!(playlist.contains(
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:34.000Z\n\
        #EXT-X-PART:DURATION=0.20000,URI=\"part7.0.m4s\",INDEPENDENT=YES\n"
    ));
    assert_eq!(playlist.matches("#EXT-X-PROGRAM-DATE-TIME").count(), 7);
    // Two segments stay servable after they leave the playlist.
    assert!(s.get(Resource::Segment(2)).is_some());
    assert!(s.get(Resource::Segment(1)).is_none());
    assert!(s.get(Resource::Part { msn: 2, part: 9 }).is_some());
    assert!(s.get(Resource::Segment(10)).is_none(), "still open");
    assert!(s.get(Resource::Part { msn: 10, part: 3 }).is_some());
    assert!(s.get(Resource::Part { msn: 10, part: 4 }).is_none());
    // The newest complete segment, for keeping beyond the window.
    let (info, bytes) = s.newest_segment().unwrap();
    assert_eq!(
        info,
        SegmentInfo {
            msn: 9,
            start: 18 * TICKS_PER_SECOND,
            duration: 2 * TICKS_PER_SECOND
        }
    );
    assert_eq!(Some(bytes), s.get(Resource::Segment(9)));
}

#[test]
fn a_segment_is_its_parts_back_to_back() {
    let mut s = segmenter(true, true, 6);
    Source::new(true, true, 30).run(&mut s, 5 * TICKS_PER_SECOND);
    let segment = s.get(Resource::Segment(1)).unwrap();
    let mut joined = Vec::new();
    let mut sequence = 0;
    for part in 0..10 {
        let bytes = s.get(Resource::Part { msn: 1, part }).unwrap();
        let top = boxes(bytes);
        let kinds: Vec<&str> = top.iter().map(|(k, _)| k.as_str()).collect();
        let expected: &[&str] = if part == 0 {
            &["styp", "moof", "mdat"]
        } else {
            &["moof", "mdat"]
        };
        assert_eq!(kinds, expected);
        let moof = top[top.len() - 2].1;
        let seq = u32_at(find(moof, "mfhd").unwrap(), 4);
        assert!(seq > sequence);
        sequence = seq;
        let trafs = all(moof, "traf");
        // The part's video starts where the part does; its sound within one audio frame.
        let start = (2 * TICKS_PER_SECOND + i64::from(part) * 18_000) as u64;
        assert_eq!(u64_at(find(trafs[0], "tfdt").unwrap(), 4), start);
        let audio = u64_at(find(trafs[1], "tfdt").unwrap(), 4) * 90_000 / 48_000;
        assert!(
            (start..start + AUDIO_TICKS as u64).contains(&audio),
            "{audio}"
        );
        joined.extend_from_slice(bytes);
    }
    assert_eq!(joined, segment);
}

#[test]
fn sound_goes_to_the_part_its_time_falls_in_and_stays_continuous() {
    let mut s = segmenter(true, true, 6);
    let mut source = Source::new(true, true, 30);
    source.rtmp = true;
    source.run(&mut s, 10 * TICKS_PER_SECOND);
    let mut next_audio = None;
    for msn in 0..4 {
        for (n, (duration, _)) in parts(&s, msn).into_iter().enumerate() {
            // Millisecond times: within the target, give or take the one millisecond.
            assert!(
                (17_910..=18_090).contains(&duration),
                "{msn}.{n}: {duration}"
            );
            let part = s
                .get(Resource::Part {
                    msn,
                    part: n as u32,
                })
                .unwrap();
            let moof = boxes(part)
                .into_iter()
                .find(|(k, _)| k == "moof")
                .unwrap()
                .1;
            let audio = all(moof, "traf")[1];
            let tfdt = u64_at(find(audio, "tfdt").unwrap(), 4);
            assert_eq!(tfdt, next_audio.unwrap_or(tfdt), "{msn}.{n}");
            let trun = find(audio, "trun").unwrap();
            let count = u32_at(trun, 4) as usize;
            for i in 0..count {
                assert_eq!(u32_at(trun, 12 + 12 * i), 1024, "every frame 1024 samples");
            }
            next_audio = Some(tfdt + 1024 * count as u64);
        }
    }
}

#[test]
fn blocking_requests_wait_for_their_part() {
    let mut s = segmenter(true, true, 6);
    let mut source = Source::new(true, true, 30);
    source.run(&mut s, 7 * TICKS_PER_SECOND);
    use Availability::*;
    assert_eq!(s.availability(2, None), Ready);
    assert_eq!(s.availability(3, None), Wait);
    assert_eq!(s.availability(3, Some(3)), Ready);
    assert_eq!(s.availability(3, Some(4)), Wait);
    assert_eq!(s.availability(2, Some(10)), Ready, "the same as part 3.0");
    assert_eq!(s.availability(5, Some(0)), Wait);
    assert_eq!(s.availability(6, None), TooFar);
    assert_eq!(s.availability(3, Some(4 + 15)), TooFar);
    let hint = Resource::Part { msn: 3, part: 4 };
    assert_eq!(s.next_part(), hint);
    assert!(
        s.playlist()
            .contains(&format!("PRELOAD-HINT:TYPE=PART,URI=\"{hint}\""))
    );
    // The frame at 7 s ends part 3.4.
    source.run(&mut s, 7 * TICKS_PER_SECOND + 1);
    assert_eq!(s.availability(3, Some(4)), Ready);
    assert_eq!(s.availability(3, Some(5)), Wait);
    assert_eq!(s.next_part(), Resource::Part { msn: 3, part: 5 });
    s.finish();
    assert_eq!(
        s.availability(5, Some(0)),
        Ready,
        "the ended playlist answers all"
    );
}

#[test]
fn finishing_publishes_the_rest_and_ends_the_playlist() {
    let mut s = segmenter(true, true, 6);
    Source::new(true, true, 30).run(&mut s, 3 * TICKS_PER_SECOND + 1);
    s.finish();
    let playlist = s.playlist();
    assert!(
        playlist.ends_with("#EXTINF:1.03333,\nseg1.m4s\n#EXT-X-ENDLIST\n"),
        "{playlist}"
    );
    assert!(!playlist.contains("PRELOAD-HINT"));
    // The keyframe at 3 s, alone in the last part, lasts as long as the frame before it.
    assert_eq!(parts(&s, 1).last(), Some(&(3_000, true)));
    let frame = VideoFrame {
        dts: 10 * TICKS_PER_SECOND,
        composition_offset: 0,
        keyframe: true,
        data: FRAME,
    };
    assert_eq!(s.push_video(&frame), Err(Error::Ended));
    assert!(s.is_ended());
}

#[test]
fn an_audio_only_rendition_cuts_between_any_frames() {
    let mut s = segmenter(false, true, 6);
    Source::new(false, true, 1).run(&mut s, 5 * TICKS_PER_SECOND);
    // Nine frames (192 ms) a part, ten parts a segment: the first cut from 1.9 s.
    let part = 9 * AUDIO_TICKS;
    assert_eq!(parts(&s, 0), vec![(part, true); 10]);
    assert!(s.playlist().contains("#EXTINF:1.92000,\nseg0.m4s\n"));
    let moov = find(s.init(), "moov").unwrap();
    assert_eq!(all(moov, "trak").len(), 1);
}

#[test]
fn frames_before_the_first_keyframe_are_skipped_and_the_clock_follows() {
    let mut s = segmenter(true, true, 6);
    let mut push = |dts: i64, keyframe: bool| {
        let frame = VideoFrame {
            dts,
            composition_offset: 0,
            keyframe,
            data: FRAME,
        };
        s.push_video(&frame).unwrap();
    };
    // The first frame, at the wall clock given, then a keyframe 100 ms later.
    push(1_000, false);
    push(10_000, true);
    for i in 1..8 {
        push(10_000 + i * VIDEO_TICKS, false);
    }
    let audio = AudioFrame {
        pts: 5_000,
        data: &[1],
    };
    s.push_audio(&audio).unwrap();
    assert!(
        s.audio.as_ref().unwrap().run.is_empty(),
        "sound before the start"
    );
    let playlist = s.playlist();
    assert!(
        playlist.contains("#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.100Z\n"),
        "{playlist}"
    );
    assert_eq!(parts(&s, 0), [(18_000, true)]);
}

#[test]
fn a_stalled_camera_leaves_the_sound_playing() {
    let mut s = segmenter(true, true, 6);
    let mut source = Source::new(true, true, 30);
    source.run(&mut s, 2 * TICKS_PER_SECOND);
    let camera = source.video.take();
    source.run(&mut s, 5 * TICKS_PER_SECOND);
    // Without video from 2 s, sound alone ends parts from 2.6 s on, one target each.
    let stalled = parts(&s, 0);
    assert_eq!(stalled.len(), 24, "{stalled:?}");
    assert!(
        stalled[9..]
            .iter()
            .all(|(d, independent)| *d == 18_000 && !independent)
    );
    // The camera comes back with a keyframe at 5 s: a new segment.
    source.video = camera.map(|_| 150);
    source.run(&mut s, 6 * TICKS_PER_SECOND);
    let open = s.window.open();
    assert_eq!((open.msn, open.start), (1, 5 * TICKS_PER_SECOND));
    let seg0: i64 = parts(&s, 0).iter().map(|p| p.0).sum();
    assert_eq!(seg0, 5 * TICKS_PER_SECOND, "no hole in the timeline");
}

#[test]
fn without_keyframes_a_segment_ends_at_four_targets() {
    let mut s = segmenter(true, false, 6);
    Source::new(true, false, i64::MAX).run(&mut s, 20 * TICKS_PER_SECOND);
    let playlist = s.playlist();
    assert!(playlist.contains("#EXT-X-TARGETDURATION:8\n"), "{playlist}");
    assert!(playlist.contains("#EXTINF:8.00000,\nseg0.m4s\n#"));
    assert!(playlist.contains("#EXTINF:8.00000,\nseg1.m4s\n#"));
}

#[test]
fn refused_frames_leave_the_segmenter_usable() {
    let mut s = segmenter(true, false, 6);
    let frame = |dts: i64, data: &'static [u8]| VideoFrame {
        dts,
        composition_offset: 0,
        keyframe: true,
        data,
    };
    assert_eq!(s.push_video(&frame(0, &[])), Err(Error::FrameSize));
    assert_eq!(
        s.push_video(&frame(0, &[0, 0, 0, 9, 0x65])),
        Err(Error::NotLengthPrefixed)
    );
    assert_eq!(s.push_video(&frame(0, FRAME)), Ok(()));
    assert_eq!(s.push_video(&frame(0, FRAME)), Err(Error::TimeWentBack));
    assert_eq!(s.push_video(&frame(-5, FRAME)), Err(Error::TimeWentBack));
    assert_eq!(
        s.push_video(&frame(i64::MIN, FRAME)),
        Err(Error::TimeWentBack)
    );
    assert_eq!(
        s.push_video(&frame(i64::MAX, FRAME)),
        Err(Error::TimeWentBack)
    );
    let audio = AudioFrame { pts: 0, data: &[1] };
    assert_eq!(s.push_audio(&audio), Err(Error::NoSuchTrack));
    assert_eq!(s.push_video(&frame(3_000, FRAME)), Ok(()));

    let bad = |part: u64, segment: u64, window: usize| {
        let config = SegmenterConfig {
            part_target: Duration::from_millis(part),
            segment_target: Duration::from_millis(segment),
            window,
        };
        Segmenter::new(tracks(true, true), config, wall_clock()).err()
    };
    assert!(matches!(bad(200, 100, 6), Some(Error::InvalidConfig(_))));
    assert!(matches!(bad(0, 2000, 6), Some(Error::InvalidConfig(_))));
    assert!(matches!(bad(200, 2000, 0), Some(Error::InvalidConfig(_))));
    assert_eq!(bad(200, 2000, 6), None);
    let none = Segmenter::new(Tracks::default(), SegmenterConfig::default(), wall_clock());
    assert_eq!(none.err(), Some(Error::NoTracks));
}
