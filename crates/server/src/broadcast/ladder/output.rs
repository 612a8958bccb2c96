//! The ladder's renditions and the thread that fills them: ffmpeg's output (Matroska, a
//! video track per rung in the rungs' order, then the AAC-LC track) read block by block;
//! each rung's pictures and everyone's sound go to the rung's `hls::Segmenter`, created
//! from the tracks' codec private data (the `avcC`, the AudioSpecificConfig) once the
//! output's header says them.

use std::collections::{HashMap, VecDeque};
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ChildStdout;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use moim_egress::blocks::{BlockReader, Track};
use moim_egress::cmaf::{AudioTrack, Tracks, VideoTrack};
use moim_egress::hls::{
    self, AudioFrame, Availability, Resource, SegmentInfo, Segmenter, SegmenterConfig, Variant,
    VideoFrame,
};
use tokio::sync::watch;
use tracing::warn;

use super::{Encoding, Rung, Shared};
use crate::broadcast::archive::Archive;

/// ffmpeg's output times are milliseconds; the segmenter counts 90 kHz ticks.
const TICKS_PER_MS: i64 = hls::TICKS_PER_SECOND / 1000;
/// An AAC-LC frame's length at 48 kHz (1024 samples), rounded up.
pub(super) const AAC_FRAME_MS: i64 = 22;

/// One rung of a running ladder, packaged for LL-HLS: what its playlist and files are,
/// and when to look again. Shared by the thread filling it and the HTTP handlers.
pub struct Rendition {
    encoding: Encoding,
    frame_rate: u32,
    /// The rung's segmenter, once ffmpeg's output header gave its tracks.
    segmenter: Mutex<Option<Segmenter>>,
    /// Counts the parts published (and the end): what held requests wait on.
    changes: watch::Sender<u64>,
    /// What was served, shared by every request until it changes (a playlist) or leaves.
    served: Mutex<Served>,
    /// Its segments kept on disk to watch back.
    archive: Mutex<Archiving>,
}

/// Whether a rendition's segments are kept on disk.
enum Archiving {
    /// Not kept (not asked, or the disk refused).
    Off,
    /// To be kept in this folder, this long, from the first complete segment.
    To(PathBuf, Duration),
    /// Being kept.
    On(Archive),
}

/// Files as served: one shared copy for every player asking for it.
#[derive(Default)]
struct Served {
    /// The media playlist and the change it was made at.
    playlist: Option<(u64, Bytes)>,
    files: HashMap<Resource, Bytes>,
    /// The order the files came in: the oldest go first.
    order: VecDeque<Resource>,
}

/// Files kept served: a playlist's worth of parts and segments (ten parts a segment,
/// eight segments) with room to spare.
const SERVED_FILES: usize = 128;

impl Rendition {
    /// A rendition of `encoding` at `frame_rate`, without frames yet, whose segments are
    /// kept on disk in `archive` (a folder, and how long) when given.
    pub(super) fn new(
        encoding: Encoding,
        frame_rate: u32,
        archive: Option<(PathBuf, Duration)>,
    ) -> Rendition {
        Rendition {
            encoding,
            frame_rate,
            segmenter: Mutex::new(None),
            changes: watch::channel(0).0,
            served: Mutex::new(Served::default()),
            archive: Mutex::new(
                archive.map_or(Archiving::Off, |(dir, window)| Archiving::To(dir, window)),
            ),
        }
    }

    /// The rung it encodes (its name is its folder in URLs).
    pub fn rung(&self) -> &Rung {
        &self.encoding.rung
    }

