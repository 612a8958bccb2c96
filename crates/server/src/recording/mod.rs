//! Server recordings of a room: started and stopped by a participant with the record grant
//! (or the room API), announced to everyone in the room, written by a [`recorder`] thread
//! that the media plane feeds through a bounded queue (a full queue drops frames, counted
//! in `moim_recording_frames_dropped_total`; forwarding never waits).
//!
//! Each recording has a folder `{recordings_dir}/{room}/{id}/` with its files and a
//! `manifest.json` ([`manifest`]), rewritten whenever it changes, so after a crash it
//! still names every file. Starting one creates its folder and starts its writer (and
//! ffmpeg) outside the rooms lock; only putting it in place takes the lock.
//!
//! [`recorder`]: crate::recording::recorder
//! [`manifest`]: crate::recording::manifest

pub mod compositor;
pub mod decoder;
pub mod ffmpeg;
pub mod frames;
pub mod library;
pub mod limits;
pub mod manifest;
pub mod mixer;
pub mod playout;
pub mod recorder;
pub mod slot;

use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::sync::{Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use moim_media::egress::TALLEST;
use moim_media::{Command, EgressSender, MediaPlane, ParticipantId, Tap, TrackId};
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{
    ChatMessage, RecordingInfo, RecordingKind, RecordingStopReason, ServerMessage, TrackKind,
    TrackSource,
};
use tracing::{info, warn};

use self::manifest::FileReport;
use self::manifest::{Manifest, ManifestParticipant, ManifestSaver, ManifestTrack};
use self::recorder::{Layout, Route, Routes, StopAt};
pub use crate::recording::manifest::{
    is_folder_name, list, mark_interrupted, mark_one_interrupted,
};
use crate::room::participant::Participant;
use crate::room::{Room, no_one_in};
use crate::state::{AppState, unix_millis};
use crate::store::Store;
use crate::webhook::{Event, EventKind, RecordingDetails, Webhooks};

/// Frames a recording's queue holds (about 4 s of a 30 fps video and its audio for 10
/// tracks) before the media plane drops.
const QUEUE_FRAMES: usize = 4096;

/// A recording running in a room.
#[derive(Debug)]
pub struct Recording {
    pub info: RecordingInfo,
    manifest: Manifest,
    dir: PathBuf,
    sink: EgressSender,
    routes: Routes,
    stop: StopAt,
    writer: JoinHandle<Vec<FileReport>>,
    saver: ManifestSaver,
    /// Told when it finishes, with the manifest.
    hooks: Webhooks,
    /// Where the recordings index is.
    store: Store,
    /// The server's runtime, which writes to the index: the recording ends on a thread of
    /// its own.
    runtime: tokio::runtime::Handle,
}

impl Recording {
    /// Prepares a recording of `room_name`: its folder, its writer thread (and ffmpeg for
    /// the mixes) and its manifest's writer. Blocks on the disk and on starting processes:
    /// call it without the rooms lock; [`Recording::attach`] puts it in place.
    fn prepare(
        state: &AppState,
        room_name: &str,
        kind: RecordingKind,
    ) -> Result<Recording, ApiError> {
        let now = unix_millis();
        let id = format!("RC_{now:x}");
        let dir = state.config.recordings_dir.join(room_name).join(&id);
        // Recordings start from the server's blocking threads, inside its runtime.
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ApiError::new(
                ErrorCode::Internal,
                "A recording was started outside the server's runtime.",
            )
        })?;
        let failed = |e: std::io::Error| {
            warn!(dir = %dir.display(), "cannot start a recording: {e}");
            ApiError::new(
                ErrorCode::Internal,
                "The server cannot write recordings now; its log says why.",
            )
        };
        std::fs::create_dir_all(&dir).map_err(failed)?;
        let (sink, frames) = sync_channel(QUEUE_FRAMES);
        let stop = StopAt::default();
        let routes = Routes::default();
        let layout = match kind {
            RecordingKind::Track => Layout::Track,
            RecordingKind::Participant => Layout::Participant,
            RecordingKind::AudioOnly => Layout::Mixed,
            // A broadcast is refused at the start.
            RecordingKind::Composite | RecordingKind::Broadcast => Layout::Composite,
        };
        let writer = recorder::spawn(dir.clone(), layout, routes.clone(), frames, stop.clone())
            .map_err(failed)?;
        let saver = ManifestSaver::start(dir.clone()).map_err(failed)?;
        let info = RecordingInfo {
            id: id.clone(),
            kind,
            started_at: now,
        };
        Ok(Recording {
            manifest: Manifest {
                id,
                room: room_name.to_owned(),
                kind,
                status: "recording".into(),
                started_at: now,
                ended_at: None,
                participants: Vec::new(),
                tracks: Vec::new(),
                files: Vec::new(),
                chat: Vec::new(),
                stop_reason: None,
                node: if state.cluster.clustered() {
                    state.cluster.me().id
                } else {
                    String::new()
                },
            },
            info,
            dir,
            sink,
            routes,
            stop,
            writer,
            saver,
            hooks: state.webhooks.clone(),
            store: state.accounts.store().clone(),
            runtime,
        })
    }

    /// Takes in everyone in `room` now and puts a tap on each of their tracks.
    fn attach(&mut self, media: &MediaPlane, room: &Room) {
        let now = unix_millis();
        for p in room.roster().iter().filter(|p| !p.hidden) {
            self.joined(p, now);
            for track in &p.tracks {
                if let Some(id) = TrackId::parse(&track.sid) {
                    self.track_published(media, p, id, track.kind, track.source, now);
                }
            }
        }
        self.save();
    }

    /// Notes someone joining.
    pub fn joined(&mut self, p: &Participant, at: u64) {
        self.manifest.participants.push(ManifestParticipant {
            sid: p.id.to_string(),
            identity: p.identity.clone(),
            name: p.name.clone(),
            joined_at: at,
            left_at: None,
        });
    }

    /// Notes someone leaving.
    pub fn left(&mut self, sid: ParticipantId, at: u64) {
        let sid = sid.to_string();
        if let Some(p) = self
            .manifest
            .participants
            .iter_mut()
            .rfind(|p| p.sid == sid)
        {
            p.left_at = Some(at);
        }
    }

    /// Starts recording a track of `p`.
    pub fn track_published(
        &mut self,
        media: &MediaPlane,
        p: &Participant,
        track: TrackId,
        kind: TrackKind,
        source: TrackSource,
        at: u64,
    ) {
        // Track files are named after the track, participant files after the participant;
        // audio alone goes in Ogg, anything with video in WebM. The mixes route each track
        // by its participant.
        let webm_or_ogg = |stem: String, video: bool| {
            let file = format!("{stem}.{}", if video { "webm" } else { "ogg" });
            (stem, file)
        };
        let (route, file) = match self.manifest.kind {
            RecordingKind::AudioOnly if kind == TrackKind::Video => return,
            RecordingKind::AudioOnly => (p.id.to_string(), "mix.ogg".to_owned()),
            RecordingKind::Composite | RecordingKind::Broadcast => {
                (p.id.to_string(), "composite.webm".to_owned())
            }
            RecordingKind::Track => webm_or_ogg(track.to_string(), kind == TrackKind::Video),
            RecordingKind::Participant => webm_or_ogg(
                p.id.to_string(),
                kind == TrackKind::Video || p.tracks.iter().any(|t| t.kind == TrackKind::Video),
            ),
        };
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                track,
                Route {
                    stem: route,
                    name: p.name.clone(),
                    video: kind == TrackKind::Video,
                },
            );
        // A composite shows cameras in tiles: the simulcast layer of a tile's height is
        // enough and far cheaper to decode than the tallest.
        let height = if self.manifest.kind == RecordingKind::Composite {
            decoder::TILE_HEIGHT
        } else {
            TALLEST
        };
        let _ = media.send(Command::Tap {
            participant: p.id,
            track,
            tap: Tap::Recording,
            sink: Some(self.sink.clone()),
            height,
        });
        self.manifest.tracks.push(ManifestTrack {
            sid: track.to_string(),
            participant: p.identity.clone(),
            kind,
            source,
            file,
            published_at: at,
            unpublished_at: None,
        });
    }

    /// Notes a track ending: its file simply stops growing; it leaves the composite's
    /// grid.
    pub fn track_unpublished(&mut self, track: TrackId, at: u64) {
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&track);
        let sid = track.to_string();
        if let Some(t) = self.manifest.tracks.iter_mut().find(|t| t.sid == sid) {
            t.unpublished_at = Some(at);
        }
    }

    /// Has the manifest written as it is now (by its own thread: never waits for the disk).
    pub fn save(&self) {
        self.saver.save(self.manifest.clone());
    }

    /// Ends the recording: the taps go, the writer finishes its files, the manifest gets
    /// the files, the end time and the chat. Blocks until the files are complete.
    pub fn finish(
        self,
        media: &MediaPlane,
        tracks: &[(ParticipantId, TrackId)],
        chat: Vec<ChatMessage>,
    ) -> Manifest {
        for (participant, track) in tracks {
            let _ = media.send(Command::Tap {
                participant: *participant,
                track: *track,
                tap: Tap::Recording,
                sink: None,
                height: TALLEST,
            });
        }
        let now = unix_millis();
        *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        drop(self.sink);
        let files = self.writer.join().unwrap_or_default();
        self.saver.close();
        let mut manifest = self.manifest;
        manifest.status = "complete".into();
        manifest.ended_at = Some(now);
        for p in &mut manifest.participants {
            p.left_at.get_or_insert(now);
        }
        // A track's file got its extension from its codec (H.264 in MP4).
        for t in &mut manifest.tracks {
            let stem = t
                .file
                .rsplit_once('.')
                .map_or(&t.file[..], |(stem, _)| stem);
            if let Some(f) = files
                .iter()
                .find(|f| f.file.rsplit_once('.').is_some_and(|(s, _)| s == stem))
            {
                t.file.clone_from(&f.file);
            }
        }
        manifest.files = files;
        manifest.chat = chat;
        manifest::write(&self.dir, &manifest);
        library::tell(&self.store, &self.runtime, &manifest, &self.dir);
        info!(recording = %manifest.id, files = manifest.files.len(), "recording finished");
        if self.hooks.on() {
            let finished = Event::new(EventKind::RecordingFinished, &manifest.room);
            let details = serde_json::to_value(&manifest).unwrap_or_default();
            self.hooks
                .emit(finished.recording(RecordingDetails::Finished(details)));
        }
        manifest
    }
}

