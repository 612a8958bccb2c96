//! LL-HLS packaging of real H.264 and AAC-LC, encoded by an ffmpeg child: the init segment
//! followed by the segments decodes whole, and the media playlist with its files, written
//! to a folder, plays as classic HLS with every frame and the right duration.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use moim_egress::cmaf::{AudioTrack, Tracks, VideoTrack};
use moim_egress::h264;
use moim_egress::hls::{
    AudioFrame, Availability, Resource, Segmenter, SegmenterConfig, Variant, VideoFrame,
    multivariant_playlist,
};

const SECONDS: u32 = 6;
const FPS: u32 = 30;

/// An encoded access unit: decode time and composition offset (90 kHz), keyframe, NAL units
/// each after a 4-byte length.
struct Picture {
    dts: i64,
    offset: i32,
    keyframe: bool,
    data: Vec<u8>,
}

/// What the encoder made: the pictures and their `avcC`, the AAC frames with their times
/// and their AudioSpecificConfig.
struct Encoded {
    pictures: Vec<Picture>,
    avcc: Vec<u8>,
    sounds: Vec<(i64, Vec<u8>)>,
    asc: Vec<u8>,
}

/// A fresh folder for one test's files.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moim-hls-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(command: &mut Command) -> String {
    let output = command.output().expect("ffmpeg and ffprobe are installed");
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Encodes a test picture and a tone (44.1 kHz mono) with libx264 (a keyframe a second,
/// `bframes` B-frames) and AAC, then reads the streams back: H.264 as Annex B, AAC as
/// ADTS, each packet's times from ffprobe.
fn encode(dir: &Path, bframes: u32) -> Encoded {
    let mp4 = dir.join("source.mp4");
    let args = format!(
        "-v error -y -f lavfi -i testsrc2=size=640x360:rate={FPS} -f lavfi -i sine=frequency=440 \
         -t {SECONDS} -c:v libx264 -g {FPS} -bf {bframes} -pix_fmt yuv420p -c:a aac"
    );
    run(Command::new("ffmpeg")
        .args(args.split_whitespace())
        .arg(&mp4));
    // The same packets, as a raw H.264 stream and an ADTS one.
    let (h264_path, adts_path) = (dir.join("source.h264"), dir.join("source.aac"));
    let video = "-map 0:v -c copy -bsf:v h264_mp4toannexb -f h264";
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&mp4)
        .args(video.split(' '))
        .arg(&h264_path)
        .args("-map 0:a -c copy -f adts".split(' '))
        .arg(&adts_path));
    let entries = "packet=stream_index,pts_time,dts_time,flags";
    let packets = run(Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", entries, "-of", "csv=p=0"])
        .arg(&mp4));
    let ticks = |s: &str| (s.parse::<f64>().unwrap() * 90_000.0).round() as i64;
    let mut times = [Vec::new(), Vec::new()];
    for line in packets.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let stream: usize = f[0].parse().unwrap();
        times[stream].push((ticks(f[1]), ticks(f[2])));
    }

    let annex_b = std::fs::read(&h264_path).unwrap();
    let units = access_units(&annex_b);
    assert_eq!(units.len(), times[0].len(), "one access unit per packet");
    let avcc = h264::avc_config(&units[0]).expect("the first picture has SPS and PPS");
    let pictures = units
        .iter()
        .zip(&times[0])
        .map(|(unit, (pts, dts))| {
            let mut data = Vec::new();
            h264::length_prefixed(unit, &mut data);
            Picture {
                dts: *dts,
                offset: (pts - dts) as i32,
                keyframe: h264::nal_units(unit).any(|n| n[0] & 0x1F == 5),
                data,
            }
        })
        .collect();

    let (asc, frames) = adts_frames(&std::fs::read(&adts_path).unwrap());
    assert_eq!(frames.len(), times[1].len(), "one ADTS frame per packet");
    let sounds = times[1].iter().map(|(pts, _)| *pts).zip(frames).collect();
    Encoded {
        pictures,
        avcc,
        sounds,
        asc,
    }
}

