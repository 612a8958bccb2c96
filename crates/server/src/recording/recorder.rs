//! The thread that writes one recording's files. It takes the frames the media plane hands
//! over through a bounded queue and routes each track to its file:
//!
//! - a track recording gives every track its own file (video in WebM, Opus in Ogg), whose
//!   time starts at the track's first frame;
//! - a participant recording puts a participant's audio and video in one WebM. The file's
//!   tracks are declared once both kinds have sent a frame (or after two seconds); each
//!   track's start is placed on the sender's clock from RTCP sender reports, so audio and
//!   video stay in sync however differently their first packets travelled.
//!
//! Writes go out every quarter second in whole frames or pages, so a crash leaves every
//! file playable up to its last batch; a graceful stop writes the rest, the WebM duration
//! and the last Ogg page.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use moim_egress::h264;
use moim_egress::ogg::OggOpusWriter;
use moim_egress::webm::{Codec, TrackSpec, WebmWriter};
use moim_media::{EgressFrame, FrameCodec, TrackId};
use tracing::warn;

use crate::recording::compositor::Compositor;
use crate::recording::ffmpeg::spawn_fed;
use crate::recording::frames::{signed_ms, video_track};
use crate::recording::manifest::FileReport;
use crate::recording::mixer::{MixOutput, Mixer};

/// How often pending bytes go to disk.
const WRITE_EVERY: Duration = Duration::from_millis(250);
/// How long a participant file waits for its second kind of media before it starts
/// without it.
const GATHER_FOR: Duration = Duration::from_secs(2);

/// When a recording stops; frames that arrived later are left out.
pub type StopAt = Arc<Mutex<Option<Instant>>>;

/// Where each recorded track goes: its file's name without extension, or in a mix the
/// participant it belongs to (the composite lines up each one's video with their audio).
/// The control plane adds a track here before its frames can arrive and takes it out
/// when the track is unpublished.
pub type Routes = Arc<Mutex<HashMap<TrackId, Route>>>;

/// Where one recorded track goes.
#[derive(Debug, Clone)]
pub struct Route {
    /// Its file's name without extension; in a mix, the participant it belongs to.
    pub stem: String,
    /// The participant's name (the composite writes it on the track's tile).
    pub name: String,
    /// A video track (the composite starts its decoder before its first frame).
    pub video: bool,
}

/// How a recording lays its tracks out in files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One file per track.
    Track,
    /// One file per participant, audio and video together.
    Participant,
    /// All audio mixed into one file (`mixer.rs`).
    Mixed,
    /// All audio mixed and all video in a grid, in one file (`mixer.rs`, `compositor.rs`).
    Composite,
}

/// Starts the writer thread; it ends once `stop` holds a time (or every sender is gone)
/// and returns a report per file.
pub fn spawn(
    dir: PathBuf,
    layout: Layout,
    routes: Routes,
    frames: Receiver<EgressFrame>,
    stop: StopAt,
) -> std::io::Result<JoinHandle<Vec<FileReport>>> {
    let mixer = match layout {
        Layout::Mixed => Some(Mixer::start(MixOutput::File(&dir), None)?),
        Layout::Composite => Some(Mixer::start(
            MixOutput::File(&dir),
            Some(Compositor::new(routes.clone())),
        )?),
        _ => None,
    };
    let recorder = Recorder {
        dir,
        start: Instant::now(),
        layout,
        routes,
        files: HashMap::new(),
        tracks: HashMap::new(),
        mixer,
    };
    std::thread::Builder::new()
        .name("moim-recorder".into())
        .spawn(move || recorder.run(&frames, &stop))
}

struct Recorder {
    dir: PathBuf,
    start: Instant,
    layout: Layout,
    routes: Routes,
    files: HashMap<String, OutFile>,
    tracks: HashMap<TrackId, TrackTime>,
    mixer: Option<Mixer>,
}

/// How one track's media times become file times.
struct TrackTime {
    file: String,
    video: bool,
    base: u64,
    base_ms: i64,
    /// The last frame's file time: a track's times only grow (a simulcast switch can hand
    /// over two frames less than a millisecond apart).
    last_ms: i64,
}

