//! The ladder fed real frames in real time: VP8 and Opus as a browser sends them, H.264
//! in Annex B and Opus as an RTMP encoder's arrive; its renditions played back by ffmpeg.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use moim_egress::blocks::BlockReader;
use moim_egress::hls::{Availability, Resource};
use moim_media::{EgressFrame, FrameCodec, TrackId};

use super::*;

/// One ladder at a time: each takes most of a core, and real time is what they are fed in.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A frame of the encoded source: its time in ms, whether it is video, a keyframe, its
/// bytes (Annex B for H.264).
struct SourceFrame {
    ms: i64,
    video: bool,
    keyframe: bool,
    data: Arc<[u8]>,
}

struct Source {
    codec: FrameCodec,
    frames: Vec<SourceFrame>,
}

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moim-ladder-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(command: &mut Command) -> Vec<u8> {
    let output = command.output().expect("ffmpeg and ffprobe are installed");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `seconds` of a moving test picture (30 fps, a keyframe every 2 s) and a tone (Opus,
/// 20 ms frames), encoded by ffmpeg with `video` (`vp8` or `h264`) and read back.
fn source(width: u32, height: u32, seconds: u32, video: &str) -> Source {
    let encoder = match video {
        "vp8" => "libvpx -deadline realtime -cpu-used 8 -lag-in-frames 0 -auto-alt-ref 0 -b:v 3M",
        _ => "libx264 -preset ultrafast -bf 0 -b:v 6M",
    };
    let bytes = run(Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={width}x{height}:rate=30"))
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds.to_string(), "-g", "60", "-keyint_min", "60"])
        .arg("-c:v")
        .args(encoder.split(' '))
        .args(["-c:a", "libopus", "-ac", "2", "-frame_duration", "20"])
        .args(["-f", "matroska", "-"]));
    let mut reader = BlockReader::new(&bytes[..]);
    let mut payload = Vec::new();
    let mut frames = Vec::new();
    let mut parameter_sets = Vec::new();
    while let Some(block) = reader.next_frame(&mut payload).unwrap() {
        let tracks = reader.tracks().unwrap();
        let track = tracks.iter().find(|t| t.number == block.track).unwrap();
        let is_video = track.video.is_some();
        let data = if is_video && video == "h264" {
            if parameter_sets.is_empty() {
                parameter_sets = annex_b_parameter_sets(&track.codec_private);
            }
            // As RTMP ingest hands them over: Annex B, the parameter sets before keyframes.
            let mut annex_b = Vec::new();
            if block.keyframe {
                annex_b.extend_from_slice(&parameter_sets);
            }
            let mut rest = &payload[..];
            while let Some((len, after)) = rest.split_first_chunk::<4>() {
                let len = u32::from_be_bytes(*len) as usize;
                annex_b.extend_from_slice(&[0, 0, 0, 1]);
                annex_b.extend_from_slice(&after[..len]);
                rest = &after[len..];
            }
            annex_b
        } else {
            payload.clone()
        };
        frames.push(SourceFrame {
            ms: block.time_ms,
            video: is_video,
            keyframe: block.keyframe,
            data: data.into(),
        });
    }
    frames.sort_by_key(|f| (f.ms, !f.video));
    let codec = if video == "vp8" {
        FrameCodec::Vp8
    } else {
        FrameCodec::H264
    };
    Source { codec, frames }
}

/// The SPS and PPS of an `avcC`, each after a start code.
fn annex_b_parameter_sets(avcc: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 5;
    for mask in [0x1F, 0xFF] {
        let count = avcc[at] & mask;
        at += 1;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([avcc[at], avcc[at + 1]]));
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(&avcc[at + 2..at + 2 + len]);
            at += 2 + len;
        }
    }
    out
}

