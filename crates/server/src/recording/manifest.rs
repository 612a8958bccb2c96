//! A recording's manifest (`manifest.json` beside its files: room, kind, times,
//! participants, tracks and their files, at the end the chat), written as it changes by a
//! thread of its own so that nothing waits for the disk under the rooms lock; the
//! recordings folder read back (listing, and at start-up marking recordings a crash cut
//! short as `interrupted`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use moim_proto::signal::{ChatMessage, RecordingKind, RecordingStopReason, TrackKind, TrackSource};
use serde::{Deserialize, Serialize};
use tracing::warn;

/// A recording's manifest, as written next to its files.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Manifest {
    pub id: String,
    pub room: String,
    pub kind: RecordingKind,
    /// `recording` until it ends properly, then `complete`; `interrupted` when the server
    /// stopped without finishing it (found so at the next start).
    pub status: String,
    pub started_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
    pub participants: Vec<ManifestParticipant>,
    pub tracks: Vec<ManifestTrack>,
    /// The files as written, with their lengths (once it ended).
    #[serde(default)]
    pub files: Vec<FileReport>,
    /// The room's chat (messages to everyone), once it ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chat: Vec<ChatMessage>,
    /// Why the server stopped it by itself (a limit), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<RecordingStopReason>,
    /// The node that records it, in a cluster: another node sharing the recordings folder
    /// leaves it alone while that node is alive.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
}

/// What became of one file.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileReport {
    pub file: String,
    /// Its codecs, e.g. `vp8` or `vp8+opus`.
    pub codec: String,
    /// From the recording's start to the file's time zero.
    pub offset_ms: u64,
    pub duration_ms: u64,
    pub frames: u64,
}

/// Someone who was in the room during the recording.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ManifestParticipant {
    pub sid: String,
    pub identity: String,
    pub name: String,
    pub joined_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_at: Option<u64>,
}

/// A track recorded, and the file it goes to.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ManifestTrack {
    pub sid: String,
    pub participant: String,
    pub kind: TrackKind,
    pub source: TrackSource,
    pub file: String,
    pub published_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpublished_at: Option<u64>,
}

/// The newest manifest to write, and whether the recording ended.
#[derive(Debug, Default)]
struct Pending {
    manifest: Option<Manifest>,
    closed: bool,
}

/// Writes a recording's manifest on a thread of its own: [`ManifestSaver::save`] hands over
/// the newest version and returns at once; the thread writes whichever is newest when it
/// gets to it (versions it missed are never needed).
#[derive(Debug)]
pub struct ManifestSaver {
    pending: Arc<(Mutex<Pending>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl ManifestSaver {
    /// A saver writing into `dir`.
    pub fn start(dir: PathBuf) -> std::io::Result<ManifestSaver> {
        let pending = Arc::new((Mutex::new(Pending::default()), Condvar::new()));
        let shared = pending.clone();
        let thread = std::thread::Builder::new()
            .name("moim-manifest".into())
            .spawn(move || {
                let (lock, changed) = &*shared;
                loop {
                    let (next, closed) = {
                        let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
                        while p.manifest.is_none() && !p.closed {
                            p = changed.wait(p).unwrap_or_else(|e| e.into_inner());
                        }
                        (p.manifest.take(), p.closed)
                    };
                    if let Some(manifest) = next {
                        write(&dir, &manifest);
                    }
                    if closed {
                        return;
                    }
                }
            })?;
        Ok(ManifestSaver {
            pending,
            thread: Some(thread),
        })
    }

    /// Hands over the newest manifest to be written.
    pub fn save(&self, manifest: Manifest) {
        let (lock, changed) = &*self.pending;
        lock.lock().unwrap_or_else(|e| e.into_inner()).manifest = Some(manifest);
        changed.notify_one();
    }

    /// Writes what is pending and stops the thread (blocks until it is done).
    pub fn close(mut self) {
        let (lock, changed) = &*self.pending;
        lock.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        changed.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes `manifest` into `dir` through a temporary file, so it is never half written.
pub fn write(dir: &Path, manifest: &Manifest) {
    let text = serde_json::to_vec_pretty(manifest).expect("manifests serialize");
    let tmp = dir.join("manifest.json.tmp");
    let done =
        std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, dir.join("manifest.json")));
    if let Err(e) = done {
        warn!(dir = %dir.display(), "cannot write a recording manifest: {e}");
    }
}

/// Marks every recording whose manifest still says `recording` as `interrupted`, but those
/// recorded by a node for which `alive` holds (a cluster's nodes may share the folder): at
/// start-up none runs here, so the others were cut short by a crash (their files play up
/// to where they were). Returns how many.
pub fn mark_interrupted(recordings_dir: &Path, alive: impl Fn(&str) -> bool) -> usize {
    let Ok(rooms) = std::fs::read_dir(recordings_dir) else {
        return 0;
    };
    rooms
        .filter_map(Result::ok)
        .filter_map(|room| std::fs::read_dir(room.path()).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter(|recording| mark_one_interrupted(&recording.path(), &alive))
        .count()
}

/// Marks the recording in folder `dir` interrupted if its manifest says it is still
/// recording and its node is not `alive` (it stopped without finishing it); true if it
/// did.
pub fn mark_one_interrupted(dir: &Path, alive: impl Fn(&str) -> bool) -> bool {
    let Some(mut manifest) = std::fs::read(dir.join("manifest.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).ok())
    else {
        return false;
    };
    if manifest.status != "recording" || (!manifest.node.is_empty() && alive(&manifest.node)) {
        return false;
    }
    manifest.status = "interrupted".into();
    write(dir, &manifest);
    true
}

/// Whether `name` is safe as one folder or file name under the recordings folder.
pub fn is_folder_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The manifests of a room's recordings, newest first.
pub fn list(recordings_dir: &Path, room: &str) -> Vec<Manifest> {
    if !is_folder_name(room) {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(recordings_dir.join(room)) else {
        return Vec::new();
    };
    let mut manifests: Vec<Manifest> = entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path().join("manifest.json")).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect();
    manifests.sort_by_key(|m| std::cmp::Reverse(m.started_at));
    manifests
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(status: &str) -> Manifest {
        Manifest {
            id: "RC_1".into(),
            room: "r".into(),
            kind: RecordingKind::Track,
            status: status.into(),
            started_at: 1,
            ended_at: None,
            participants: Vec::new(),
            tracks: Vec::new(),
            files: Vec::new(),
            chat: Vec::new(),
            stop_reason: None,
            node: "node-a".into(),
        }
    }

    #[test]
    fn the_saver_writes_the_newest_manifest_and_a_restart_marks_it_interrupted() {
        let root = std::env::temp_dir().join(format!("moim-manifest-{}", std::process::id()));
        let dir = root.join("r").join("RC_1");
        std::fs::create_dir_all(&dir).unwrap();
        let saver = ManifestSaver::start(dir.clone()).unwrap();
        saver.save(manifest("first"));
        saver.save(manifest("recording"));
        saver.close();
        let listed = list(&root, "r");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].status, "recording", "the newest version");
        assert_eq!(
            mark_interrupted(&root, |node| node == "node-a"),
            0,
            "its node still runs it"
        );
        assert_eq!(mark_interrupted(&root, |_| false), 1);
        assert_eq!(list(&root, "r")[0].status, "interrupted");
        assert_eq!(mark_interrupted(&root, |_| false), 0, "once");
        std::fs::remove_dir_all(root).unwrap();
    }
}
