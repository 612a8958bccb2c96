//! The audio-only recording: every audio track of the room mixed into one Opus file by an
//! `ffmpeg` child process. Moim feeds ffmpeg one Matroska stream on its standard input with
//! a fixed number of Opus tracks ("slots"), each a track of the room while it lasts, and
//! keeps every slot flowing in real time: each 20 ms a slot gets its track's next packet
//! or a silent one. ffmpeg decodes the slots, mixes them (`amix`) and encodes the result
//! into Ogg Opus, writing as it goes; if Moim dies, ffmpeg sees its input end and finishes
//! the file.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use moim_egress::ogg::SILENCE;
use moim_egress::webm::{Codec, TrackSpec, WebmWriter};
use moim_media::{EgressFrame, FrameCodec, TrackId};
use tracing::warn;

use crate::recorder::FileReport;

/// Audio tracks mixed at once; more wait for a free slot.
pub const SLOTS: usize = 8;
const TICK: Duration = Duration::from_millis(20);
/// Packets a slot holds back against jitter before it plays, and at most.
const PREBUFFER: usize = 2;
const MAX_QUEUE: usize = 10;
/// A slot whose track sent nothing this long is free for another track.
const IDLE: Duration = Duration::from_secs(2);
const FILE: &str = "mix.ogg";

struct Slot {
    track: Option<TrackId>,
    queue: VecDeque<Vec<u8>>,
    playing: bool,
    last_packet: Instant,
}

/// The running mix.
pub struct Mixer {
    child: Child,
    stdin: Option<ChildStdin>,
    writer: WebmWriter,
    slots: Vec<Slot>,
    by_track: HashMap<TrackId, usize>,
    start: Instant,
    ticks: u64,
    frames: u64,
    out: Vec<u8>,
}

impl Mixer {
    /// Starts ffmpeg writing `mix.ogg` in `dir`.
    pub fn start(dir: &Path) -> std::io::Result<Mixer> {
        let inputs: String = (0..SLOTS).map(|i| format!("[0:a:{i}]")).collect();
        let filter = format!("{inputs}amix=inputs={SLOTS}:normalize=0:duration=longest");
        let mut child = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-f", "matroska", "-i", "pipe:0"])
            .args(["-filter_complex", &filter])
            .args(["-c:a", "libopus", "-b:a", "96k", "-f", "ogg", "-y"])
            .arg(dir.join(FILE))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let opus = TrackSpec {
            codec: Codec::Opus,
            width: 0,
            height: 0,
            private: Vec::new(),
        };
        let specs = vec![opus; SLOTS];
        let (writer, header) = WebmWriter::new(&specs);
        let now = Instant::now();
        let mut mixer = Mixer {
            child,
            stdin,
            writer,
            slots: (0..SLOTS)
                .map(|_| Slot {
                    track: None,
                    queue: VecDeque::new(),
                    playing: false,
                    last_packet: now,
                })
                .collect(),
            by_track: HashMap::new(),
            start: now,
            ticks: 0,
            frames: 0,
            out: header,
        };
        mixer.send();
        Ok(mixer)
    }

    /// Queues an audio frame on its track's slot (taking a free one for a new track).
    pub fn frame(&mut self, frame: &EgressFrame) {
        if frame.codec != FrameCodec::Opus {
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
                self.slots[i].queue.clear();
                self.slots[i].playing = false;
                self.by_track.insert(frame.track, i);
                i
            }
        };
        let s = &mut self.slots[slot];
        s.last_packet = now;
        if s.queue.len() >= MAX_QUEUE {
            s.queue.pop_front();
        }
        s.queue.push_back(frame.data.to_vec());
        self.frames += 1;
    }

    /// How long until the next 20 ms step is due.
    pub fn until_next(&self) -> Duration {
        let next = self.start + TICK * (self.ticks as u32 + 1);
        next.saturating_duration_since(Instant::now())
    }

    /// Feeds ffmpeg every 20 ms step due by now: a packet (or silence) for each slot.
    pub fn tick(&mut self) {
        let now = Instant::now();
        while self.start + TICK * (self.ticks as u32 + 1) <= now {
            let ms = (self.ticks * 20) as i64;
            for (i, s) in self.slots.iter_mut().enumerate() {
                if !s.playing && s.queue.len() >= PREBUFFER {
                    s.playing = true;
                }
                let packet = if s.playing { s.queue.pop_front() } else { None };
                if packet.is_none() {
                    s.playing = false;
                }
                let data = packet.as_deref().unwrap_or(&SILENCE);
                self.writer
                    .block(&mut self.out, i as u64 + 1, ms, true, data);
            }
            self.ticks += 1;
        }
        self.send();
    }

    fn send(&mut self) {
        if self.out.is_empty() {
            return;
        }
        if let Some(stdin) = &mut self.stdin
            && let Err(e) = stdin.write_all(&self.out)
        {
            warn!("the audio mixer (ffmpeg) stopped taking input: {e}");
            self.stdin = None;
        }
        self.out.clear();
    }

    /// Ends the input and waits for ffmpeg to finish the file.
    pub fn finish(mut self, started: Instant) -> FileReport {
        self.tick();
        drop(self.stdin.take());
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
        FileReport {
            file: FILE.into(),
            codec: "opus".into(),
            offset_ms: self.start.saturating_duration_since(started).as_millis() as u64,
            duration_ms: self.ticks * 20,
            frames: self.frames,
        }
    }
}