    /// Its picture's width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.encoding.width, self.encoding.height)
    }

    /// The media playlist (`index.m3u8`), once the rung has its tracks: live, or once
    /// ended the VOD playlist of every segment kept on disk. Made once per change, however
    /// many players ask.
    pub fn playlist(&self) -> Option<Bytes> {
        let version = *self.changes.borrow();
        let mut served = self.served();
        if let Some((made, text)) = &served.playlist
            && *made == version
        {
            return Some(text.clone());
        }
        // The version is read before the playlist: a change in between is seen next time.
        let text = {
            let segmenter = self.lock();
            let segmenter = segmenter.as_ref()?;
            let vod = match &*self.archiving() {
                Archiving::On(archive) if segmenter.is_ended() => archive.playlist(),
                _ => None,
            };
            Bytes::from(vod.unwrap_or_else(|| segmenter.playlist()))
        };
        served.playlist = Some((version, text.clone()));
        Some(text)
    }

    /// The bytes of a file of the rendition (the init segment, a segment or a part still
    /// kept), one shared copy for every player; `None` for the playlist and for what is
    /// not there.
    pub fn file(&self, resource: Resource) -> Option<Bytes> {
        if let Some(bytes) = self.served().files.get(&resource) {
            return Some(bytes.clone());
        }
        let bytes = Bytes::copy_from_slice(self.lock().as_ref()?.get(resource)?);
        let mut served = self.served();
        if served.files.insert(resource, bytes.clone()).is_none() {
            served.order.push_back(resource);
            if served.order.len() > SERVED_FILES
                && let Some(oldest) = served.order.pop_front()
            {
                served.files.remove(&oldest);
            }
        }
        Some(bytes)
    }

    /// Where a file no longer in memory is kept on disk (a segment of the last
    /// `broadcast_vod_window`), if it is.
    pub fn archived(&self, resource: Resource) -> Option<PathBuf> {
        match &*self.archiving() {
            Archiving::On(archive) => archive.path(resource),
            _ => None,
        }
    }

    /// The files the archive kept, in playing order, and how long they last (see
    /// `Archive::kept`).
    pub fn archive_kept(&self) -> Option<(Vec<PathBuf>, u64)> {
        match &*self.archiving() {
            Archiving::On(archive) => archive.kept(),
            _ => None,
        }
    }

    /// Whether a blocking playlist request for segment `msn` (and its part `part`) can be
    /// answered (see `Segmenter::availability`); `Wait` before the rung has started.
    pub fn availability(&self, msn: u64, part: Option<u32>) -> Availability {
        self.lock()
            .as_ref()
            .map_or(Availability::Wait, |s| s.availability(msn, part))
    }

    /// Whether its playlist has ended (`EXT-X-ENDLIST`).
    pub fn is_ended(&self) -> bool {
        self.lock().as_ref().is_some_and(Segmenter::is_ended)
    }

    /// A receiver that sees a change each time a part is published or the stream ends:
    /// a held request awaits `changed()`, then asks [`Rendition::availability`] again.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// How the multivariant playlist lists it, once it has its tracks.
    pub(super) fn variant(&self, folder: &str) -> Option<Variant> {
        let segmenter = self.lock();
        let rung = self.rung();
        let uri = format!("{folder}{}/index.m3u8", rung.name);
        let frame_rate = Some(f64::from(self.frame_rate));
        let mut variant = Variant::new(
            &uri,
            segmenter.as_ref()?.tracks(),
            rung.bandwidth(),
            frame_rate,
        );
        variant.average_bandwidth = Some(rung.average_bandwidth());
        Some(variant)
    }

    fn served(&self) -> MutexGuard<'_, Served> {
        self.served.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, Option<Segmenter>> {
        self.segmenter.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The archive's state (locked after the segmenter, when both are).
    fn archiving(&self) -> MutexGuard<'_, Archiving> {
        self.archive.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `push` on the segmenter; wakes the waiting requests when a part was published
    /// (or the stream ended). A segment it completed is then written to the archive,
    /// without the segmenter locked.
    fn update(&self, push: impl FnOnce(&mut Segmenter) -> Result<(), hls::Error>) -> bool {
        let (refused, completed) = {
            let mut guard = self.lock();
            let Some(segmenter) = guard.as_mut() else {
                return false;
            };
            let before = (segmenter.next_part(), segmenter.is_ended());
            let newest = segmenter.newest_segment().map(|(s, _)| s.msn);
            let refused = push(segmenter).is_err();
            // Counted while the segmenter is still locked: whoever sees the new part also
            // sees the new count, so a playlist made before it is never served as current.
            if before != (segmenter.next_part(), segmenter.is_ended()) {
                self.changes.send_modify(|n| *n += 1);
            }
            let completed = segmenter
                .newest_segment()
                .filter(|(s, _)| Some(s.msn) != newest)
                .and_then(|(segment, bytes)| {
                    let init = match &*self.archiving() {
                        Archiving::Off => return None,
                        Archiving::To(..) => Some(segmenter.init().to_vec()),
                        Archiving::On(_) => None,
                    };
                    Some(Completed {
                        segment,
                        bytes: bytes.to_vec(),
                        init,
                        wall_clock_at_zero: segmenter.wall_clock_at_zero(),
                        ended: segmenter.is_ended(),
                    })
                });
            (refused, completed)
        };
        if let Some(completed) = completed {
            self.keep(completed);
        }
        refused
    }

    /// Writes a completed segment to the archive (started with the first).
    fn keep(&self, completed: Completed) {
        let mut archiving = self.archiving();
        if let (Archiving::To(dir, window), Some(init)) = (&*archiving, &completed.init) {
            *archiving = match Archive::create(dir.clone(), *window, init) {
                Ok(archive) => Archiving::On(archive),
                Err(e) => {
                    warn!(dir = %dir.display(), "cannot keep the broadcast to watch back: {e}");
                    Archiving::Off
                }
            };
        }
        if let Archiving::On(archive) = &mut *archiving {
            archive.keep(
                completed.segment,
                &completed.bytes,
                completed.wall_clock_at_zero,
            );
        }
        drop(archiving);
        // The last segment makes the VOD playlist whole: a new version of it.
        if completed.ended {
            self.changes.send_modify(|n| *n += 1);
        }
    }
}