/// One file, gathering its first frames or open.
struct OutFile {
    stem: String,
    name: String,
    open: Option<Open>,
    gathering: Vec<EgressFrame>,
    first_arrival: Instant,
    /// File time zero on the arrival clock, and on the sender's clock once known.
    anchor: Instant,
    anchor_sender: Option<SystemTime>,
    codecs: Vec<&'static str>,
    last_ms: i64,
    frames: u64,
}

struct Open {
    sink: Sink,
    /// H.264 frames are rewritten from Annex B before they are stored.
    h264: bool,
    container: Container,
    /// WebM track numbers of the video and audio tracks, when the file has them.
    video: Option<u64>,
    audio: Option<u64>,
    pending: Vec<u8>,
}

/// Where a file's bytes go.
enum Sink {
    File(File),
    /// An `ffmpeg` that remuxes the Matroska it reads into a fragmented MP4 (H.264);
    /// killed with us, it sees its input end and still finishes the file.
    Remux {
        child: Child,
        stdin: ChildStdin,
    },
}

impl Sink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::File(f) => f.write_all(bytes),
            Sink::Remux { stdin, .. } => stdin.write_all(bytes),
        }
    }

    /// Makes the file complete: `patch` goes at its offset (files only), then the data
    /// reaches the disk, or ffmpeg ends.
    fn close(self, patch: Option<(u64, Vec<u8>)>) -> std::io::Result<()> {
        match self {
            Sink::File(mut f) => {
                if let Some((at, bytes)) = patch {
                    f.seek(SeekFrom::Start(at))?;
                    f.write_all(&bytes)?;
                }
                f.sync_all()
            }
            Sink::Remux { mut child, stdin } => {
                drop(stdin);
                let status = child.wait()?;
                if status.success() {
                    Ok(())
                } else {
                    Err(std::io::Error::other(format!("ffmpeg ended with {status}")))
                }
            }
        }
    }
}

enum Container {
    Webm(WebmWriter),
    Ogg(OggOpusWriter),
}

impl Recorder {
    fn run(
        mut self,
        frames: &Receiver<EgressFrame>,
        stop: &Mutex<Option<Instant>>,
    ) -> Vec<FileReport> {
        let mut last_write = Instant::now();
        let mut end = None;
        loop {
            let wait = self.mixer.as_ref().map_or(WRITE_EVERY, Mixer::until_next);
            match frames.recv_timeout(wait) {
                Ok(frame) => self.frame(frame),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if let Some(mixer) = &mut self.mixer {
                mixer.tick(Instant::now());
            }
            if last_write.elapsed() >= WRITE_EVERY {
                self.open_gathered(false);
                self.write_pending();
                last_write = Instant::now();
            }
            let stop_at = *stop.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(stop_at) = stop_at {
                while let Ok(frame) = frames.try_recv() {
                    if frame.network_time <= stop_at {
                        self.frame(frame);
                    }
                }
                end = Some(stop_at);
                break;
            }
        }
        self.open_gathered(true);
        self.finish(end.unwrap_or_else(Instant::now))
    }

    fn frame(&mut self, frame: EgressFrame) {
        if let Some(mixer) = &mut self.mixer {
            mixer.frame(&frame);
            return;
        }
        let Some(stem) = self.route(frame.track) else {
            return;
        };
        let layout = self.layout;
        let file = self
            .files
            .entry(stem.clone())
            .or_insert_with(|| OutFile::new(stem, &frame));
        if file.anchor_sender.is_none()
            && let Some(sent) = frame.sender_time
        {
            file.anchor_sender =
                sent.checked_sub(frame.network_time.saturating_duration_since(file.anchor));
        }
        if file.open.is_some() {
            file.write(&mut self.tracks, &frame, layout);
            return;
        }
        let video = frame.codec != FrameCodec::Opus;
        if video && !frame.keyframe && !file.gathering.iter().any(|f| f.codec != FrameCodec::Opus) {
            return;
        }
        file.gathering.push(frame);
        let ready = match layout {
            Layout::Track | Layout::Mixed | Layout::Composite => true,
            Layout::Participant => {
                let kinds = |v: bool| {
                    file.gathering
                        .iter()
                        .any(|f| (f.codec != FrameCodec::Opus) == v)
                };
                kinds(true) && kinds(false)
            }
        };
        if ready {
            let stem = file.stem.clone();
            self.open_file(&stem);
        }
    }

    /// The file a track goes to, remembered after the first look.
    fn route(&self, track: TrackId) -> Option<String> {
        if let Some(t) = self.tracks.get(&track) {
            return Some(t.file.clone());
        }
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&track)
            .map(|r| r.stem.clone())
    }