/// Feeds the source's frames from `from` ms to before `to` ms, each at its time after
/// `start` (the moment of the source's time zero), as the media plane would hand them.
fn feed(ladder: &mut Ladder, source: &Source, start: (Instant, SystemTime), from: i64, to: i64) {
    for f in source.frames.iter().filter(|f| (from..to).contains(&f.ms)) {
        let at = start.0 + Duration::from_millis(f.ms as u64);
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        let (codec, clock, track) = if f.video {
            (source.codec, 90_000, TrackId(1))
        } else {
            (FrameCodec::Opus, 48_000, TrackId(2))
        };
        ladder.feed(&EgressFrame {
            track,
            codec,
            time: 1_000_000 + f.ms as u64 * u64::from(clock) / 1000,
            clock_rate: clock,
            network_time: at,
            sender_time: Some(start.1 + Duration::from_millis(f.ms as u64)),
            keyframe: f.keyframe,
            data: f.data.clone(),
        });
    }
}

/// Waits up to `seconds` for `ready`.
fn wait_for<T>(seconds: u64, mut ready: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = ready() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A playlist as text.
fn text(playlist: bytes::Bytes) -> String {
    String::from_utf8(playlist.to_vec()).expect("a playlist is UTF-8")
}

/// The segments a playlist lists, by number, with their durations as written.
fn segments(playlist: &str) -> Vec<(u64, String)> {
    let mut duration = String::new();
    let mut out = Vec::new();
    for line in playlist.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            duration = d.trim_end_matches(',').to_owned();
        } else if let Some(Resource::Segment(msn)) = Resource::parse(line) {
            out.push((msn, duration.clone()));
        }
    }
    out
}

/// ffprobe's answer for `file`, in `key=value` lines.
fn probe(file: &Path, args: &[&str]) -> String {
    let out = run(Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(file));
    String::from_utf8(out).unwrap()
}

/// What a rendition was checked to be: its segments' first pictures (time and
/// keyframe), their durations, and its peak and average bit rates.
#[derive(Debug)]
struct Checked {
    seconds: f64,
    starts: Vec<String>,
    durations: Vec<String>,
    peak_bps: u64,
    average_bps: u64,
}

/// Writes a rendition's init segment and segments to `dir`, then has ffmpeg decode them
/// whole at the rendition's size, with sound.
fn check_rendition(rendition: &Rendition, dir: &Path) -> Checked {
    let name = &rendition.rung().name;
    let playlist = text(rendition.playlist().unwrap());
    let init = rendition.file(Resource::Init).unwrap().to_vec();
    let listed = segments(&playlist);
    assert!(listed.len() >= 3, "{name}: {playlist}");
    let mut whole = init.clone();
    let mut starts = Vec::new();
    let (mut peak_bps, mut total_bytes, mut total_seconds) = (0, 0, 0.0);
    for (msn, duration) in &listed {
        let segment = rendition.file(Resource::Segment(*msn)).unwrap();
        let seconds: f64 = duration.parse().unwrap();
        total_bytes += segment.len();
        total_seconds += seconds;
        if Some(msn) != listed.last().map(|(m, _)| m) {
            // The last segment is cut by the end of the stream.
            peak_bps = peak_bps.max((segment.len() as f64 * 8.0 / seconds) as u64);
        }
        let file = dir.join(format!("{name}-{msn}.mp4"));
        std::fs::write(&file, [&init[..], &segment[..]].concat()).unwrap();
        let first = probe(
            &file,
            &[
                "-select_streams",
                "v",
                "-read_intervals",
                "%+#1",
                "-show_entries",
                "packet=pts_time,flags",
            ],
        );
        starts.push(first.replace('\n', " "));
        whole.extend_from_slice(&segment);
    }
    let file = dir.join(format!("{name}.mp4"));
    std::fs::write(&file, &whole).unwrap();
    let streams = probe(
        &file,
        &[
            "-show_entries",
            "stream=codec_name,width,height,sample_rate,channels",
        ],
    );
    let (w, h) = rendition.size();
    assert!(
        streams.contains(&format!("codec_name=h264\nwidth={w}\nheight={h}")),
        "{name}: {streams}"
    );
    assert!(
        streams.contains("codec_name=aac\nsample_rate=48000\nchannels=2"),
        "{name}: {streams}"
    );
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        decoded.status.success() && decoded.stderr.is_empty(),
        "{name} decodes whole: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let packets = probe(
        &file,
        &[
            "-count_packets",
            "-show_entries",
            "stream=codec_type,nb_read_packets",
        ],
    );
    let pictures: u64 = packets
        .split("codec_type=video\nnb_read_packets=")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(
        (pictures as f64 - total_seconds * 30.0).abs() <= 2.0,
        "{name}: {pictures} pictures in {total_seconds} s"
    );
    Checked {
        seconds: total_seconds,
        starts,
        durations: listed.into_iter().map(|(_, d)| d).collect(),
        peak_bps,
        average_bps: (total_bytes as f64 * 8.0 / total_seconds) as u64,
    }
}

