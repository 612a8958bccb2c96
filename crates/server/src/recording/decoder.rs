//! One video track of a composite recording, decoded: an `ffmpeg` child fed the track's
//! frames in Matroska, each block stamped with the frame's arrival (in ms since the
//! first), answering in Matroska too: pictures scaled into a tile (640×360 I420,
//! letterboxed) at the same times, read by a thread of its own into a short queue, from
//! which the compositor takes the picture due at an instant.
//!
//! A decoder is started as soon as its track is known to be recorded and waits for the
//! track's first keyframe, so that starting ffmpeg (a fraction of a second on a busy
//! machine) does not hold back the tile's first picture.

use std::collections::VecDeque;
use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use moim_egress::blocks::BlockReader;
use moim_egress::h264;
use moim_egress::webm::{Codec, WebmWriter};
use moim_media::{EgressFrame, TrackId};
use tracing::warn;

use crate::recording::frames::video_track;

/// What a decoder answers: every track's pictures at this size, 16:9.
pub const TILE_W: usize = 640;
pub const TILE_H: usize = 360;
/// The video height a composite asks of simulcast cameras.
pub const TILE_HEIGHT: u32 = TILE_H as u32;
pub const TILE_BYTES: usize = TILE_W * TILE_H * 3 / 2;

/// Decoded pictures a decoder holds at most (ahead of the canvas).
const MAX_PICTURES: usize = 6;
/// Frames in a decoder, at most (beyond, it is stuck and older ones are forgotten).
const MAX_IN_DECODER: usize = 64;
/// A decoder still working on a frame due this long ago is behind (starting up, or
/// short of CPU): its tile waits rather than show an old picture late.
const BEHIND: Duration = Duration::from_millis(100);

/// A decoder's pictures, oldest first, each with the arrival time of its frame.
#[derive(Default)]
pub struct Pictures {
    decoded: VecDeque<(Instant, Vec<u8>)>,
    /// Arrival times of the frames fed and not decoded yet.
    in_decoder: VecDeque<Instant>,
    /// Buffers of pictures shown and done with, for the next ones.
    spare: Vec<Vec<u8>>,
    /// A picture was shown: from then on a decoder behind keeps it rather than show
    /// older ones late (before, the first picture is better late than a black tile).
    shown: bool,
}

/// What a tile shows at an instant.
pub enum Due<'a> {
    /// The newest picture whose frame had arrived by then.
    Picture(&'a [u8]),
    /// No frame had arrived by then.
    Nothing,
    /// The decoder has not caught up: keep what the tile shows.
    Behind,
}

impl Pictures {
    /// What is due at `at` (older pictures are let go).
    pub fn at(&mut self, at: Instant) -> Due<'_> {
        if self.shown && self.in_decoder.front().is_some_and(|t| *t + BEHIND <= at) {
            return Due::Behind;
        }
        while self.decoded.len() >= 2 && self.decoded[1].0 <= at {
            let (_, old) = self.decoded.pop_front().expect("two pictures");
            self.spare.push(old);
        }
        match self.decoded.front() {
            Some((arrived, data)) if *arrived <= at => {
                self.shown = true;
                Due::Picture(data)
            }
            _ => Due::Nothing,
        }
    }

    /// Adds a decoded picture; returns a buffer for the next.
    fn push(&mut self, arrived: Instant, data: Vec<u8>) -> Vec<u8> {
        // Its frame and any before it (which gave no picture) are out of the decoder.
        while self.in_decoder.front().is_some_and(|t| *t <= arrived) {
            self.in_decoder.pop_front();
        }
        self.decoded.push_back((arrived, data));
        if self.decoded.len() > MAX_PICTURES
            && let Some((_, old)) = self.decoded.pop_front()
        {
            self.spare.push(old);
        }
        self.spare.pop().unwrap_or_else(|| vec![0; TILE_BYTES])
    }
}

