//! The thread that writes one recording's files. It takes the frames the media plane hands
//! over through a bounded queue and puts each track into its own file: video (VP8, VP9,
//! AV1) in WebM, audio in Ogg Opus. Writes go out every quarter second in whole frames or
//! pages, so a crash leaves every file playable up to its last batch; a graceful stop
//! writes the rest, the WebM duration and the last Ogg page.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use moim_egress::ogg::OggOpusWriter;
use moim_egress::webm::{Codec, TrackSpec, WebmWriter};
use moim_media::track::vp8_keyframe_size;
use moim_media::{EgressFrame, FrameCodec, TrackId};
use serde::{Deserialize, Serialize};
use tracing::warn;

/// How often pending bytes go to disk.
const WRITE_EVERY: Duration = Duration::from_millis(250);

/// What became of one track's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileReport {
    pub track: String,
    pub file: String,
    pub codec: String,
    /// From the recording's start to the file's first frame.
    pub offset_ms: u64,
    pub duration_ms: u64,
    pub frames: u64,
}

/// When a recording stops; frames that arrived later are left out.
pub type StopAt = Arc<Mutex<Option<Instant>>>;

/// Starts the writer thread; it ends once `stop` holds a time (or every sender is gone)
/// and returns a report per file.
pub fn spawn(
    dir: PathBuf,
    start: Instant,
    frames: Receiver<EgressFrame>,
    stop: StopAt,
) -> std::io::Result<JoinHandle<Vec<FileReport>>> {
    std::thread::Builder::new()
        .name("moim-recorder".into())
        .spawn(move || Recorder::new(dir, start).run(&frames, &stop))
}

struct Recorder {
    dir: PathBuf,
    start: Instant,
    files: HashMap<TrackId, TrackFile>,
}

/// One track's file.
struct TrackFile {
    name: String,
    file: File,
    container: Container,
    codec: &'static str,
    /// The first frame's media time; file times count from it.
    base: u64,
    offset_ms: u64,
    last_ms: u64,
    frames: u64,
    pending: Vec<u8>,
}

enum Container {
    Webm(WebmWriter),
    Ogg(OggOpusWriter),
}

impl Recorder {
    fn new(dir: PathBuf, start: Instant) -> Recorder {
        Recorder {
            dir,
            start,
            files: HashMap::new(),
        }
    }

    fn run(
        mut self,
        frames: &Receiver<EgressFrame>,
        stop: &Mutex<Option<Instant>>,
    ) -> Vec<FileReport> {
        let mut last_write = Instant::now();
        loop {
            match frames.recv_timeout(WRITE_EVERY) {
                Ok(frame) => self.frame(&frame),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if last_write.elapsed() >= WRITE_EVERY {
                self.write_pending();
                last_write = Instant::now();
            }
            let stop_at = *stop.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(stop_at) = stop_at {
                while let Ok(frame) = frames.try_recv() {
                    if frame.network_time <= stop_at {
                        self.frame(&frame);
                    }
                }
                break;
            }
        }
        self.finish()
    }

    fn frame(&mut self, frame: &EgressFrame) {
        if !self.files.contains_key(&frame.track) {
            match self.open(frame) {
                Ok(Some(file)) => {
                    self.files.insert(frame.track, file);
                }
                Ok(None) => return,
                Err(e) => {
                    warn!(track = %frame.track, "cannot create a recording file: {e}");
                    return;
                }
            }
        }
        let Some(file) = self.files.get_mut(&frame.track) else {
            return;
        };
        let since = frame.time.saturating_sub(file.base);
        let ms = since * 1000 / u64::from(frame.clock_rate.max(1));
        file.last_ms = file.last_ms.max(ms);
        file.frames += 1;
        match &mut file.container {
            Container::Webm(w) => {
                w.block(&mut file.pending, 1, ms as i64, frame.keyframe, &frame.data)
            }
            Container::Ogg(w) => {
                let at = since * 48_000 / u64::from(frame.clock_rate.max(1));
                w.packet(&mut file.pending, at, &frame.data);
            }
        }
    }

    /// Creates the file for a track on its first usable frame; `None` while waiting (a
    /// video track starts at a keyframe whose size is known) or for codecs not recorded.
    fn open(&self, frame: &EgressFrame) -> std::io::Result<Option<TrackFile>> {
        let (container, codec, ext, header) = match frame.codec {
            FrameCodec::Opus => {
                let (w, header) = OggOpusWriter::new(frame.track.0 as u32);
                (Container::Ogg(w), "opus", "ogg", header)
            }
            FrameCodec::Vp8 | FrameCodec::Vp9 | FrameCodec::Av1 => {
                let (codec, name) = match frame.codec {
                    FrameCodec::Vp8 => (Codec::Vp8, "vp8"),
                    FrameCodec::Vp9 => (Codec::Vp9, "vp9"),
                    _ => (Codec::Av1, "av1"),
                };
                if !frame.keyframe {
                    return Ok(None);
                }
                // VP9 and AV1 sizes are left to the decoder.
                let (width, height) = vp8_keyframe_size(&frame.data).unwrap_or((0, 0));
                let (w, header) = WebmWriter::new(&[TrackSpec {
                    codec,
                    width,
                    height,
                }]);
                (Container::Webm(w), name, "webm", header)
            }
            other => {
                warn!(track = %frame.track, "tracks in {other:?} are not recorded yet");
                return Ok(None);
            }
        };
        let name = format!("{}.{ext}", frame.track);
        let mut file = File::create(self.dir.join(&name))?;
        file.write_all(&header)?;
        let offset_ms = frame
            .network_time
            .saturating_duration_since(self.start)
            .as_millis() as u64;
        Ok(Some(TrackFile {
            name,
            file,
            container,
            codec,
            base: frame.time,
            offset_ms,
            last_ms: 0,
            frames: 0,
            pending: Vec::new(),
        }))
    }

    fn write_pending(&mut self) {
        for f in self.files.values_mut() {
            if let Container::Ogg(w) = &mut f.container {
                w.flush(&mut f.pending);
            }
            if f.pending.is_empty() {
                continue;
            }
            if let Err(e) = f.file.write_all(&f.pending) {
                warn!(file = %f.name, "recording write failed: {e}");
            }
            f.pending.clear();
        }
    }

    fn finish(mut self) -> Vec<FileReport> {
        let mut reports = Vec::new();
        for (track, mut f) in self.files.drain() {
            // The last frame lasts about as long as the ones before it.
            let duration_ms = f.last_ms + if f.codec == "opus" { 20 } else { 33 };
            let done = match &mut f.container {
                Container::Ogg(w) => {
                    w.finish(&mut f.pending);
                    f.file.write_all(&f.pending)
                }
                Container::Webm(w) => {
                    let (at, bytes) = w.duration_patch(duration_ms as f64);
                    f.file
                        .write_all(&f.pending)
                        .and_then(|()| f.file.seek(SeekFrom::Start(at)))
                        .and_then(|_| f.file.write_all(&bytes))
                }
            }
            .and_then(|()| f.file.sync_all());
            if let Err(e) = done {
                warn!(file = %f.name, "finishing a recording file failed: {e}");
            }
            reports.push(FileReport {
                track: track.to_string(),
                file: f.name,
                codec: f.codec.to_owned(),
                offset_ms: f.offset_ms,
                duration_ms,
                frames: f.frames,
            });
        }
        reports.sort_by_key(|r| r.offset_ms);
        reports
    }
}
