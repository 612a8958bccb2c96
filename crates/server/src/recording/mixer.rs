//! The mixed recordings: the audio-only one (every audio track of the room mixed into one
//! Opus file) and the composite (that mix with a grid of every video, `compositor.rs`),
//! both made by an `ffmpeg` child process. Moim feeds ffmpeg one Matroska stream on its
//! standard input with a fixed number of Opus tracks ("slots"), each a track of the room
//! while it lasts, and keeps every slot flowing in real time: each 20 ms step a slot gets
//! its track's packet due then (by its media time, 40 ms after it would have arrived at
//! the quickest, against jitter: `playout.rs`) or a silent one. A composite adds an
//! uncompressed video track that gets the grid every 40 ms (25 frames a second), on the
//! same timeline and by the same rule: a picture shows the frames that would have arrived
//! 40 ms before its time, had they travelled as quickly as their sender's quickest audio
//! (lip sync), so picture and sound stay together.
//! ffmpeg decodes the slots, mixes them (`amix`), encodes (Opus; VP8 for the composite)
//! and writes as it goes; if Moim dies, ffmpeg sees its input end and finishes the file.
//! A broadcast of the grid has the same mix encoded into its rungs instead, on ffmpeg's
//! standard output ([`MixOutput::Stream`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use moim_egress::ogg::SILENCE;
use moim_egress::webm::{Codec, TrackSpec, WebmWriter};
use moim_media::{EgressFrame, FrameCodec, TrackId};
use tracing::warn;

use crate::recording::compositor::{self, Compositor};
use crate::recording::ffmpeg::spawn_fed;
use crate::recording::manifest::FileReport;
use crate::recording::playout::{PLAYOUT_DELAY, Playout};

/// Audio tracks mixed at once; more wait for a free slot.
pub const SLOTS: usize = 8;
const TICK: Duration = Duration::from_millis(20);
/// A slot whose track sent nothing this long is free for another track.
const IDLE: Duration = Duration::from_secs(2);
/// A composite's video frame every this many 20 ms steps.
const VIDEO_EVERY: u64 = 2;
/// A picture is written this far behind the audio, so that its tracks' decoders have
/// had time to answer for the frames it shows (which lip sync may have moved earlier).
const DECODE_ALLOWANCE_MS: i64 = 60;
/// Writes queued for ffmpeg at most.
const FEED_QUEUE: usize = 256;
/// A composite picture is skipped while ffmpeg has this much input still to read.
const MAX_BACKLOG: usize = 2 * compositor::CANVAS_BYTES;
const AUDIO_FILE: &str = "mix.ogg";
const COMPOSITE_FILE: &str = "composite.webm";

struct Slot {
    track: Option<TrackId>,
    playout: Playout,
    last_packet: Instant,
}

/// Where a mix goes.
pub enum MixOutput<'a> {
    /// A recording's file in this folder: `mix.ogg`, or `composite.webm` with a picture.
    File(&'a Path),
    /// ffmpeg's standard output ([`Mixer::take_output`]) as `args` say, after `graph`
    /// goes on from the mix's filter graph, whose sound is `[mix]` and picture `[0:v:0]`.
    Stream {
        /// More filters, after the mix's own.
        graph: String,
        /// The outputs' arguments: maps, encoders, format, `pipe:1`.
        args: Vec<String>,
    },
}

/// The running mix.
pub struct Mixer {
    child: Child,
    feed: Feed,
    writer: WebmWriter,
    slots: Vec<Slot>,
    by_track: HashMap<TrackId, usize>,
    start: Instant,
    ticks: u64,
    frames: u64,
    out: Vec<u8>,
    /// The composite's picture, when this mix has one.
    video: Option<Compositor>,
    pictures: u64,
    pictures_skipped: u64,
}