/// Feeds a 1280×720 source of `codec` for 8 s and checks the ladder's renditions.
fn a_720p_source_gets_sd_and_hd(codec: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = folder(codec);
    let source = source(1280, 720, 8, codec);
    let mut ladder = Ladder::start(LadderConfig::default()).unwrap();
    let renditions = ladder.renditions();
    assert!(renditions.all().is_empty() && renditions.multivariant_playlist("").is_none());

    let start = (Instant::now(), SystemTime::now());
    // Sound before the first keyframe, and a picture that is no keyframe: nothing starts.
    let mut early = EgressFrame {
        track: TrackId(2),
        codec: FrameCodec::Opus,
        time: 0,
        clock_rate: 48_000,
        network_time: start.0,
        sender_time: None,
        keyframe: false,
        data: source
            .frames
            .iter()
            .find(|f| !f.video)
            .unwrap()
            .data
            .clone(),
    };
    ladder.feed(&early);
    early.codec = source.codec;
    early.track = TrackId(1);
    ladder.feed(&early);
    assert_eq!(ladder.renditions().stats().fed, 0);

    feed(&mut ladder, &source, start, 0, 4_000);
    let multivariant = wait_for(10, || renditions.multivariant_playlist("")).unwrap();
    println!("{multivariant}");
    let names: Vec<&str> = renditions.all().iter().map(|r| &*r.rung().name).collect();
    assert_eq!(names, ["sd", "hd"], "no 1080p rung for a 720p source");
    assert!(renditions.get("fhd").is_none());
    for (uri, resolution) in [("sd", "854x480"), ("hd", "1280x720")] {
        let rung = renditions.get(uri).unwrap().rung().clone();
        let line = multivariant
            .lines()
            .find(|l| l.contains(&format!("RESOLUTION={resolution}")))
            .unwrap();
        assert!(line.contains(&format!("BANDWIDTH={}", rung.bandwidth())));
        assert!(line.contains(&format!("AVERAGE-BANDWIDTH={}", rung.average_bandwidth())));
        assert!(line.contains(",CODECS=\"avc1.64") && line.contains(",mp4a.40.2\""));
        assert!(line.contains("FRAME-RATE=30.000"));
        assert!(multivariant.contains(&format!("\n{uri}/index.m3u8\n")));
    }

    // A blocking request for the part being filled is answered once it is published.
    let hd = renditions.get("hd").unwrap();
    let playlist = text(hd.playlist().unwrap());
    assert!(
        playlist.contains("#EXT-X-PART:DURATION=0.20000,URI=\"part"),
        "{playlist}"
    );
    assert!(hd.file(Resource::Init).is_some());
    assert!(hd.file(Resource::Playlist).is_none());
    let hint = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""))
        .and_then(|uri| Resource::parse(uri.trim_end_matches('"')))
        .unwrap();
    let Resource::Part { msn, part } = hint else {
        panic!("the hint names a part: {hint}");
    };
    let held = {
        let hd = hd.clone();
        let mut changes = hd.changes();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            runtime.block_on(async {
                loop {
                    match hd.availability(msn, Some(part)) {
                        Availability::Ready => return hd.file(hint).is_some(),
                        Availability::TooFar => return false,
                        Availability::Wait => {}
                    }
                    let wait = tokio::time::timeout(Duration::from_secs(10), changes.changed());
                    if !matches!(wait.await, Ok(Ok(()))) {
                        return false;
                    }
                }
            })
        })
    };
    feed(&mut ladder, &source, start, 4_000, i64::MAX);
    assert!(held.join().unwrap(), "the held request was answered");
    ladder.finish();
    for r in renditions.all() {
        let ended = wait_for(20, || {
            r.playlist().filter(|p| p.ends_with(b"#EXT-X-ENDLIST\n"))
        });
        assert!(ended.is_some(), "{} ends", r.rung().name);
    }
    let stats = ladder.renditions().stats();
    println!("{stats:?}");
    assert_eq!((stats.dropped, stats.refused), (0, 0), "{stats:?}");
    assert!(stats.fed as usize >= source.frames.len() - 1);

    let checked: Vec<Checked> = renditions
        .all()
        .iter()
        .map(|r| check_rendition(r, &dir))
        .collect();
    for (r, c) in renditions.all().iter().zip(&checked) {
        println!(
            "{}: {:?}; {} kbit/s on average, {} at the peak",
            r.rung().name,
            c.durations,
            c.average_bps / 1000,
            c.peak_bps / 1000
        );
        assert!(c.peak_bps <= r.rung().bandwidth(), "{c:?}");
        assert!((c.seconds - 8.0).abs() < 0.1, "the whole source: {c:?}");
        assert!(c.starts.iter().all(|s| s.contains("flags=K")), "{c:?}");
    }
    // Keyframes at the same times on every rung: the segments line up.
    assert_eq!(checked[0].starts, checked[1].starts);
    assert_eq!(checked[0].durations, checked[1].durations);
    drop(ladder);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ladder_of_a_vp8_source_plays_at_every_rung_with_aligned_segments() {
    a_720p_source_gets_sd_and_hd("vp8");
}