    /// Opens participant files that waited long enough for their second kind of media
    /// (all of them when `all`).
    fn open_gathered(&mut self, all: bool) {
        let due: Vec<String> = self
            .files
            .values()
            .filter(|f| f.open.is_none() && !f.gathering.is_empty())
            .filter(|f| all || f.first_arrival.elapsed() >= GATHER_FOR)
            .map(|f| f.stem.clone())
            .collect();
        for stem in due {
            self.open_file(&stem);
        }
    }

    /// Creates a file with the tracks its gathered frames show, then writes those frames.
    fn open_file(&mut self, stem: &str) {
        let layout = self.layout;
        let dir = self.dir.clone();
        let Some(file) = self.files.get_mut(stem) else {
            return;
        };
        let gathered = std::mem::take(&mut file.gathering);
        match file.create(&dir, &gathered) {
            Ok(()) => {}
            Err(e) => {
                warn!(file = %file.name, "cannot create a recording file: {e}");
                return;
            }
        }
        if layout == Layout::Track {
            // A track's file starts at its first frame.
            file.anchor = gathered[0].network_time;
            file.anchor_sender = None;
        }
        for frame in &gathered {
            file.write(&mut self.tracks, frame, layout);
        }
    }

    fn write_pending(&mut self) {
        for f in self.files.values_mut() {
            let Some(open) = &mut f.open else { continue };
            if let Container::Ogg(w) = &mut open.container {
                w.flush(&mut open.pending);
            }
            if open.pending.is_empty() {
                continue;
            }
            if let Err(e) = open.sink.write_all(&open.pending) {
                warn!(file = %f.name, "recording write failed: {e}");
            }
            open.pending.clear();
        }
    }

    /// Completes every file; a mix ends at `end`, when the recording stopped.
    fn finish(mut self, end: Instant) -> Vec<FileReport> {
        if let Some(mixer) = self.mixer.take() {
            return vec![mixer.finish(self.start, end)];
        }
        let mut reports = Vec::new();
        for (_, f) in self.files.drain() {
            let Some(mut open) = f.open else { continue };
            // The last frame lasts about as long as the ones before it.
            let duration_ms = f.last_ms.max(0) as u64 + if open.video.is_some() { 33 } else { 20 };
            let patch = match &mut open.container {
                Container::Ogg(w) => {
                    w.finish(&mut open.pending);
                    None
                }
                Container::Webm(w) => Some(w.duration_patch(duration_ms as f64)),
            };
            let done = open
                .sink
                .write_all(&open.pending)
                .and_then(|()| open.sink.close(patch));
            if let Err(e) = done {
                warn!(file = %f.name, "finishing a recording file failed: {e}");
            }
            reports.push(FileReport {
                file: f.name,
                codec: f.codecs.join("+"),
                offset_ms: f.anchor.saturating_duration_since(self.start).as_millis() as u64,
                duration_ms,
                frames: f.frames,
            });
        }
        reports.sort_by(|a, b| (a.offset_ms, &a.file).cmp(&(b.offset_ms, &b.file)));
        reports
    }
}

impl OutFile {
    fn new(stem: String, first: &EgressFrame) -> OutFile {
        OutFile {
            name: stem.clone(),
            stem,
            open: None,
            gathering: Vec::new(),
            first_arrival: Instant::now(),
            anchor: first.network_time,
            anchor_sender: None,
            codecs: Vec::new(),
            last_ms: 0,
            frames: 0,
        }
    }