impl Mixer {
    /// Starts ffmpeg writing the mix where `output` says, with `video`'s picture when
    /// given.
    pub fn start(output: MixOutput, video: Option<Compositor>) -> std::io::Result<Mixer> {
        let inputs: String = (0..SLOTS).map(|i| format!("[0:a:{i}]")).collect();
        let mut filter = format!("{inputs}amix=inputs={SLOTS}:normalize=0:duration=longest[mix]");
        let mut ffmpeg = Command::new("ffmpeg");
        ffmpeg.args(["-nostdin", "-v", "error"]);
        let stdout = match output {
            MixOutput::File(dir) => {
                ffmpeg
                    .args(["-f", "matroska", "-i", "pipe:0"])
                    .args(["-filter_complex", &filter]);
                if video.is_some() {
                    ffmpeg
                        .args(["-map", "0:v", "-c:v", "libvpx", "-deadline", "realtime"])
                        .args([
                            "-cpu-used",
                            "16",
                            "-b:v",
                            "2M",
                            "-g",
                            "100",
                            "-threads",
                            "1",
                        ]);
                }
                ffmpeg.args(["-map", "[mix]", "-c:a", "libopus", "-b:a", "96k"]);
                if video.is_some() {
                    ffmpeg
                        .args(["-f", "webm", "-y"])
                        .arg(dir.join(COMPOSITE_FILE));
                } else {
                    ffmpeg.args(["-f", "ogg", "-y"]).arg(dir.join(AUDIO_FILE));
                }
                Stdio::null()
            }
            MixOutput::Stream { graph, args } => {
                filter.push(';');
                filter.push_str(&graph);
                // Little probing: the input's header says everything.
                ffmpeg
                    .args(["-probesize", "32", "-analyzeduration", "0"])
                    .args(["-f", "matroska", "-i", "pipe:0"])
                    .args(["-filter_complex", &filter])
                    .args(args);
                Stdio::piped()
            }
        };
        let (child, stdin) = spawn_fed(&mut ffmpeg, stdout)?;
        let feed = Feed::start(stdin)?;
        let opus = TrackSpec {
            codec: Codec::Opus,
            width: 0,
            height: 0,
            private: Vec::new(),
        };
        let mut specs = vec![opus; SLOTS];
        if video.is_some() {
            specs.push(TrackSpec {
                codec: Codec::RawI420,
                width: compositor::WIDTH as u32,
                height: compositor::HEIGHT as u32,
                private: Vec::new(),
            });
        }
        let (writer, header) = WebmWriter::new(&specs);
        let now = Instant::now();
        let mut mixer = Mixer {
            child,
            feed,
            writer,
            slots: (0..SLOTS)
                .map(|_| Slot {
                    track: None,
                    playout: Playout::new(now),
                    last_packet: now,
                })
                .collect(),
            by_track: HashMap::new(),
            start: now,
            ticks: 0,
            frames: 0,
            out: header,
            video,
            pictures: 0,
            pictures_skipped: 0,
        };
        mixer.send();
        Ok(mixer)
    }