#[test]
fn ladder_of_an_h264_source_in_annex_b_plays_at_every_rung() {
    a_720p_source_gets_sd_and_hd("h264");
}

#[test]
fn ladder_rungs_fit_the_source() {
    let sizes = |source| -> Vec<String> {
        plan(&Rung::DEFAULTS, source)
            .iter()
            .map(|e| format!("{} {}x{}", e.rung.name, e.width, e.height))
            .collect()
    };
    assert_eq!(
        sizes(Some((1920, 1080))),
        ["sd 854x480", "hd 1280x720", "fhd 1920x1080"]
    );
    assert_eq!(sizes(Some((1280, 720))), ["sd 854x480", "hd 1280x720"]);
    assert_eq!(
        sizes(Some((720, 1280))),
        ["sd 480x854", "hd 720x1280"],
        "a portrait picture's rungs are its width"
    );
    assert_eq!(
        sizes(Some((640, 360))),
        ["sd 640x360"],
        "the lowest, no taller than the source"
    );
    assert_eq!(
        sizes(Some((1440, 1080))),
        ["sd 640x480", "hd 960x720", "fhd 1440x1080"]
    );
    assert_eq!(sizes(None), ["sd 854x480"]);
    assert_eq!(sizes(Some((0, 0))), ["sd 854x480"]);
    assert_eq!(sizes(Some((u32::MAX, 1))), ["sd 4096x2"]);
    let reversed = [Rung::FHD, Rung::SD];
    let names: Vec<String> = plan(&reversed, Some((3840, 2160)))
        .iter()
        .map(|e| e.rung.name.to_string())
        .collect();
    assert_eq!(
        names,
        ["sd", "fhd"],
        "lowest first, whatever the order given"
    );
    assert!(plan(&[], Some((1280, 720))).is_empty());
}