    /// Creates the file on disk with a track for each kind of media in `gathered`: Ogg
    /// for audio alone, else WebM.
    fn create(&mut self, dir: &std::path::Path, gathered: &[EgressFrame]) -> std::io::Result<()> {
        let video = gathered.iter().find(|f| f.codec != FrameCodec::Opus);
        let audio = gathered.iter().find(|f| f.codec == FrameCodec::Opus);
        let mut specs = Vec::new();
        if let Some(v) = video {
            let (spec, name) = video_track(v)?;
            specs.push(spec);
            self.codecs.push(name);
        }
        if audio.is_some() {
            specs.push(TrackSpec {
                codec: Codec::Opus,
                width: 0,
                height: 0,
                private: Vec::new(),
            });
            self.codecs.push("opus");
        }
        let h264 = video.is_some_and(|v| v.codec == FrameCodec::H264);
        let (container, header, ext) = if video.is_none() {
            let (w, header) = OggOpusWriter::new(gathered[0].track.0 as u32);
            (Container::Ogg(w), header, "ogg")
        } else {
            let (w, header) = WebmWriter::new(&specs);
            (
                Container::Webm(w),
                header,
                if h264 { "mp4" } else { "webm" },
            )
        };
        self.name = format!("{}.{ext}", self.stem);
        let mut sink = if h264 {
            remux_to_mp4(&dir.join(&self.name))?
        } else {
            Sink::File(File::create(dir.join(&self.name))?)
        };
        sink.write_all(&header)?;
        self.open = Some(Open {
            sink,
            h264,
            container,
            video: video.map(|_| 1),
            audio: audio.map(|_| if video.is_some() { 2 } else { 1 }),
            pending: Vec::new(),
        });
        Ok(())
    }

    /// Writes one frame; a track seen for the first time is placed on the file's timeline
    /// (by the sender's clock when both sides know it, else by arrival).
    fn write(
        &mut self,
        tracks: &mut HashMap<TrackId, TrackTime>,
        frame: &EgressFrame,
        layout: Layout,
    ) {
        let Some(open) = &mut self.open else { return };
        let video = frame.codec != FrameCodec::Opus;
        let Some(number) = (if video { open.video } else { open.audio }) else {
            return;
        };
        let clock = u64::from(frame.clock_rate.max(1));
        let time = tracks.entry(frame.track).or_insert_with(|| {
            let base_ms = match (layout, frame.sender_time, self.anchor_sender) {
                (Layout::Track, ..) => 0,
                (_, Some(sent), Some(anchor)) => signed_ms(sent, anchor),
                _ => frame
                    .network_time
                    .saturating_duration_since(self.anchor)
                    .as_millis() as i64,
            };
            TrackTime {
                file: self.stem.clone(),
                video,
                base: frame.time,
                base_ms,
                last_ms: i64::MIN,
            }
        });
        let since = frame.time.saturating_sub(time.base);
        let ms = (time.base_ms + (since * 1000 / clock) as i64).max(time.last_ms.saturating_add(1));
        if ms < 0 {
            return;
        }
        time.last_ms = ms;
        self.last_ms = self.last_ms.max(ms);
        self.frames += 1;
        let converted;
        let data = if open.h264 && video {
            let mut out = Vec::with_capacity(frame.data.len());
            h264::length_prefixed(&frame.data, &mut out);
            converted = out;
            &converted[..]
        } else {
            &frame.data[..]
        };
        match &mut open.container {
            Container::Webm(w) => w.block(
                &mut open.pending,
                number,
                ms,
                frame.keyframe || !time.video,
                data,
            ),
            Container::Ogg(w) => w.packet(&mut open.pending, since * 48_000 / clock, data),
        }
    }
}

/// Starts an `ffmpeg` that turns the Matroska on its input into a fragmented MP4 at
/// `path` without transcoding; fragments are complete as they are written.
fn remux_to_mp4(path: &std::path::Path) -> std::io::Result<Sink> {
    let mut ffmpeg = Command::new("ffmpeg");
    ffmpeg
        .args([
            "-nostdin", "-v", "error", "-f", "matroska", "-i", "pipe:0", "-c", "copy",
        ])
        .args([
            "-f",
            "mp4",
            "-movflags",
            "+frag_keyframe+empty_moov+default_base_moof",
            "-y",
        ])
        .arg(path);
    let (child, stdin) = spawn_fed(&mut ffmpeg, Stdio::null())?;
    Ok(Sink::Remux { child, stdin })
}