/// A segment just completed, on its way to the archive.
struct Completed {
    segment: SegmentInfo,
    bytes: Vec<u8>,
    /// The init segment, for the archive's first.
    init: Option<Vec<u8>>,
    wall_clock_at_zero: Option<i64>,
    /// It is the stream's last.
    ended: bool,
}

/// Which output track feeds which rendition.
struct Routes {
    /// The video track of each rendition, in the renditions' order.
    video: Vec<u64>,
    audio: u64,
}

/// Where one ffmpeg child's output goes.
pub(super) struct Destination {
    pub renditions: Vec<Arc<Rendition>>,
    /// The wall clock at the output's time zero.
    pub wall_zero: SystemTime,
    pub config: SegmenterConfig,
    /// For a child that goes on after another: what is added to its times (ms) so that
    /// its output follows the previous one's. Its tracks must be the same.
    pub shift: Option<i64>,
}

/// The reading thread: fills the renditions from ffmpeg's output until it ends; where it
/// ended (ms, on the renditions' timeline), or `None` when it gave nothing to package.
pub(super) fn run(stdout: ChildStdout, to: Destination, shared: Arc<Shared>) -> Option<i64> {
    let renditions = &to.renditions;
    let mut blocks = BlockReader::new(BufReader::with_capacity(1 << 16, stdout));
    let mut payload = Vec::new();
    let mut routes = None;
    let shift = to.shift.unwrap_or(0);
    let mut end = 0;
    loop {
        let block = match blocks.next_frame(&mut payload) {
            Ok(Some(block)) => block,
            Ok(None) => break,
            Err(e) => {
                warn!("the HLS ladder's ffmpeg output ended badly: {e}");
                break;
            }
        };
        if routes.is_none() {
            let tracks = blocks.tracks().unwrap_or_default();
            let started = match to.shift {
                None => {
                    let since_zero = Duration::from_millis(block.time_ms.max(0) as u64);
                    let first = to.wall_zero.checked_add(since_zero).unwrap_or(to.wall_zero);
                    start(tracks, renditions, to.config, first)
                }
                Some(_) => go_on(tracks, renditions),
            };
            match started {
                Ok(started) => routes = Some(started),
                Err(e) => {
                    warn!("the HLS ladder cannot package ffmpeg's output: {e}");
                    return None;
                }
            }
        }
        let Some(routes) = &routes else { break };
        let ms = block.time_ms.saturating_add(shift);
        let time = ms.saturating_mul(TICKS_PER_MS);
        let mut refused = 0;
        if block.track == routes.audio {
            let frame = AudioFrame {
                pts: time,
                data: &payload,
            };
            for rendition in renditions {
                refused += u64::from(rendition.update(|s| s.push_audio(&frame)));
            }
            end = end.max(ms + AAC_FRAME_MS);
        } else if let Some(rendition) = routes
            .video
            .iter()
            .position(|t| *t == block.track)
            .and_then(|i| renditions.get(i))
        {
            let frame = VideoFrame {
                dts: time,
                composition_offset: 0,
                keyframe: block.keyframe,
                data: &payload,
            };
            refused += u64::from(rendition.update(|s| s.push_video(&frame)));
            end = end.max(ms + 1000 / i64::from(rendition.frame_rate.max(1)));
        }
        if refused > 0 {
            let before = shared.refused.fetch_add(refused, Ordering::Relaxed);
            if (before + refused).is_power_of_two() {
                warn!(
                    refused = before + refused,
                    "HLS segmenters refused frames of the ladder"
                );
            }
        }
    }
    routes.map(|_| end)
}

