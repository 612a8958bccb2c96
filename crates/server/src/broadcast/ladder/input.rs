//! The ladder's `ffmpeg` child and what feeds it. A thread takes the queued frames, starts
//! ffmpeg at the first keyframe (the rungs chosen by its picture size) and writes every
//! frame into ffmpeg's input as Matroska (the source's video track and an Opus track) on
//! one timeline: the first keyframe's arrival is zero, and each track is placed on it by
//! the sender's clock when both are known (else by arrival), as a participant recording
//! places them.
//!
//! Sound that stops (a muted microphone, a source without any) is filled with silence a
//! while behind the picture: ffmpeg writes nothing until each of its outputs has had
//! something to encode, and holds pictures back waiting for sound.

use std::io::Write;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use moim_egress::h264;
use moim_egress::ogg::{SILENCE, opus_samples};
use moim_egress::webm::{Codec, TrackSpec, WebmWriter};
use moim_media::{EgressFrame, FrameCodec};
use tracing::warn;

use super::output;
use super::{AUDIO_KBPS, Encoding, LadderConfig, Shared, plan};
use crate::recording::frames::{signed_ms, video_track};

/// Sound missing for this long behind the picture is filled with silence…
const AUDIO_MISSING_MS: i64 = 1_000;
/// …up to this far behind it, leaving sound that arrives late some room.
const SILENCE_BEHIND_MS: i64 = 500;
/// The silent frame's length.
const SILENCE_MS: i64 = 20;
/// A track whose times move this much more or less than their arrival says jumped (a
/// sender's clock reset, a broken encoder): it goes on from where arrival puts it, rather
/// than have ffmpeg fill the jump with repeated pictures.
const MAX_JUMP_MS: i64 = 5_000;
/// The input's track numbers.
const VIDEO_TRACK: u64 = 1;
const AUDIO_TRACK: u64 = 2;

/// What the feeding thread is sent.
pub(super) enum Input {
    /// The source's first video keyframe.
    Start { first: EgressFrame },
    /// Any later frame of the source.
    Frame(EgressFrame),
}

/// The ffmpeg child, once started, where [`stop`] finds it.
#[derive(Default)]
pub(super) struct ChildSlot {
    child: Option<Child>,
    /// The ladder is gone: a child started now is ended at once.
    closed: bool,
}