/// An Annex B stream cut into access units (each Annex B again): a unit starts at a
/// parameter set, SEI or delimiter after a slice, or at a slice whose first macroblock is
/// 0 after a slice.
fn access_units(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut units: Vec<Vec<u8>> = Vec::new();
    let mut after_slice = false;
    for nal in h264::nal_units(stream) {
        let kind = nal[0] & 0x1F;
        let slice = kind == 1 || kind == 5;
        let starts = after_slice
            && if slice {
                nal[1] & 0x80 != 0
            } else {
                matches!(kind, 6..=9 | 14..=18)
            };
        if starts || units.is_empty() {
            units.push(Vec::new());
            after_slice = false;
        }
        let unit = units.last_mut().unwrap();
        unit.extend_from_slice(&[0, 0, 0, 1]);
        unit.extend_from_slice(nal);
        after_slice |= slice;
    }
    units
}

/// The AudioSpecificConfig and the raw frames of an ADTS stream.
fn adts_frames(mut data: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut asc = Vec::new();
    let mut frames = Vec::new();
    while data.len() >= 7 {
        assert_eq!((data[0], data[1] & 0xF6), (0xFF, 0xF0), "ADTS sync word");
        let header = if data[1] & 1 == 1 { 7 } else { 9 };
        let object = (data[2] >> 6) + 1;
        let rate = (data[2] >> 2) & 0xF;
        let channels = (data[2] & 1) << 2 | data[3] >> 6;
        let len =
            usize::from(data[3] & 3) << 11 | usize::from(data[4]) << 3 | usize::from(data[5] >> 5);
        asc = vec![object << 3 | rate >> 1, (rate & 1) << 7 | channels << 3];
        frames.push(data[header..len].to_vec());
        data = &data[len..];
    }
    (asc, frames)
}

/// Packages `encoded` in time order, checking after each frame that the playlist only
/// promises what the segmenter serves.
fn package(encoded: &Encoded) -> Segmenter {
    let tracks = Tracks {
        video: Some(VideoTrack::new(encoded.avcc.clone(), 640, 360).unwrap()),
        audio: Some(AudioTrack::new(encoded.asc.clone()).unwrap()),
    };
    let wall_clock = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut s = Segmenter::new(tracks, SegmenterConfig::default(), wall_clock).unwrap();
    let (mut v, mut a) = (0, 0);
    while v < encoded.pictures.len() || a < encoded.sounds.len() {
        let video_first = match (encoded.pictures.get(v), encoded.sounds.get(a)) {
            (Some(p), Some((pts, _))) => p.dts <= *pts,
            (p, _) => p.is_some(),
        };
        if video_first {
            let p = &encoded.pictures[v];
            let frame = VideoFrame {
                dts: p.dts,
                composition_offset: p.offset,
                keyframe: p.keyframe,
                data: &p.data,
            };
            s.push_video(&frame).unwrap();
            v += 1;
        } else {
            let (pts, data) = &encoded.sounds[a];
            s.push_audio(&AudioFrame { pts: *pts, data }).unwrap();
            a += 1;
        }
        promised_parts_are_served(&s);
    }
    s.finish();
    s
}

