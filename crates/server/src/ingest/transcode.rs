//! What an encoder sends that WebRTC viewers cannot play is turned into what they can, by an
//! `ffmpeg` child fed the encoder's own tags as an FLV stream (so their times are kept):
//!
//! - audio (AAC, or anything ffmpeg reads in FLV) becomes Opus, read back from Matroska;
//! - H.264 with B-frames is encoded again without them (main profile), read back as FLV.
//!
//! Two threads per transcoder: one feeds ffmpeg from a bounded queue (a full queue drops
//! rather than holding up the encoder's connection), one reads its output.

use std::io::{BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use bytes::Bytes;
use moim_egress::blocks::BlockReader;
use tokio::sync::mpsc;
use tracing::warn;

use crate::ingest::flv::{self, VideoIn};
use crate::ingest::publisher::Outgoing;

/// Tags waiting for ffmpeg: about two seconds of AAC, or a few seconds of video.
const QUEUE: usize = 128;

/// One `ffmpeg` child turning FLV tags into frames for the room; dropping it ends the child.
#[derive(Debug)]
pub struct Transcoder {
    tags: SyncSender<Vec<u8>>,
    child: Child,
    what: &'static str,
    /// Tags dropped because ffmpeg was behind.
    pub dropped: u64,
}

impl Transcoder {
    /// AAC → Opus at 48 kHz, stereo, 128 kbit/s, 20 ms frames.
    pub fn audio(out: mpsc::Sender<Outgoing>) -> std::io::Result<Transcoder> {
        let args = [
            "-vn",
            "-c:a",
            "libopus",
            "-b:a",
            "128k",
            "-ar",
            "48000",
            "-ac",
            "2",
            "-application",
            "audio",
            "-frame_duration",
            "20",
            "-f",
            "matroska",
            "-cluster_time_limit",
            "0",
        ];
        Transcoder::start("audio", flv::HAS_AUDIO, &args, move |stdout| {
            let mut blocks = BlockReader::new(BufReader::with_capacity(1 << 14, stdout));
            let mut payload = Vec::new();
            while let Ok(Some(ms)) = blocks.next_block(&mut payload) {
                let data = std::mem::take(&mut payload);
                // Read on once the stream is gone, until the child is ended: it must not
                // die of a closed pipe.
                let _ = out.blocking_send(Outgoing::Audio { ms, data });
            }
        })
    }

    /// H.264 with B-frames → H.264 main profile without them, at the source's frame times.
    pub fn video(out: mpsc::Sender<Outgoing>) -> std::io::Result<Transcoder> {
        let args = [
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-profile:v",
            "main",
            "-bf",
            "0",
            "-crf",
            "21",
            "-maxrate",
            "8M",
            "-bufsize",
            "4M",
            "-force_key_frames",
            "source",
            "-fps_mode",
            "passthrough",
            "-f",
            "flv",
            "-flvflags",
            "no_duration_filesize",
        ];
        Transcoder::start("video", flv::HAS_VIDEO, &args, move |stdout| {
            let mut tags = flv::TagReader::new(BufReader::with_capacity(1 << 16, stdout));
            let mut video = VideoIn::default();
            while let Ok(Some((kind, timestamp, data))) = tags.next_tag() {
                if kind != flv::VIDEO {
                    continue;
                }
                let Ok(Some(picture)) = video.tag(timestamp, Bytes::from(data)) else {
                    continue;
                };
                let frame = Outgoing::Video {
                    ms: picture.ms,
                    profile: video.profile().unwrap_or(77),
                    data: picture.data,
                };
                let _ = out.blocking_send(frame);
            }
        })
    }

    fn start(
        what: &'static str,
        streams: u8,
        output: &[&str],
        read: impl FnOnce(ChildStdout) + Send + 'static,
    ) -> std::io::Result<Transcoder> {
        let mut child = Command::new("ffmpeg")
            // No `-fflags nobuffer`: it throws away what was read while probing, the first
            // keyframe among it.
            .args(["-nostdin", "-v", "error"])
            .args(["-probesize", "32", "-analyzeduration", "0"])
            .args(["-f", "flv", "-i", "pipe:0", "-copyts"])
            .args(output)
            .args(["-flush_packets", "1", "pipe:1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("ffmpeg has no input"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("ffmpeg has no output"))?;
        let (tags, queued) = sync_channel::<Vec<u8>>(QUEUE);
        std::thread::Builder::new()
            .name(format!("moim-{what}-in"))
            .spawn(move || {
                if stdin.write_all(&flv::file_header(streams)).is_err() {
                    return;
                }
                while let Ok(tag) = queued.recv() {
                    if stdin.write_all(&tag).is_err() {
                        return;
                    }
                }
            })?;
        std::thread::Builder::new()
            .name(format!("moim-{what}-out"))
            .spawn(move || read(stdout))?;
        Ok(Transcoder {
            tags,
            child,
            what,
            dropped: 0,
        })
    }

    /// Queues one tag of `kind` ([`flv::AUDIO`] or [`flv::VIDEO`]) sent at `timestamp` ms.
    pub fn tag(&mut self, kind: u8, timestamp: u32, data: &[u8]) {
        match self.tags.try_send(flv::tag(kind, timestamp, data)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    warn!(
                        dropped = self.dropped,
                        "{} transcoder is behind; dropping", self.what
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl Drop for Transcoder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
