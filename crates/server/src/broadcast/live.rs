//! A broadcast running in a room: taps on its source's camera and microphone (the way a
//! recording taps tracks), a thread that feeds their frames to the quality ladder, and the
//! playback viewers reach. The source is a participant named by identity; it may join,
//! leave and come back while the broadcast runs: its tracks are tapped whenever they are
//! published. The source `composite` is the meeting's grid: every track of everyone in
//! the room is tapped, as a composite recording taps them, and feeds a [`GridLadder`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use moim_media::egress::TALLEST;
use moim_media::{Command, EgressFrame, EgressSender, MediaPlane, ParticipantId, Tap, TrackId};
use moim_proto::signal::{BroadcastInfo, TrackKind};
use tracing::info;

use crate::broadcast::ladder::{GridLadder, Ladder, LadderConfig, Renditions};
use crate::broadcast::playback::Playback;
use crate::broadcast::restream::{Restream, RestreamStatus};
use crate::recording::decoder::TILE_HEIGHT;
use crate::recording::recorder::{Route, Routes};
use crate::room::Room;
use crate::room::participant::Participant;

/// The source that stands for the meeting's composite grid.
pub const COMPOSITE: &str = "composite";

/// Frames waiting for the ladder's thread: about two seconds of a 30 fps video and its
/// sound (the ladder has its own queue behind this one).
const QUEUE_FRAMES: usize = 160;

/// How long a stopped broadcast's ladder gets to publish what ffmpeg still holds.
const FINISH_WAIT: Duration = Duration::from_secs(5);

/// Ladders' threads still running (each ends its ffmpeg before it ends), so that a
/// server shutting down waits for them.
static FEEDING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

/// Counts a ladder's thread while it lives.
struct Feeding;

impl Feeding {
    fn enter() -> Feeding {
        *FEEDING.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Feeding
    }
}

impl Drop for Feeding {
    fn drop(&mut self) {
        *FEEDING.0.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        FEEDING.1.notify_all();
    }
}

/// Waits up to `within` for every stopped broadcast's ladder to finish and end its
/// ffmpeg; how many were still running then.
pub fn wait_for_ladders(within: Duration) -> usize {
    let running = FEEDING.0.lock().unwrap_or_else(|e| e.into_inner());
    let (left, _) = FEEDING
        .1
        .wait_timeout_while(running, within, |n| *n > 0)
        .unwrap_or_else(|e| e.into_inner());
    *left
}

/// A running broadcast.
pub struct Broadcast {
    /// What the room is told about it.
    pub info: BroadcastInfo,
    sink: EgressSender,
    stop: Arc<AtomicBool>,
    /// The tracks tapped: the source's first video and first audio, or for the grid
    /// every track in the room.
    tapped: Vec<(ParticipantId, TrackId, TrackKind)>,
    /// The grid's tracks and whose they are (a composite broadcast only).
    grid: Option<Routes>,
    /// Since when the source, tapped before, has had no track tapped (never for the grid,
    /// which shows black while no one sends).
    gone_since: Option<Instant>,
    playback: Arc<Playback>,
    restream: Option<Restream>,
}

impl std::fmt::Debug for Broadcast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcast")
            .field("info", &self.info)
            .finish()
    }
}

impl Broadcast {
    /// Starts the ladder's thread with `ladder`'s rungs (for a participant, ffmpeg starts
    /// at the source's first keyframe; the grid starts at once).
    pub fn start(info: BroadcastInfo, ladder: LadderConfig) -> std::io::Result<Broadcast> {
        let (encoder, grid) = if info.source == COMPOSITE {
            let routes = Routes::default();
            let ladder = GridLadder::start(ladder, routes.clone())?;
            (Encoder::Grid(ladder), Some(routes))
        } else {
            (Encoder::Source(Ladder::start(ladder)?), None)
        };
        let playback = Arc::new(Playback::new(info.clone(), encoder.renditions()));
        let (sink, frames) = sync_channel(QUEUE_FRAMES);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let feeding = Feeding::enter();
        std::thread::Builder::new()
            .name("moim-broadcast".into())
            .spawn(move || {
                feed(frames, encoder, &stopping);
                drop(feeding);
            })?;
        Ok(Broadcast {
            info,
            sink,
            stop,
            tapped: Vec::new(),
            grid,
            gone_since: None,
            playback,
            restream: None,
        })
    }

    /// Restreams it to `dest`, reading its rungs at `{hls_folder}{rung}/index.m3u8`.
    pub fn restream_to(&mut self, hls_folder: String, dest: String) -> std::io::Result<()> {
        let renditions = self.playback.renditions().clone();
        self.restream = Some(Restream::start(renditions, hls_folder, dest)?);
        Ok(())
    }

    /// Where its restream stands, if it has one.
    pub fn restream(&self) -> Option<RestreamStatus> {
        self.restream.as_ref().map(Restream::status)
    }