/// One track's `ffmpeg` decoder: frames in (Matroska on its input, each block at its
/// frame's arrival, in ms since the first), tile pictures out (Matroska on its output,
/// raw I420 at the same times, read by a thread of its own). Killed when dropped.
pub struct Decoder {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The input's writer, once the first keyframe told the codec ([`Decoder::begin`]).
    writer: Option<WebmWriter>,
    h264: bool,
    /// The first frame's arrival: time zero of the stream; the reader thread reads it too.
    epoch: Arc<OnceLock<Instant>>,
    last_ms: i64,
    out: Vec<u8>,
    pub pictures: Arc<Mutex<Pictures>>,
    reader: Option<JoinHandle<()>>,
    /// The file ffmpeg reads the participant's name from, removed with the decoder.
    label: Option<PathBuf>,
}

impl Decoder {
    /// Starts an ffmpeg for a track whose tile carries `name` (none if empty); it decodes
    /// once [`Decoder::begin`] gave it the first keyframe. `track` names its label file.
    pub fn spawn(track: TrackId, name: &str) -> std::io::Result<Decoder> {
        let mut filter = format!(
            "scale={TILE_W}:{TILE_H}:force_original_aspect_ratio=decrease,\
             pad={TILE_W}:{TILE_H}:-1:-1:black"
        );
        // The name goes through a file in the temporary folder (ffmpeg's working
        // directory), so no name needs escaping for the filter, and is drawn as it is
        // (no `%{…}` expansion) in the corner of the tile.
        let label = (!name.trim().is_empty())
            .then(|| {
                // A name nobody can guess, created new: never someone else's file or link.
                let file = format!("moim-tile-{track}-{:016x}.txt", rand::random::<u64>());
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(std::env::temp_dir().join(&file))?;
                out.write_all(name.trim().as_bytes())?;
                filter.push_str(&format!(
                    ",drawtext=textfile={file}:expansion=none:fontcolor=white:fontsize=24:\
                     box=1:boxcolor=black@0.55:boxborderw=8:x=16:y=h-th-20"
                ));
                Ok::<_, std::io::Error>(std::env::temp_dir().join(file))
            })
            .transpose()?;
        filter.push_str(",format=yuv420p");
        // Little held back: no probing of the input beyond its header (which says it
        // all), one thread (frame threading delays pictures), low delay (no reordering
        // wait), every picture written out as it comes. (The Matroska muxer still writes
        // a picture once the next one starts; a tile whose decoder looks behind keeps
        // its picture, see `Pictures::at`.)
        let mut child = Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-v",
                "fatal",
                "-threads",
                "1",
                "-flags",
                "low_delay",
                "-probesize",
                "32",
                "-analyzeduration",
                "0",
            ])
            .args(["-f", "matroska", "-i", "pipe:0", "-vf", &filter])
            .args([
                "-fps_mode",
                "passthrough",
                "-c:v",
                "rawvideo",
                "-f",
                "matroska",
            ])
            .args(["-cluster_time_limit", "0", "-flush_packets", "1", "pipe:1"])
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("ffmpeg has no output"))?;
        let pictures = Arc::new(Mutex::new(Pictures::default()));
        let shared = pictures.clone();
        let epoch = Arc::new(OnceLock::new());
        let stream_start: Arc<OnceLock<Instant>> = epoch.clone();
        let reader = std::thread::Builder::new()
            .name("moim-decoded".into())
            .spawn(move || {
                let mut blocks = BlockReader::new(BufReader::with_capacity(1 << 16, stdout));
                let mut buf = vec![0; TILE_BYTES];
                while let Ok(Some(ms)) = blocks.next_block(&mut buf) {
                    // Pictures come only after `begin` set the epoch.
                    let Some(epoch) = stream_start.get() else {
                        continue;
                    };
                    if buf.len() != TILE_BYTES {
                        continue;
                    }
                    let arrived = *epoch + Duration::from_millis(ms.max(0) as u64);
                    buf = shared
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(arrived, buf);
                }
            })?;
        Ok(Decoder {
            child,
            stdin,
            writer: None,
            h264: false,
            epoch,
            last_ms: -1,
            out: Vec::new(),
            pictures,
            reader: Some(reader),
            label,
        })
    }

    /// Starts the stream with its first frame (a keyframe, which tells the codec), arrived
    /// at `epoch`: time zero of the stream. Feed it (and the rest) with [`Decoder::feed`].
    pub fn begin(&mut self, first: &EgressFrame, epoch: Instant) -> std::io::Result<()> {
        let (spec, _) = video_track(first)?;
        let (writer, header) = WebmWriter::new(std::slice::from_ref(&spec));
        self.h264 = spec.codec == Codec::H264;
        self.writer = Some(writer);
        self.out = header;
        let _ = self.epoch.set(epoch);
        Ok(())
    }

    /// Passes a frame on to ffmpeg right away, stamped with its arrival (nothing before
    /// [`Decoder::begin`]).
    pub fn feed(&mut self, frame: &EgressFrame, arrival: Instant) {
        let (Some(writer), Some(&epoch)) = (&mut self.writer, self.epoch.get()) else {
            return;
        };
        let since = arrival.saturating_duration_since(epoch).as_millis() as i64;
        let ms = since.max(self.last_ms + 1);
        self.last_ms = ms;
        {
            let mut pictures = self.pictures.lock().unwrap_or_else(|e| e.into_inner());
            if pictures.in_decoder.len() >= MAX_IN_DECODER {
                pictures.in_decoder.pop_front();
            }
            pictures
                .in_decoder
                .push_back(epoch + Duration::from_millis(ms as u64));
        }
        if self.h264 {
            let mut data = Vec::with_capacity(frame.data.len());
            h264::length_prefixed(&frame.data, &mut data);
            writer.block(&mut self.out, 1, ms, frame.keyframe, &data);
        } else {
            writer.block(&mut self.out, 1, ms, frame.keyframe, &frame.data);
        }
        if let Some(stdin) = &mut self.stdin
            && let Err(e) = stdin.write_all(&self.out)
        {
            warn!("a composite decoder (ffmpeg) stopped taking input: {e}");
            self.stdin = None;
        }
        self.out.clear();
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        if let Some(label) = self.label.take() {
            let _ = std::fs::remove_file(label);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(p: &mut Pictures, arrived: Instant) {
        let buf = vec![0; TILE_BYTES];
        p.push(arrived, buf);
    }

    #[test]
    fn a_first_picture_shows_even_from_a_decoder_still_catching_up() {
        let t0 = Instant::now();
        let mut p = Pictures::default();
        // Started late, the decoder still holds a backlog of frames long due.
        for i in 0..30 {
            p.in_decoder.push_back(t0 + Duration::from_millis(i * 33));
        }
        let now = t0 + Duration::from_secs(1);
        assert!(matches!(p.at(now), Due::Nothing), "nothing decoded yet");
        picture(&mut p, t0);
        assert!(
            matches!(p.at(now), Due::Picture(_)),
            "the first picture, late"
        );
        picture(&mut p, t0 + Duration::from_millis(33));
        assert!(
            matches!(p.at(now), Due::Behind),
            "then it keeps that picture until the decoder catches up"
        );
    }

    #[test]
    fn a_decoder_keeping_up_shows_the_newest_picture_due() {
        let t0 = Instant::now();
        let mut p = Pictures::default();
        for i in 0..3 {
            let at = t0 + Duration::from_millis(i * 40);
            p.in_decoder.push_back(at);
            picture(&mut p, at);
        }
        assert!(matches!(
            p.at(t0 + Duration::from_millis(50)),
            Due::Picture(_)
        ));
        assert_eq!(p.decoded.len(), 2, "at 50 ms the picture of 0 ms is let go");
        assert!(matches!(
            p.at(t0 + Duration::from_millis(90)),
            Due::Picture(_)
        ));
        assert_eq!(
            p.decoded.len(),
            1,
            "at 90 ms only the picture of 80 ms is left"
        );
        assert!(matches!(p.at(t0 - Duration::from_millis(1)), Due::Nothing));
    }
}
