//! The ladder of a meeting's composite grid: the composite recording's mix (every camera
//! in a grid on a 1280×720 canvas, every microphone mixed, `recording::mixer`) made by an
//! `ffmpeg` child that encodes the rungs instead of writing a file, in the same command:
//! the grid is drawn once and encoded once per rung. Its output is read back as a
//! participant source's is (`output.rs`).
//!
//! The mix runs in real time from the start (a black canvas in silence until someone's
//! camera sends a keyframe), so the rungs are there at once. Feeding never blocks the
//! caller: frames wait in a bounded queue for the thread that mixes.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use moim_media::EgressFrame;

use super::output;
use super::{LadderConfig, Renditions, Shared, input, plan};
use crate::recording::compositor::{self, Compositor};
use crate::recording::mixer::{MixOutput, Mixer};
use crate::recording::recorder::Routes;

/// The grid's pictures per second: the mixer draws one every 40 ms.
const GRID_FRAME_RATE: u32 = 25;

/// Frames waiting for the mixing thread at most: about two seconds of nine cameras and
/// their microphones.
const QUEUE: usize = 1024;

/// A running grid ladder: feed it the frames of every tapped track (each routed in
/// `routes` to its participant, as a composite recording's are); read its renditions
/// through [`GridLadder::renditions`].
pub struct GridLadder {
    queue: Option<SyncSender<EgressFrame>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl GridLadder {
    /// Starts the mix and its encoder, the thread mixing in real time and the one reading
    /// the rungs back.
    pub fn start(config: LadderConfig, routes: Routes) -> std::io::Result<GridLadder> {
        let config = LadderConfig {
            frame_rate: GRID_FRAME_RATE,
            ..config
        };
        let canvas = (compositor::WIDTH as u32, compositor::HEIGHT as u32);
        let encodings = plan(&config.rungs, Some(canvas));
        let (graph, args) = input::encoding(
            &encodings,
            &config,
            "[0:v:0]",
            "[mix]",
            input::Keyframes::default(),
        );
        let mut mixer = Mixer::start(
            MixOutput::Stream { graph, args },
            Some(Compositor::new(routes)),
        )?;
        let stdout = mixer
            .take_output()
            .ok_or_else(|| std::io::Error::other("the grid's ffmpeg has no output"))?;
        let renditions = config.renditions(&encodings);
        let shared = Arc::new(Shared {
            list: OnceLock::from(renditions.clone()),
            fed: Default::default(),
            dropped: Default::default(),
            refused: Default::default(),
        });
        let (wall_zero, started) = (SystemTime::now(), Instant::now());
        let reading = shared.clone();
        let to = output::Destination {
            renditions: renditions.clone(),
            wall_zero,
            config: config.segmenter,
            shift: None,
        };
        let reader = std::thread::Builder::new()
            .name("moim-ladder-out".into())
            .spawn(move || {
                output::run(stdout, to, reading);
                output::finish(&renditions);
            })?;
        let (queue, frames) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("moim-grid".into())
            .spawn(move || {
                mix(&frames, &mut mixer);
                // ffmpeg sees its input end, finishes and closes its output: the reader
                // then ends the renditions' playlists.
                mixer.finish(started, Instant::now());
                let _ = reader.join();
            })?;
        Ok(GridLadder {
            queue: Some(queue),
            thread: Some(thread),
            shared,
        })
    }

    /// Queues a frame of a tapped track for the mix without waiting; a full queue drops
    /// it (counted).
    pub fn feed(&mut self, frame: &EgressFrame) {
        self.shared.offer(&mut self.queue, frame.clone());
    }

    /// Ends the stream: the mix stops, ffmpeg finishes, every rung publishes its last
    /// part and ends its playlist. Frames fed after are ignored.
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

impl Drop for GridLadder {
    fn drop(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Mixes every 20 ms step in real time until the queue closes.
fn mix(frames: &Receiver<EgressFrame>, mixer: &mut Mixer) {
    loop {
        match frames.recv_timeout(mixer.until_next()) {
            Ok(frame) => mixer.frame(&frame),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        mixer.tick(Instant::now());
    }
}