    /// What viewers reach.
    pub fn playback(&self) -> &Arc<Playback> {
        &self.playback
    }

    /// Taps the source's tracks, if the source is in `room` now (for the grid, everyone's).
    pub fn attach(&mut self, media: &MediaPlane, room: &Room) {
        for p in room.roster().iter() {
            for track in &p.tracks {
                if let Some(id) = TrackId::parse(&track.sid) {
                    self.track_published(media, p, id, track.kind);
                }
            }
        }
    }

    /// Taps a new track of `p` if `p` is the source and the broadcast has no track of
    /// that kind yet; for the grid, any track of anyone but hidden viewers.
    pub fn track_published(
        &mut self,
        media: &MediaPlane,
        p: &Participant,
        track: TrackId,
        kind: TrackKind,
    ) {
        if p.hidden {
            return;
        }
        let height = match &self.grid {
            Some(routes) => {
                routes.lock().unwrap_or_else(|e| e.into_inner()).insert(
                    track,
                    Route {
                        stem: p.id.to_string(),
                        name: p.name.clone(),
                        video: kind == TrackKind::Video,
                    },
                );
                // A tile's height of a simulcast camera is enough, and cheaper to decode.
                TILE_HEIGHT
            }
            None if p.identity != self.info.source => return,
            None if self.tapped.iter().any(|(_, _, k)| *k == kind) => return,
            None => TALLEST,
        };
        self.tapped.push((p.id, track, kind));
        self.gone_since = None;
        let _ = media.send(Command::Tap {
            participant: p.id,
            track,
            tap: Tap::Broadcast,
            sink: Some(self.sink.clone()),
            height,
        });
    }

    /// Forgets a tapped track that ended.
    pub fn track_unpublished(&mut self, track: TrackId) {
        self.forget(|(_, t)| t == track);
    }

    /// Forgets the tracks of a participant who left.
    pub fn left(&mut self, participant: ParticipantId) {
        self.forget(|(p, _)| p == participant);
    }

    fn forget(&mut self, which: impl Fn((ParticipantId, TrackId)) -> bool) {
        let had = !self.tapped.is_empty();
        let mut gone = Vec::new();
        self.tapped.retain(|(p, t, _)| {
            let forget = which((*p, *t));
            if forget {
                gone.push(*t);
            }
            !forget
        });
        if let Some(routes) = &self.grid {
            let mut routes = routes.lock().unwrap_or_else(|e| e.into_inner());
            for track in gone {
                routes.remove(&track);
            }
        } else if had && self.tapped.is_empty() {
            self.gone_since = Some(Instant::now());
        }
    }

    /// Whether its source, tapped before, has had no track tapped for `grace` at `now`
    /// (the players meanwhile see its last picture, in silence).
    pub fn source_gone_for(&self, grace: Duration, now: Instant) -> bool {
        self.gone_since
            .is_some_and(|t| now.saturating_duration_since(t) >= grace)
    }

    /// Stops it: the taps go, the ladder publishes what it holds and its playlists end;
    /// viewers can still watch it back. Never waits.
    pub fn stop(mut self, media: &MediaPlane) {
        for (participant, track, _) in std::mem::take(&mut self.tapped) {
            let _ = media.send(Command::Tap {
                participant,
                track,
                tap: Tap::Broadcast,
                sink: None,
                height: TALLEST,
            });
        }
        self.end();
    }

    /// Ends it without untapping (its room and source are gone).
    pub fn end(self) {
        if let Some(restream) = &self.restream {
            restream.stop();
        }
        self.stop.store(true, Ordering::Relaxed);
        self.playback.end();
        info!(broadcast = %self.info.id, "broadcast stopped");
    }
}

/// What makes the rungs of a broadcast.
enum Encoder {
    /// One participant's camera and microphone.
    Source(Ladder),
    /// The meeting's composite grid.
    Grid(GridLadder),
}

impl Encoder {
    fn feed(&mut self, frame: &EgressFrame) {
        match self {
            Encoder::Source(ladder) => ladder.feed(frame),
            Encoder::Grid(ladder) => ladder.feed(frame),
        }
    }

    fn finish(&mut self) {
        match self {
            Encoder::Source(ladder) => ladder.finish(),
            Encoder::Grid(ladder) => ladder.finish(),
        }
    }

    fn renditions(&self) -> Renditions {
        match self {
            Encoder::Source(ladder) => ladder.renditions(),
            Encoder::Grid(ladder) => ladder.renditions(),
        }
    }
}

/// The ladder's thread: feeds it every frame until the broadcast stops, then lets it
/// finish.
fn feed(frames: Receiver<EgressFrame>, mut encoder: Encoder, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match frames.recv_timeout(Duration::from_millis(100)) {
            Ok(frame) => encoder.feed(&frame),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    encoder.finish();
    let renditions = encoder.renditions();
    let deadline = Instant::now() + FINISH_WAIT;
    while !renditions.ended() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}