/// Ends the renditions' playlists: what they hold is published as a last part and segment.
pub(super) fn finish(renditions: &[Arc<Rendition>]) {
    for rendition in renditions {
        rendition.update(|s| {
            s.finish();
            Ok(())
        });
    }
}

/// The output's tracks: the H.264 ones (one per rung, in the rungs' order) and the AAC
/// one, checked against `renditions`.
fn tracks_of<'a>(
    tracks: &'a [Track],
    renditions: &[Arc<Rendition>],
) -> Result<(Vec<&'a Track>, &'a Track), String> {
    let video: Vec<&Track> = tracks
        .iter()
        .filter(|t| t.codec_id == "V_MPEG4/ISO/AVC")
        .collect();
    let audio = tracks
        .iter()
        .find(|t| t.codec_id == "A_AAC")
        .ok_or("no AAC track")?;
    if video.len() != renditions.len() {
        return Err(format!(
            "{} H.264 tracks for {} rungs",
            video.len(),
            renditions.len()
        ));
    }
    Ok((video, audio))
}

/// What a rendition's segments carry, from the output's tracks.
fn cmaf_tracks(video: &Track, sound: &AudioTrack, rendition: &Rendition) -> Result<Tracks, String> {
    let (width, height) = video.video.unwrap_or_else(|| rendition.size());
    let picture =
        VideoTrack::new(video.codec_private.clone(), width, height).map_err(|e| e.to_string())?;
    Ok(Tracks {
        video: Some(picture),
        audio: Some(sound.clone()),
    })
}

fn routes(video: &[&Track], audio: &Track) -> Routes {
    Routes {
        video: video.iter().map(|t| t.number).collect(),
        audio: audio.number,
    }
}

/// Gives each rendition its segmenter, from the output's `tracks` (the first block's
/// wall clock is `first`); the routes from tracks to renditions.
fn start(
    tracks: &[Track],
    renditions: &[Arc<Rendition>],
    config: SegmenterConfig,
    first: SystemTime,
) -> Result<Routes, String> {
    let (video, audio) = tracks_of(tracks, renditions)?;
    let sound = AudioTrack::new(audio.codec_private.clone()).map_err(|e| e.to_string())?;
    for (track, rendition) in video.iter().zip(renditions) {
        let tracks = cmaf_tracks(track, &sound, rendition)?;
        let segmenter = Segmenter::new(tracks, config, first).map_err(|e| e.to_string())?;
        *rendition.lock() = Some(segmenter);
        rendition.changes.send_modify(|n| *n += 1);
    }
    Ok(routes(&video, audio))
}

/// The routes of a later child's output into the renditions' segmenters, which its
/// tracks must match (players hold the init segments made from the first child's).
fn go_on(tracks: &[Track], renditions: &[Arc<Rendition>]) -> Result<Routes, String> {
    let (video, audio) = tracks_of(tracks, renditions)?;
    let sound = AudioTrack::new(audio.codec_private.clone()).map_err(|e| e.to_string())?;
    for (track, rendition) in video.iter().zip(renditions) {
        let tracks = cmaf_tracks(track, &sound, rendition)?;
        let same = rendition
            .lock()
            .as_ref()
            .is_some_and(|s| *s.tracks() == tracks);
        if !same {
            return Err(format!(
                "rung {} changed its parameter sets",
                rendition.rung().name
            ));
        }
    }
    Ok(routes(&video, audio))
}