/// Every part and segment the playlist names is there, and the preload hint is not yet.
fn promised_parts_are_served(s: &Segmenter) {
    let playlist = s.playlist();
    for line in playlist.lines() {
        let uri = line
            .split("URI=\"")
            .nth(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .or((!line.starts_with('#')).then_some(line));
        let Some(resource) = uri.and_then(Resource::parse) else {
            continue;
        };
        let (msn, part) = match resource {
            Resource::Segment(msn) => (msn, None),
            Resource::Part { msn, part } => (msn, Some(part)),
            _ => continue,
        };
        let ready = s.availability(msn, part) == Availability::Ready;
        let hint = line.starts_with("#EXT-X-PRELOAD-HINT");
        assert_eq!(ready, !hint, "{line}");
        assert_eq!(s.get(resource).is_some(), !hint, "{line}");
    }
}

/// Every segment the playlist lists, after the init segment.
fn whole_file(s: &Segmenter) -> Vec<u8> {
    let mut file = s.init().to_vec();
    for line in s.playlist().lines() {
        if let Some(Resource::Segment(msn)) = Resource::parse(line) {
            file.extend_from_slice(s.get(Resource::Segment(msn)).unwrap());
        }
    }
    file
}

/// (frames, duration in seconds) of each stream, video first, as ffprobe reads `input`:
/// from its first presented frame to the end of its last.
fn probe(input: &Path) -> Vec<(u32, f64)> {
    let out = run(Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .args(["stream=codec_type,nb_read_frames:packet=stream_index,pts_time,duration_time"])
        .args(["-of", "csv=p=0"])
        .arg(input));
    let mut frames = [0u32; 2];
    let mut spans = [(f64::MAX, f64::MIN); 2];
    for line in out.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        match f[0] {
            "video" => frames[0] = f[1].parse().unwrap(),
            "audio" => frames[1] = f[1].parse().unwrap(),
            index => {
                let start = f[1].parse::<f64>().unwrap();
                let end = start + f[2].parse::<f64>().unwrap();
                let span = &mut spans[index.parse::<usize>().unwrap()];
                *span = (span.0.min(start), span.1.max(end));
            }
        }
    }
    frames
        .into_iter()
        .zip(spans)
        .map(|(n, (start, end))| (n, end - start))
        .collect()
}

fn decodes_cleanly(input: &Path) {
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(input)
        .args(["-f", "null", "-"]));
}

fn check(streams: &[(u32, f64)], encoded: &Encoded) {
    let (frames, duration) = streams[0];
    assert_eq!(frames, SECONDS * FPS, "every picture");
    assert!(
        (duration - f64::from(SECONDS)).abs() < 0.01,
        "video lasts {duration} s"
    );
    let (frames, duration) = streams[1];
    // The timeline starts at the first picture's decode time: sound before it (the
    // encoder's priming frame, without B-frames) is left out.
    let start = encoded.pictures[0].dts;
    let sounds = encoded
        .sounds
        .iter()
        .filter(|(pts, _)| *pts >= start)
        .count();
    assert_eq!(
        frames as usize, sounds,
        "every sound from the first picture on"
    );
    assert!(
        (duration - f64::from(SECONDS)).abs() < 0.05,
        "audio lasts {duration} s"
    );
}

fn init_and_segments_decode(name: &str, bframes: u32) {
    let dir = folder(name);
    let encoded = encode(&dir, bframes);
    let s = package(&encoded);
    let file = dir.join("whole.mp4");
    std::fs::write(&file, whole_file(&s)).unwrap();
    decodes_cleanly(&file);
    check(&probe(&file), &encoded);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn init_and_segments_decode_whole() {
    init_and_segments_decode("whole", 0);
}

#[test]
fn b_frames_keep_their_presentation_order() {
    init_and_segments_decode("bframes", 2);
}

#[test]
fn the_playlist_plays_as_classic_hls() {
    let dir = folder("playlist");
    let encoded = encode(&dir, 0);
    let s = package(&encoded);
    let playlist = s.playlist();
    std::fs::write(dir.join("index.m3u8"), &playlist).unwrap();
    std::fs::write(dir.join("init.mp4"), s.init()).unwrap();
    let mut segments = 0;
    for line in playlist.lines() {
        let uri = line
            .split("URI=\"")
            .nth(1)
            .map_or(line, |r| &r[..r.find('"').unwrap()]);
        if let Some(resource) = Resource::parse(uri)
            && let Some(bytes) = s.get(resource)
        {
            std::fs::write(dir.join(resource.to_string()), bytes).unwrap();
            segments += usize::from(matches!(resource, Resource::Segment(_)));
        }
    }
    assert_eq!(segments, 3, "{playlist}");
    let index = dir.join("index.m3u8");
    decodes_cleanly(&index);
    check(&probe(&index), &encoded);

    let tracks = s.tracks();
    let ladder =
        multivariant_playlist(&[Variant::new("hd/index.m3u8", tracks, 1_500_000, Some(30.0))]);
    assert!(
        ladder.contains(
            "RESOLUTION=640x360,CODECS=\"avc1.64001e,mp4a.40.2\",FRAME-RATE=30.000\nhd/index.m3u8\n"
        ),
        "{ladder}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