/// Ends the child (or one about to start).
pub(super) fn stop(slot: &Mutex<ChildSlot>) {
    let child = {
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.closed = true;
        slot.child.take()
    };
    if let Some(mut child) = child {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The feeding thread: waits for the first keyframe, chooses the rungs, then runs one
/// ffmpeg child after another (a "generation" each) until the queue closes, and ends the
/// renditions' playlists. A generation lasts while the source's video keeps its codec: a
/// keyframe in another one (the source came back as something else) ends it, and the
/// next starts from that keyframe, on the same timeline and into the same renditions.
pub(super) fn run(
    queue: Receiver<Input>,
    config: LadderConfig,
    shared: Arc<Shared>,
    slot: Arc<Mutex<ChildSlot>>,
) {
    let Ok(Input::Start { first }) = queue.recv() else {
        return;
    };
    let size = match input_track(&first) {
        Ok(spec) => (spec.width > 0 && spec.height > 0).then_some((spec.width, spec.height)),
        Err(e) => {
            warn!("the HLS ladder cannot start: {e}");
            return;
        }
    };
    if size.is_none() {
        warn!("the source's picture size is unknown: the HLS ladder has its lowest rung only");
    }
    let encodings = plan(&config.rungs, size);
    let renditions = config.renditions(&encodings);
    let _ = shared.list.set(renditions.clone());
    // The wall clock at the first keyframe's arrival: the timeline's zero.
    let wall_zero = SystemTime::now()
        .checked_sub(first.network_time.elapsed())
        .unwrap_or_else(SystemTime::now);
    let mut stream: Option<InputStream> = None;
    // Where the previous generation's output ended, on the renditions' timeline.
    let mut ended = None;
    let mut next = Some(first);
    while let Some(first) = next.take() {
        let spec = match input_track(&first) {
            Ok(spec) => spec,
            Err(e) => {
                warn!("the HLS ladder cannot take the source's new video: {e}");
                break;
            }
        };
        let codec = first.codec;
        let mut out = match &mut stream {
            Some(stream) => stream.restart(spec),
            None => {
                let (new, header) = InputStream::new(spec, &first);
                stream = Some(new);
                header
            }
        };
        let Some(stream) = &mut stream else { break };
        let Some(start_ms) = stream.frame(&first, &mut out) else {
            break;
        };
        // A later generation follows the previous one's output with the time away cut out
        // (one AAC frame's room for its encoder's priming, which comes before the picture).
        let shift = ended.map(|end: i64| end + output::AAC_FRAME_MS - start_ms);
        let command = command(&encodings, &config, start_ms, shift.unwrap_or(0));
        let Some(generation) = Generation::start(command, &slot) else {
            break;
        };
        let (mut stdin, stdout) = (generation.stdin, generation.stdout);
        let to = output::Destination {
            renditions: renditions.clone(),
            wall_zero,
            config: config.segmenter,
            shift,
        };
        let reading = shared.clone();
        let reader = std::thread::Builder::new()
            .name("moim-ladder-out".into())
            .spawn(move || output::run(stdout, to, reading));
        let reader = match reader {
            Ok(reader) => reader,
            Err(e) => {
                warn!("cannot start the HLS ladder's reader: {e}");
                break;
            }
        };
        loop {
            if let Err(e) = stdin.write_all(&out) {
                warn!("the HLS ladder's ffmpeg stopped taking input: {e}");
                break;
            }
            out.clear();
            match queue.recv() {
                Ok(Input::Frame(frame) | Input::Start { first: frame, .. }) => {
                    if frame.keyframe && is_video(&frame) && frame.codec != codec {
                        next = Some(frame);
                        break;
                    }
                    if stream.frame(&frame, &mut out).is_none() {
                        shared.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(_) => break,
            }
        }
        // ffmpeg sees its input end, finishes and closes its output.
        drop(stdin);
        ended = reader.join().ok().flatten();
        Generation::end(&slot);
        if ended.is_none() {
            break;
        }
    }
    output::finish(&renditions);
}

/// One ffmpeg child's ends, once it runs (kept in the slot, where [`stop`] finds it).
struct Generation {
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl Generation {
    /// Starts `command` unless the ladder is gone.
    fn start(mut command: Command, slot: &Mutex<ChildSlot>) -> Option<Generation> {
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                warn!("cannot start the HLS ladder's ffmpeg: {e}");
                return None;
            }
        };
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.closed {
            drop(slot);
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        slot.child = Some(child);
        Some(Generation {
            stdin: stdin?,
            stdout: stdout?,
        })
    }

    /// Waits for the child, whose output has ended, to exit.
    fn end(slot: &Mutex<ChildSlot>) {
        let child = slot.lock().unwrap_or_else(|e| e.into_inner()).child.take();
        if let Some(mut child) = child {
            let _ = child.wait();
        }
    }
}

fn is_video(frame: &EgressFrame) -> bool {
    !matches!(frame.codec, FrameCodec::Opus | FrameCodec::Other)
}

/// The input's video track for a source whose keyframe is `first`, with its picture size
/// (an H.264 one's read from its SPS).
fn input_track(first: &EgressFrame) -> std::io::Result<TrackSpec> {
    let (mut spec, _) = video_track(first)?;
    if (spec.width == 0 || spec.height == 0)
        && spec.codec == Codec::H264
        && let Some((width, height)) = h264::picture_size(&first.data)
    {
        (spec.width, spec.height) = (width, height);
    }
    Ok(spec)
}

/// The ffmpeg command of a ladder with `encodings`: Matroska in (one video, one Opus
/// track), Matroska out (a libx264 track per rung, then one AAC-LC track), keeping the
/// input's times; a generation starting at `start_ms` whose output is moved by
/// `shift_ms`.
fn command(encodings: &[Encoding], config: &LadderConfig, start_ms: i64, shift_ms: i64) -> Command {
    let keyframes = Keyframes { start_ms, shift_ms };
    let (graph, outputs) = encoding(encodings, config, "[0:v:0]", "[0:a:0]", keyframes);
    let mut ffmpeg = Command::new("ffmpeg");
    ffmpeg
        // Little probing: the input's header says everything. (Not `-fflags nobuffer`,
        // which throws away the packets probing read: the first keyframe.)
        .args([
            "-nostdin",
            "-v",
            "error",
            "-probesize",
            "32",
            "-analyzeduration",
            "0",
        ])
        .args(["-copyts", "-f", "matroska", "-i", "pipe:0"])
        .args(["-filter_complex", &graph])
        .args(outputs)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    ffmpeg
}

/// How ffmpeg makes the rungs of `encodings` from the picture labelled `video` and the
/// sound labelled `audio` in its filter graph: the filters that follow (the graph), then
/// the output's arguments (Matroska on its standard output: a libx264 track per rung,
/// then one AAC-LC track), with `keyframes` where the renditions' segments start.
pub(super) fn encoding(
    encodings: &[Encoding],
    config: &LadderConfig,
    video: &str,
    audio: &str,
    keyframes: Keyframes,
) -> (String, Vec<String>) {
    let fps = config.pictures_per_second();
    let every = config.segmenter.segment_target.as_secs_f64().max(0.1);
    let mut graph = format!("{video}fps={fps},split={}", encodings.len());
    for i in 0..encodings.len() {
        graph.push_str(&format!("[s{i}]"));
    }
    for (i, e) in encodings.iter().enumerate() {
        let (w, h) = (e.width, e.height);
        // A fixed size whatever the source does later (simulcast layers change size):
        // scaled to fit, then padded. The colours are labelled the same whatever the
        // source says (BT.709, limited range, as players take untagged HD anyway), so the
        // encoder's parameter sets are the same too: a source that comes back in another
        // codec keeps the init segments players hold.
        graph.push_str(&format!(
            ";[s{i}]scale={w}:{h}:force_original_aspect_ratio=decrease,\
             pad={w}:{h}:-1:-1,setsar=1,format=yuv420p,\
             setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709[v{i}]"
        ));
    }
    // Holes in the sound become silence, so the AAC track stays continuous.
    graph.push_str(&format!(";{audio}aresample=async=1[a]"));
    let mut args: Vec<String> = Vec::new();
    let mut push = |more: &[&str]| args.extend(more.iter().map(|a| (*a).to_owned()));
    for i in 0..encodings.len() {
        push(&["-map", &format!("[v{i}]")]);
    }
    // Keyframes only where forced, at the same times on every rung: x264's own would
    // come at scene cuts, which differ between sizes (its `-g` is never reached).
    let gop = (every * f64::from(fps) * 2.0).ceil() as u32;
    push(&["-map", "[a]", "-c:v", "libx264", "-preset", "veryfast"]);
    push(&["-tune", "zerolatency", "-profile:v", "high", "-bf", "0"]);
    push(&[
        "-g",
        &gop.to_string(),
        "-sc_threshold",
        "0",
        "-forced-idr",
        "1",
    ]);
    push(&["-force_key_frames", &keyframes.expression(every)]);
    for (i, e) in encodings.iter().enumerate() {
        let rate = format!("{}k", e.rung.video_kbps);
        for option in ["-b", "-maxrate", "-bufsize"] {
            push(&[&format!("{option}:v:{i}"), &rate]);
        }
    }
    push(&["-c:a", "aac", "-b:a", &format!("{AUDIO_KBPS}k")]);
    push(&["-ar", "48000", "-ac", "2", "-f", "matroska"]);
    // A cluster per instant, flushed at once; a stream that lags (sound) does not hold
    // the others back more than 200 ms.
    push(&["-cluster_time_limit", "0", "-flush_packets", "1"]);
    push(&["-max_interleave_delta", "200000", "pipe:1"]);
    (graph, args)
}

/// Where an ffmpeg child forces its keyframes: on the renditions' grid of `segment_target`
/// steps from their zero, for a child whose first picture is at `start_ms` and whose
/// output times are moved by `shift_ms` onto the renditions' timeline.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Keyframes {
    pub start_ms: i64,
    pub shift_ms: i64,
}

impl Keyframes {
    /// ffmpeg's `-force_key_frames` expression, every `every` seconds: the first picture,
    /// then each grid point. (ffmpeg's `t` counts from the child's first picture, whatever
    /// its input's times.)
    pub(super) fn expression(self, every: f64) -> String {
        let step = (every * 1000.0).round().max(1.0) as i64;
        let at = self.start_ms.saturating_add(self.shift_ms).max(0);
        let first = (at / step * step - at) as f64 / 1000.0;
        format!("expr:gte(t,{first}+n_forced*{every})")
    }
}

/// How one track's media times become input times.
struct TrackTime {
    base: u64,
    base_ms: i64,
    /// The last frame's time and arrival.
    last: Option<(i64, Instant)>,
}

/// ffmpeg's input: the Matroska writer and the timeline.
struct InputStream {
    writer: WebmWriter,
    h264: bool,
    /// The first keyframe's arrival, and the sender's clock then once known.
    anchor: Instant,
    anchor_sender: Option<SystemTime>,
    video: Option<TrackTime>,
    audio: Option<TrackTime>,
    /// Where the sound written so far ends, in ms.
    audio_end: i64,
    /// A new generation's input waits for its first picture: nothing goes before it.
    restarted: bool,
    converted: Vec<u8>,
}

impl InputStream {
    /// The input of a source whose video track is `spec`, starting at `first`; and the
    /// header to write.
    fn new(spec: TrackSpec, first: &EgressFrame) -> (InputStream, Vec<u8>) {
        let h264 = spec.codec == Codec::H264;
        let (writer, header) = WebmWriter::new(&[spec, opus_track()]);
        let stream = InputStream {
            writer,
            h264,
            anchor: first.network_time,
            anchor_sender: first.sender_time,
            video: None,
            audio: None,
            audio_end: 0,
            restarted: false,
            converted: Vec::new(),
        };
        (stream, header)
    }

    /// Goes on in a new input whose video track is `spec` (a new generation's), on the
    /// same timeline; the header to write.
    fn restart(&mut self, spec: TrackSpec) -> Vec<u8> {
        self.h264 = spec.codec == Codec::H264;
        let (writer, header) = WebmWriter::new(&[spec, opus_track()]);
        self.writer = writer;
        self.restarted = true;
        header
    }

    /// Appends `frame` to `out`, and says its time in ms; `None` when it is dropped
    /// (before the timeline's start or the generation's first picture, or sound for a time
    /// already filled with silence).
    fn frame(&mut self, frame: &EgressFrame, out: &mut Vec<u8>) -> Option<i64> {
        let video = frame.codec != FrameCodec::Opus;
        let ms = self.place(frame, video);
        if ms < 0 || (self.restarted && !video) {
            return None;
        }
        if video {
            if self.restarted {
                // The time away is not filled: the new generation starts here.
                self.audio_end = self.audio_end.max(ms);
                self.restarted = false;
            }
            if ms - self.audio_end > AUDIO_MISSING_MS {
                while self.audio_end + SILENCE_MS <= ms - SILENCE_BEHIND_MS {
                    self.writer
                        .block(out, AUDIO_TRACK, self.audio_end, true, &SILENCE);
                    self.audio_end += SILENCE_MS;
                }
            }
            let data = if self.h264 {
                self.converted.clear();
                h264::length_prefixed(&frame.data, &mut self.converted);
                &self.converted[..]
            } else {
                &frame.data[..]
            };
            self.writer
                .block(out, VIDEO_TRACK, ms, frame.keyframe, data);
        } else {
            // A millisecond of overlap is rounding; more is sound for a filled time.
            if ms + 1 < self.audio_end {
                return None;
            }
            let samples = opus_samples(&frame.data).unwrap_or(960);
            let duration = i64::try_from(samples / 48).unwrap_or(SILENCE_MS);
            self.writer.block(out, AUDIO_TRACK, ms, true, &frame.data);
            self.audio_end = self.audio_end.max(ms + duration);
        }
        Some(ms)
    }

    /// `frame`'s time on the timeline, in ms; each track's times only grow.
    fn place(&mut self, frame: &EgressFrame, video: bool) -> i64 {
        if self.anchor_sender.is_none()
            && let Some(sent) = frame.sender_time
        {
            let since = frame.network_time.saturating_duration_since(self.anchor);
            self.anchor_sender = sent.checked_sub(since);
        }
        let (anchor, anchor_sender) = (self.anchor, self.anchor_sender);
        let track = if video {
            &mut self.video
        } else {
            &mut self.audio
        };
        let time = track.get_or_insert_with(|| {
            let base_ms = match (frame.sender_time, anchor_sender) {
                (Some(sent), Some(anchor)) => signed_ms(sent, anchor),
                _ => duration_ms(frame.network_time.saturating_duration_since(anchor)),
            };
            TrackTime {
                base: frame.time,
                base_ms,
                last: None,
            }
        });
        let since = frame.time.saturating_sub(time.base);
        let since_ms = since.saturating_mul(1000) / u64::from(frame.clock_rate.max(1));
        let mut ms = time
            .base_ms
            .saturating_add(i64::try_from(since_ms).unwrap_or(i64::MAX / 2));
        if let Some((last_ms, last_arrival)) = time.last {
            let gap = frame.network_time.saturating_duration_since(last_arrival);
            let expected = last_ms.saturating_add(duration_ms(gap));
            if ms.abs_diff(expected) > MAX_JUMP_MS as u64 || frame.time < time.base {
                (time.base, time.base_ms) = (frame.time, expected);
                ms = expected;
            }
            ms = ms.max(last_ms.saturating_add(1));
        }
        time.last = Some((ms, frame.network_time));
        ms
    }
}

/// The input's sound track.
fn opus_track() -> TrackSpec {
    TrackSpec {
        codec: Codec::Opus,
        width: 0,
        height: 0,
        private: Vec::new(),
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// The command line, for the documentation's sake: what `command` runs for the default
/// ladder of a 1280×720 source.
#[cfg(test)]
pub(super) fn command_line(encodings: &[Encoding], config: &LadderConfig) -> String {
    let command = command(encodings, config, 0, 0);
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