/// Starts recording `room_name` and tells everyone in it (call from a blocking context:
/// the folder and the writer are made outside the rooms lock, which only reserves the
/// room's recording and then puts it in place).
pub fn start(
    state: &AppState,
    room_name: &str,
    kind: RecordingKind,
) -> Result<RecordingInfo, ApiError> {
    if !is_folder_name(room_name) {
        return Err(ApiError::new(
            ErrorCode::MalformedMessage,
            "Only rooms named with letters, digits, '-', '_' and '.' are recorded.",
        ));
    }
    if kind == RecordingKind::Broadcast {
        return Err(ApiError::new(
            ErrorCode::MalformedMessage,
            "A broadcast is kept by the server when it ends; start a broadcast instead.",
        ));
    }
    limits::check_storage(&state.config)?;
    library::check_quota(state, room_name)?;
    {
        let mut rooms = state.rooms();
        let room = rooms
            .room_mut(room_name)
            .ok_or_else(|| no_one_in(room_name))?;
        room.recording_mut().reserve()?;
    }
    let prepared = Recording::prepare(state, room_name, kind);
    let mut rooms = state.rooms();
    let Some(room) = rooms.room_mut(room_name) else {
        // The room went meanwhile: the recording ends at once, empty.
        if let Ok(recording) = prepared {
            let media = state.media.clone();
            std::thread::spawn(move || recording.finish(&media, &[], Vec::new()));
        }
        return Err(no_one_in(room_name));
    };
    let mut recording = match prepared {
        Ok(recording) => recording,
        Err(e) => {
            room.recording_mut().release();
            return Err(e);
        }
    };
    recording.attach(&state.media, room);
    library::tell(
        &recording.store,
        &recording.runtime,
        &recording.manifest,
        &recording.dir,
    );
    let info = recording.info.clone();
    info!(recording = %info.id, room = room_name, "recording started");
    let started = Event::new(EventKind::RecordingStarted, room_name);
    state
        .webhooks
        .emit(started.recording(RecordingDetails::Started(info.clone())));
    room.recording_mut().run(recording);
    room.broadcast(
        None,
        ServerMessage::Recording {
            recording: Some(info.clone()),
            reason: None,
        },
    );
    Ok(info)
}

