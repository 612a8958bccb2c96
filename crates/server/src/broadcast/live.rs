//! A broadcast running in a room: taps on its source's camera and microphone (the way a
//! recording taps tracks), a thread that feeds their frames to the quality ladder, and the
//! playback viewers reach. The source is a participant named by identity; it may join,
//! leave and come back while the broadcast runs: its tracks are tapped whenever they are
//! published.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use moim_media::egress::TALLEST;
use moim_media::{Command, EgressFrame, EgressSender, MediaPlane, ParticipantId, Tap, TrackId};
use moim_proto::signal::{BroadcastInfo, TrackKind};
use tracing::info;

use crate::broadcast::ladder::{Ladder, LadderConfig};
use crate::broadcast::playback::Playback;
use crate::broadcast::restream::{Restream, RestreamStatus};
use crate::room::Room;
use crate::room::participant::Participant;

/// Frames waiting for the ladder's thread: about two seconds of a 30 fps video and its
/// sound (the ladder has its own queue behind this one).
const QUEUE_FRAMES: usize = 160;

/// How long a stopped broadcast's ladder gets to publish what ffmpeg still holds.
const FINISH_WAIT: Duration = Duration::from_secs(5);

/// A running broadcast.
pub struct Broadcast {
    /// What the room is told about it.
    pub info: BroadcastInfo,
    sink: EgressSender,
    stop: Arc<AtomicBool>,
    /// The source's tapped tracks: the first video and the first audio it publishes.
    video: Option<(ParticipantId, TrackId)>,
    audio: Option<(ParticipantId, TrackId)>,
    /// Since when the source, tapped before, has had no track tapped.
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
    /// Starts the ladder's thread (ffmpeg starts at the source's first keyframe).
    pub fn start(info: BroadcastInfo) -> std::io::Result<Broadcast> {
        let ladder = Ladder::start(LadderConfig::default())?;
        let playback = Arc::new(Playback::new(info.clone(), ladder.renditions()));
        let (sink, frames) = sync_channel(QUEUE_FRAMES);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::Builder::new()
            .name("moim-broadcast".into())
            .spawn(move || feed(frames, ladder, &stopping))?;
        Ok(Broadcast {
            info,
            sink,
            stop,
            video: None,
            audio: None,
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

    /// Taps the source's tracks, if the source is in `room` now.
    pub fn attach(&mut self, media: &MediaPlane, room: &Room) {
        let source = room
            .roster()
            .iter()
            .find(|p| p.identity == self.info.source && !p.hidden);
        if let Some(p) = source {
            for track in &p.tracks {
                if let Some(id) = TrackId::parse(&track.sid) {
                    self.track_published(media, p, id, track.kind);
                }
            }
        }
    }

    /// Taps a new track of `p` if `p` is the source and the broadcast has no track of
    /// that kind yet.
    pub fn track_published(
        &mut self,
        media: &MediaPlane,
        p: &Participant,
        track: TrackId,
        kind: TrackKind,
    ) {
        if p.identity != self.info.source || p.hidden {
            return;
        }
        let place = match kind {
            TrackKind::Video => &mut self.video,
            TrackKind::Audio => &mut self.audio,
        };
        if place.is_some() {
            return;
        }
        *place = Some((p.id, track));
        self.gone_since = None;
        let _ = media.send(Command::Tap {
            participant: p.id,
            track,
            tap: Tap::Broadcast,
            sink: Some(self.sink.clone()),
            height: TALLEST,
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
        let had = self.video.is_some() || self.audio.is_some();
        for place in [&mut self.video, &mut self.audio] {
            if place.is_some_and(&which) {
                *place = None;
            }
        }
        if had && self.video.is_none() && self.audio.is_none() {
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
        for (participant, track) in [self.video.take(), self.audio.take()].into_iter().flatten() {
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

/// The ladder's thread: feeds it every frame until the broadcast stops, then lets it
/// finish.
fn feed(frames: Receiver<EgressFrame>, mut ladder: Ladder, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match frames.recv_timeout(Duration::from_millis(100)) {
            Ok(frame) => ladder.feed(&frame),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    ladder.finish();
    let renditions = ladder.renditions();
    let deadline = Instant::now() + FINISH_WAIT;
    while !renditions.ended() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}