#[test]
fn ladder_command_forces_the_same_keyframes_on_every_rung() {
    let config = LadderConfig::default();
    let line = input::command_line(&plan(&config.rungs, Some((1280, 720))), &config);
    println!("{line}");
    for part in [
        "[0:v:0]fps=30,split=2[s0][s1];[s0]scale=854:480:",
        "[s1]scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:-1:-1",
        "setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709[v1]",
        "-c:v libx264 -preset veryfast -tune zerolatency -profile:v high -bf 0",
        "-g 120 -sc_threshold 0 -forced-idr 1 -force_key_frames expr:gte(t,0+n_forced*2)",
        "-b:v:0 1000k -maxrate:v:0 1000k -bufsize:v:0 1000k",
        "-b:v:1 2500k -maxrate:v:1 2500k -bufsize:v:1 2500k",
        "-c:a aac -b:a 128k -ar 48000 -ac 2 -f matroska",
    ] {
        assert!(line.contains(part), "{part}");
    }
}

#[test]
fn a_later_generation_forces_its_keyframes_on_the_renditions_grid() {
    // Its first picture at 9.5 s of its input lands at 5.3 s of the renditions: forced
    // at once, then at 6 s, 8 s… (0.7 s after its first picture, then every 2 s).
    let keyframes = input::Keyframes {
        start_ms: 9_500,
        shift_ms: -4_200,
    };
    assert_eq!(keyframes.expression(2.0), "expr:gte(t,-1.3+n_forced*2)");
    assert_eq!(
        input::Keyframes::default().expression(2.0),
        "expr:gte(t,0+n_forced*2)"
    );
}

/// The CPU time (user and system, in clock ticks) of this process's `ffmpeg` child, and
/// its process id.
fn ffmpeg_child_ticks() -> Option<(u32, u64)> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (name, rest) = stat.rsplit_once(") ")?;
        let fields: Vec<&str> = rest.split(' ').collect();
        if !name.ends_with("(ffmpeg") || fields.get(1) != Some(&me.as_str()) {
            return None;
        }
        let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some((pid, ticks))
    })
}

/// The CPU a ladder's ffmpeg takes for a 720p and a 1080p source, VP8 (as browsers send)
/// and H.264 (as RTMP encoders do), over 20 s of a source fed in real time
/// (docs/performance.md, "HLS ladder cost"). Run with
/// `cargo test --release -p moim --bin moim ladder_cpu -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement for docs/performance.md, not a test"]
fn ladder_cpu() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let clock_ticks: u64 = String::from_utf8(run(Command::new("getconf").arg("CLK_TCK")))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for (width, height, codec) in [
        (1280, 720, "vp8"),
        (1280, 720, "h264"),
        (1920, 1080, "vp8"),
        (1920, 1080, "h264"),
    ] {
        let source = source(width, height, 24, codec);
        let load_before = std::fs::read_to_string("/proc/loadavg").unwrap();
        let mut ladder = Ladder::start(LadderConfig::default()).unwrap();
        let start = (Instant::now(), SystemTime::now());
        feed(&mut ladder, &source, start, 0, 3_000);
        let (pid, ticks_before) = ffmpeg_child_ticks().unwrap();
        let measured_from = Instant::now();
        feed(&mut ladder, &source, start, 3_000, 23_000);
        let (same, ticks_after) = ffmpeg_child_ticks().unwrap();
        let seconds = measured_from.elapsed().as_secs_f64();
        assert_eq!(pid, same);
        let cpu = (ticks_after - ticks_before) as f64 / clock_ticks as f64 / seconds;
        let rungs: Vec<String> = ladder
            .renditions()
            .all()
            .iter()
            .map(|r| r.rung().name.to_string())
            .collect();
        println!(
            "{width}x{height} {codec} -> {rungs:?}: ffmpeg {:.0} % of a core over {seconds:.1} s; \
             {:?}; load average before {}, after {}",
            cpu * 100.0,
            ladder.renditions().stats(),
            load_before.trim(),
            std::fs::read_to_string("/proc/loadavg").unwrap().trim()
        );
    }
}