/// Stops the recording of `room_name`, tells everyone, and waits for its files to be
/// complete (call from a blocking context).
pub fn stop(state: &AppState, room_name: &str) -> Result<Manifest, ApiError> {
    stop_one(state, room_name, None, None)
}

/// Stops recording `id` of `room_name` (not one started after it) as [`stop`] does;
/// `reason` says why the server stops it by itself (everyone is told, the manifest keeps
/// it).
pub fn stop_at_limit(
    state: &AppState,
    room_name: &str,
    id: &str,
    reason: RecordingStopReason,
) -> Result<Manifest, ApiError> {
    stop_one(state, room_name, Some(id), Some(reason))
}

/// Stops being finished (their files still being written), so that a drain waits for the
/// ones another thread began.
static FINISHING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

fn stop_one(
    state: &AppState,
    room_name: &str,
    only: Option<&str>,
    reason: Option<RecordingStopReason>,
) -> Result<Manifest, ApiError> {
    let (recording, tracks, chat) = {
        let mut rooms = state.rooms();
        let not_running =
            || ApiError::new(ErrorCode::NotFound, "No recording is running in this room.");
        let room = rooms.room_mut(room_name).ok_or_else(not_running)?;
        let mut recording = room.recording_mut().take(only).ok_or_else(not_running)?;
        *FINISHING.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        recording.manifest.stop_reason = reason;
        let tracks: Vec<(ParticipantId, TrackId)> = room
            .roster()
            .iter()
            .flat_map(|p| {
                p.tracks
                    .iter()
                    .filter_map(|t| TrackId::parse(&t.sid))
                    .map(|t| (p.id, t))
            })
            .collect();
        room.broadcast(
            None,
            ServerMessage::Recording {
                recording: None,
                reason,
            },
        );
        (recording, tracks, room.chat().all().cloned().collect())
    };
    let manifest = recording.finish(&state.media, &tracks, chat);
    *FINISHING.0.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
    FINISHING.1.notify_all();
    Ok(manifest)
}

/// Stops every recording (the server is shutting down); their files are complete when
/// this returns.
pub fn stop_all(state: &AppState) {
    let rooms = state.rooms().recordings_started();
    for (room, _, _) in rooms {
        if let Err(e) = stop(state, &room) {
            warn!(room, "stopping a recording failed: {}", e.message);
        }
    }
    // A recording the limits thread is stopping is finished there: wait for it.
    let finishing = FINISHING.0.lock().unwrap_or_else(|e| e.into_inner());
    let (left, _) = FINISHING
        .1
        .wait_timeout_while(finishing, Duration::from_secs(60), |n| *n > 0)
        .unwrap_or_else(|e| e.into_inner());
    if *left > 0 {
        warn!(recordings = *left, "recordings still finishing at exit");
    }
}
