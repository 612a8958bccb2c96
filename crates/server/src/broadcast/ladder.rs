//! The quality ladder of a live stream: one source's frames in, one LL-HLS rendition per
//! rung out.
//!
//! One `ffmpeg` child decodes the source once, brings it to a constant frame rate, scales
//! it to every rung and encodes each with libx264 (keyframes forced at the same times on
//! every rung, so the rungs' segments line up and a player switches at any segment), and
//! the sound once to AAC-LC; it writes one Matroska stream with a video track per rung and
//! the audio track. A thread reads it back and hands each rung's pictures, with the sound,
//! to that rung's `hls::Segmenter` ([`Rendition`]), which the HTTP side reads through
//! [`Renditions`].
//!
//! Feeding never blocks the caller: frames wait in a bounded queue for a thread that
//! writes them into ffmpeg's input (`input.rs`); a full queue drops (counted), and after
//! a dropped picture the rest wait for the next keyframe. The child starts at the source's
//! first video keyframe, once the picture size that chooses the rungs is known.
//!
//! A broadcast of the meeting's composite grid has a [`GridLadder`] instead: the same
//! rungs, encoded by the composite's own ffmpeg (`grid.rs`).

mod grid;
mod input;
mod output;
#[cfg(test)]
mod tests;

pub use grid::GridLadder;
pub use output::Rendition;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use moim_egress::hls::{SegmenterConfig, multivariant_playlist};
use moim_media::{EgressFrame, FrameCodec, TrackId};
use serde::Deserialize;
use tracing::warn;

use crate::broadcast::archive::ArchiveConfig;
use input::{ChildSlot, Input};

/// Frames waiting for ffmpeg at most: about four seconds of a 30 fps picture with its
/// sound in 20 ms frames.
const QUEUE: usize = 320;

/// Replaced tracks whose late frames are recognised and ignored: a source that comes
/// back replaces its tracks once per return, and their frames stop within a second.
const REPLACED_KEPT: usize = 8;

/// The sound's bit rate, the same on every rung (AAC-LC, 48 kHz, stereo).
pub const AUDIO_KBPS: u32 = 128;

/// One step of the ladder: a name (its folder in URLs), a picture height and a video bit
/// rate (`broadcast_rungs` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    /// The rung's name: `sd`, `hd`, `fhd` (its playlist is `{name}/index.m3u8`).
    pub name: Cow<'static, str>,
    /// The picture's height in pixels (its shorter side, for a portrait source).
    pub height: u32,
    /// The video's bit rate in kbit/s, held nearly constant (ffmpeg's `-b:v`, `-maxrate`).
    pub video_kbps: u32,
}

impl Rung {
    /// 480p at 1 Mbit/s: what a phone on a weak network can hold.
    pub const SD: Rung = Rung {
        name: Cow::Borrowed("sd"),
        height: 480,
        video_kbps: 1_000,
    };
    /// 720p at 2.5 Mbit/s.
    pub const HD: Rung = Rung {
        name: Cow::Borrowed("hd"),
        height: 720,
        video_kbps: 2_500,
    };
    /// 1080p at 5 Mbit/s.
    pub const FHD: Rung = Rung {
        name: Cow::Borrowed("fhd"),
        height: 1080,
        video_kbps: 5_000,
    };
    /// The default ladder, lowest first; a source gets the rungs at or below its height.
    pub const DEFAULTS: [Rung; 3] = [Rung::SD, Rung::HD, Rung::FHD];

    /// The rung's average bit rate with its sound and the container, bits per second
    /// (`AVERAGE-BANDWIDTH`): measured 4 to 5 % over the encoders' rates.
    pub fn average_bandwidth(&self) -> u64 {
        u64::from(self.video_kbps + AUDIO_KBPS) * 106 / 100 * 1000
    }

    /// The peak bit rate of its segments, bits per second (`BANDWIDTH`): the encoder's
    /// one-second buffer lets a segment holding a keyframe run over the average.
    pub fn bandwidth(&self) -> u64 {
        self.average_bandwidth() / 1000 * 5 / 4 * 1000
    }
}

/// How a ladder encodes and packages.
#[derive(Debug, Clone)]
pub struct LadderConfig {
    /// The rungs to choose from (any order); those at or below the source's height are
    /// encoded, at least the lowest.
    pub rungs: Vec<Rung>,
    /// The pictures per second of every rung (the source's are repeated or dropped to
    /// it): the rate control and the parts' length need a steady one.
    pub frame_rate: u32,
    /// How every rung is cut; keyframes are forced every `segment_target`.
    pub segmenter: SegmenterConfig,
    /// Where the rungs' segments are kept to watch back (a folder per rung), if they are.
    pub archive: Option<ArchiveConfig>,
}

impl LadderConfig {
    /// The frame rate as the encoders take it: 1 to 120.
    fn pictures_per_second(&self) -> u32 {
        self.frame_rate.clamp(1, 120)
    }