    /// ffmpeg's standard output, of a [`MixOutput::Stream`] (once).
    pub fn take_output(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Queues an audio frame on its track's slot (taking a free one for a new track);
    /// shows every frame to the composite's picture.
    pub fn frame(&mut self, frame: &EgressFrame) {
        if let Some(video) = &mut self.video {
            video.frame(frame);
        }
        if frame.codec != FrameCodec::Opus {
            self.frames += u64::from(self.video.is_some());
            return;
        }
        let now = Instant::now();
        let slot = match self.by_track.get(&frame.track) {
            Some(i) => *i,
            None => {
                let free = self.slots.iter().position(|s| {
                    s.track.is_none() || now.saturating_duration_since(s.last_packet) >= IDLE
                });
                let Some(i) = free else {
                    warn!(track = %frame.track, "every mixing slot is taken; this track is left out");
                    return;
                };
                if let Some(old) = self.slots[i].track.replace(frame.track) {
                    self.by_track.remove(&old);
                }
                self.slots[i].playout.clear();
                self.by_track.insert(frame.track, i);
                i
            }
        };
        let s = &mut self.slots[slot];
        s.last_packet = now;
        s.playout.push(
            frame.time,
            frame.clock_rate,
            frame.network_time,
            &frame.data,
        );
        self.frames += 1;
    }

    /// How long until the next 20 ms step is due.
    pub fn until_next(&self) -> Duration {
        let next = self.start + TICK * (self.ticks as u32 + 1);
        next.saturating_duration_since(Instant::now())
    }

    /// Feeds ffmpeg every 20 ms step due by `now`: a packet (or silence) for each slot,
    /// and the composite's picture (once, however many steps are due, and not while
    /// ffmpeg is behind: a late picture is skipped rather than repeated).
    pub fn tick(&mut self, now: Instant) {
        if let Some(video) = &mut self.video {
            video.warm_up();
        }
        let mut picture_due = None;
        while self.start + TICK * (self.ticks as u32 + 1) <= now {
            let ms = (self.ticks * 20) as i64;
            let at = self.start + TICK * self.ticks as u32;
            for (i, s) in self.slots.iter_mut().enumerate() {
                let packet = s.playout.play(at);
                let data = packet.as_deref().unwrap_or(&SILENCE);
                self.writer
                    .block(&mut self.out, i as u64 + 1, ms, true, data);
            }
            if self.ticks.is_multiple_of(VIDEO_EVERY) {
                picture_due = Some(ms);
            }
            self.ticks += 1;
        }
        let picture_ms = picture_due.map(|ms| ms - DECODE_ALLOWANCE_MS);
        if let (Some(ms @ 0..), Some(video)) = (picture_ms, &mut self.video) {
            if self.feed.backlog() > MAX_BACKLOG {
                self.pictures_skipped += 1;
            } else {
                // What had arrived by then, as for the audio. A packet plays on average
                // 10 ms after it is due (half a 20 ms step), a picture 20 ms (half of
                // 40): the picture looks 10 ms further, so both average out.
                let at = self.start + Duration::from_millis(ms as u64) + TICK / 2 - PLAYOUT_DELAY;
                let track = SLOTS as u64 + 1;
                self.writer
                    .block(&mut self.out, track, ms, true, video.compose(at));
                self.pictures += 1;
            }
        }
        self.send();
    }

    fn send(&mut self) {
        if !self.out.is_empty() {
            self.feed.send(std::mem::take(&mut self.out));
        }
    }

    /// Ends the input at `end` and waits for ffmpeg to finish the file.
    pub fn finish(mut self, started: Instant, end: Instant) -> FileReport {
        self.tick(end);
        self.feed.close();
        if self.pictures_skipped > 0 {
            warn!(
                pictures = self.pictures,
                skipped = self.pictures_skipped,
                "the composite's encoder (ffmpeg) fell behind; pictures were skipped"
            );
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    warn!("the audio mixer (ffmpeg) did not finish in time; stopping it");
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        let (file, codec) = if self.video.is_some() {
            (COMPOSITE_FILE, "vp8+opus")
        } else {
            (AUDIO_FILE, "opus")
        };
        FileReport {
            file: file.into(),
            codec: codec.into(),
            offset_ms: self.start.saturating_duration_since(started).as_millis() as u64,
            duration_ms: self.ticks * 20,
            frames: self.frames,
        }
    }
}

/// ffmpeg's input, written by a thread of its own, so that an ffmpeg running behind never
/// holds up the recorder; how many bytes wait tells how far behind it is.
struct Feed {
    queue: Option<SyncSender<Vec<u8>>>,
    backlog: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
    full_warned: bool,
}

impl Feed {
    fn start(mut stdin: ChildStdin) -> std::io::Result<Feed> {
        let (queue, writes) = sync_channel::<Vec<u8>>(FEED_QUEUE);
        let backlog = Arc::new(AtomicUsize::new(0));
        let waiting = backlog.clone();
        let thread = std::thread::Builder::new()
            .name("moim-mix-feed".into())
            .spawn(move || {
                for bytes in writes {
                    if let Err(e) = stdin.write_all(&bytes) {
                        warn!("the mixer (ffmpeg) stopped taking input: {e}");
                        return;
                    }
                    waiting.fetch_sub(bytes.len(), Ordering::Relaxed);
                }
            })?;
        Ok(Feed {
            queue: Some(queue),
            backlog,
            thread: Some(thread),
            full_warned: false,
        })
    }

    /// Bytes handed over that ffmpeg has not taken yet.
    fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Queues bytes for ffmpeg; drops them if it is this far behind or gone.
    fn send(&mut self, bytes: Vec<u8>) {
        let Some(queue) = &self.queue else { return };
        let len = bytes.len();
        self.backlog.fetch_add(len, Ordering::Relaxed);
        match queue.try_send(bytes) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.backlog.fetch_sub(len, Ordering::Relaxed);
                if !self.full_warned {
                    warn!("the mixer (ffmpeg) is far behind; its input is being dropped");
                    self.full_warned = true;
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                self.backlog.fetch_sub(len, Ordering::Relaxed);
                self.queue = None;
            }
        }
    }

    /// Ends the input once everything queued is written.
    fn close(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