    /// The renditions of `encodings`, each archived in its rung's folder when asked.
    fn renditions(&self, encodings: &[Encoding]) -> Vec<Arc<Rendition>> {
        encodings
            .iter()
            .map(|e| {
                let archive = self
                    .archive
                    .as_ref()
                    .map(|a| (a.dir.join(&*e.rung.name), a.window));
                Arc::new(Rendition::new(
                    e.clone(),
                    self.pictures_per_second(),
                    archive,
                ))
            })
            .collect()
    }
}

impl Default for LadderConfig {
    fn default() -> LadderConfig {
        LadderConfig {
            rungs: Rung::DEFAULTS.to_vec(),
            frame_rate: 30,
            segmenter: SegmenterConfig::default(),
            archive: None,
        }
    }
}

/// A rung as encoded for one source: its picture size, the source's shape kept.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Encoding {
    rung: Rung,
    width: u32,
    height: u32,
}

/// The rungs a source of `source` (width, height) gets, lowest first: those whose height
/// fits its shorter side, at least the lowest (no taller than the source). Without a
/// size, the lowest alone, 16:9.
fn plan(rungs: &[Rung], source: Option<(u32, u32)>) -> Vec<Encoding> {
    let mut rungs = rungs.to_vec();
    rungs.sort_by_key(|r| r.height);
    let Some(lowest) = rungs.first().cloned() else {
        return Vec::new();
    };
    let (width, height) = source
        .filter(|(w, h)| *w > 0 && *h > 0)
        .unwrap_or((16 * lowest.height / 9, lowest.height));
    let short = width.min(height);
    let mut chosen: Vec<Rung> = rungs.into_iter().filter(|r| r.height <= short).collect();
    if chosen.is_empty() {
        chosen.push(Rung {
            height: even(u64::from(short)),
            ..lowest
        });
    }
    chosen
        .into_iter()
        .map(|rung| {
            let scale = |long: u32| {
                let short = u64::from(short.max(1));
                even((u64::from(long) * u64::from(rung.height) + short / 2) / short)
            };
            let (w, h) = if width >= height {
                (scale(width), rung.height)
            } else {
                (rung.height, scale(height))
            };
            Encoding {
                rung,
                width: w,
                height: h,
            }
        })
        .collect()
}

/// A picture dimension as an encoder takes it: the nearest even number, from 2 to 4096.
fn even(pixels: u64) -> u32 {
    ((pixels.clamp(2, 4095) as u32) + 1) & !1
}

/// What happened to the frames fed to a ladder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LadderStats {
    /// Frames queued for ffmpeg.
    pub fed: u64,
    /// Frames dropped: the queue was full (ffmpeg behind), a picture waited for a
    /// keyframe after one was dropped, or sound came for a time already filled.
    pub dropped: u64,
    /// Frames ffmpeg made that a rung's segmenter refused (see `hls::Error`).
    pub refused: u64,
}

/// What the ladder's threads and its handles share.
struct Shared {
    /// The renditions, once the first keyframe chose the rungs.
    list: OnceLock<Vec<Arc<Rendition>>>,
    fed: AtomicU64,
    dropped: AtomicU64,
    refused: AtomicU64,
}

impl Shared {
    /// Hands `item` to a ladder's thread through `queue` without waiting, counting it fed
    /// or dropped (the queue is full: the thread, or ffmpeg, is behind); forgets a queue
    /// whose thread is gone. Whether it was queued.
    fn offer<T>(&self, queue: &mut Option<SyncSender<T>>, item: T) -> bool {
        let Some(sender) = queue else { return false };
        match sender.try_send(item) {
            Ok(()) => {
                self.fed.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    warn!(dropped, "the HLS ladder is behind; dropping frames");
                }
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                *queue = None;
                false
            }
        }
    }
}

/// The ladder's renditions as the HTTP side reads them; cheap to clone, valid after the
/// ladder is gone (its playlists then stay as they last were).
#[derive(Clone)]
pub struct Renditions {
    shared: Arc<Shared>,
}

impl Renditions {
    /// The multivariant playlist (each rung with its bandwidth, resolution, codecs and
    /// frame rate, lowest first), once every rung has its tracks; `None` before.
    /// `folder` goes before each rung's URI (`{folder}sd/index.m3u8`).
    pub fn multivariant_playlist(&self, folder: &str) -> Option<String> {
        let list = self.shared.list.get()?;
        let variants: Option<Vec<_>> = list.iter().map(|r| r.variant(folder)).collect();
        Some(multivariant_playlist(&variants?))
    }

    /// The rendition of the rung called `name` (`sd`, `hd`, `fhd`), if the ladder has it.
    pub fn get(&self, name: &str) -> Option<Arc<Rendition>> {
        self.all().iter().find(|r| r.rung().name == name).cloned()
    }

    /// Counts of frames fed, dropped and refused so far.
    pub fn stats(&self) -> LadderStats {
        LadderStats {
            fed: self.shared.fed.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            refused: self.shared.refused.load(Ordering::Relaxed),
        }
    }

    /// Every rendition, lowest first; none before the source's first keyframe.
    pub fn all(&self) -> &[Arc<Rendition>] {
        self.shared.list.get().map_or(&[], Vec::as_slice)
    }

    /// Whether every rendition's playlist has ended (or the ladder never started).
    pub fn ended(&self) -> bool {
        self.all().iter().all(|r| r.is_ended())
    }
}

/// A running ladder: feed it a source's frames; read its renditions through
/// [`Ladder::renditions`]. Dropping it ends its `ffmpeg` child.
pub struct Ladder {
    queue: Option<SyncSender<Input>>,
    feed: Option<JoinHandle<()>>,
    child: Arc<Mutex<ChildSlot>>,
    shared: Arc<Shared>,
    /// The source's video and audio tracks now: the first of each fed, then each track
    /// that replaces it (the source came back).
    video: Option<TrackId>,
    audio: Option<TrackId>,
    /// Tracks replaced: their late frames are ignored.
    replaced: Vec<TrackId>,
    /// Tracks replaced so far, and which replacement the video and the sound track now
    /// came with.
    replacements: u32,
    video_since: u32,
    audio_since: u32,
    started: bool,
    /// A picture was dropped: the next ones wait for a keyframe (a decoder cannot use
    /// pictures that refer to a missing one).
    video_broken: bool,
}

impl Ladder {
    /// A ladder whose feeding thread waits for the first video keyframe to start ffmpeg.
    pub fn start(config: LadderConfig) -> std::io::Result<Ladder> {
        let shared = Arc::new(Shared {
            list: OnceLock::new(),
            fed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let child = Arc::new(Mutex::new(ChildSlot::default()));
        let (queue, queued) = sync_channel(QUEUE);
        let feed = {
            let (shared, child) = (shared.clone(), child.clone());
            std::thread::Builder::new()
                .name("moim-ladder-in".into())
                .spawn(move || input::run(queued, config, shared, child))?
        };
        Ok(Ladder {
            queue: Some(queue),
            feed: Some(feed),
            child,
            shared,
            video: None,
            audio: None,
            replaced: Vec::new(),
            replacements: 0,
            video_since: 0,
            audio_since: 0,
            started: false,
            video_broken: false,
        })
    }

    /// Queues a frame of the source for ffmpeg without waiting: nothing before the first
    /// video keyframe, one video and one audio track at a time, Opus audio. A new track
    /// replaces the one of its kind (the source came back with new tracks): from its
    /// first keyframe for video (in any codec: ffmpeg is started again for another one),
    /// and for sound once the video has been replaced; the stream goes on.
    pub fn feed(&mut self, frame: &EgressFrame) {
        let video = match frame.codec {
            FrameCodec::Vp8 | FrameCodec::Vp9 | FrameCodec::Av1 | FrameCodec::H264 => true,
            FrameCodec::Opus => false,
            FrameCodec::Other => return,
        };
        let video_started = self.video.is_some();
        let track = if video {
            &mut self.video
        } else {
            &mut self.audio
        };
        match *track {
            Some(t) if t == frame.track => {}
            Some(_) if self.replaced.contains(&frame.track) => return,
            Some(_) if video && !frame.keyframe => return,
            // The old sound goes on until the source's picture is back: a new generation
            // of ffmpeg starts at a picture.
            Some(_) if !video && self.audio_since >= self.video_since => return,
            Some(old) => {
                if self.replaced.len() == REPLACED_KEPT {
                    self.replaced.remove(0);
                }
                self.replaced.push(old);
                *track = Some(frame.track);
                self.replacements += 1;
                if video {
                    self.video_since = self.replacements;
                } else {
                    self.audio_since = self.replacements;
                }
            }
            None if video && !frame.keyframe => return,
            None if !video && !video_started => return,
            None => *track = Some(frame.track),
        }
        if video && self.video_broken && !frame.keyframe {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.queue.is_none() {
            return;
        }
        let message = if self.started {
            Input::Frame(frame.clone())
        } else {
            Input::Start {
                first: frame.clone(),
            }
        };
        if self.shared.offer(&mut self.queue, message) {
            self.started = true;
            self.video_broken &= !video;
        } else {
            self.video_broken |= video;
        }
    }

    /// Ends the stream: what is queued goes to ffmpeg, which finishes; every rung then
    /// publishes its last part and ends its playlist (`EXT-X-ENDLIST`). Frames fed after
    /// are ignored.
    pub fn finish(&mut self) {
        self.queue = None;
    }

    /// The renditions, for the HTTP side (a handle that outlives the ladder).
    pub fn renditions(&self) -> Renditions {
        Renditions {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Ladder {
    fn drop(&mut self) {
        self.queue = None;
        input::stop(&self.child);
        if let Some(feed) = self.feed.take() {
            let _ = feed.join();
        }
    }
}
