//! The recordings library: each owned room's recordings, for its owner and co-hosts to
//! list, play, download, rename and delete, with the operator's retention and per-user
//! quota; the watch-back of its broadcasts, kept when they end; and the chats of its
//! ended meetings, when the room keeps them. The index lives in the store; the files and manifests stay in the recordings
//! folder, which stays the truth about a recording still being written (the index is told
//! when one starts and ends, and a listing reads the manifests of those it still thinks
//! run, and indexes folders it has never seen).

use std::collections::HashSet;
use std::path::Path;

use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::RecordingKind;
use serde::Serialize;
use utoipa::ToSchema;

use super::is_folder_name;
use super::manifest::{FileReport, Manifest};
use crate::state::{AppState, unix_millis};
use crate::store::recordings::IndexedRecording;
use crate::store::transcripts::KeptChat;
use crate::store::users::User;
use crate::store::{Store, internal};

/// The most recordings a room's library lists at once (the newest).
pub const PAGE: usize = 100;
/// The longest title.
pub const MAX_TITLE: usize = 200;

/// A recording as the library shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LibraryEntry {
    pub id: String,
    pub room: String,
    pub title: String,
    pub kind: String,
    pub status: String,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub bytes: i64,
    /// Its files, to play or download.
    pub files: Vec<FileReport>,
}

/// What the index keeps of a recording: its manifest, and its files' size in `dir`.
pub fn indexed(manifest: &Manifest, dir: &Path, title: Option<String>) -> IndexedRecording {
    let bytes = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum::<u64>()
        })
        .unwrap_or(0);
    IndexedRecording {
        id: manifest.id.clone(),
        room: manifest.room.clone(),
        kind: serde_json::to_value(manifest.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        status: manifest.status.clone(),
        title: title.unwrap_or_else(|| manifest.id.clone()),
        started_at: i64::try_from(manifest.started_at).unwrap_or(i64::MAX),
        ended_at: manifest.ended_at.and_then(|t| i64::try_from(t).ok()),
        bytes: i64::try_from(bytes).unwrap_or(i64::MAX),
    }
}

/// Tells the index about a recording that started or ended (from the recording's own
/// threads, which must not wait for the database: a task on `runtime` writes it; a
/// listing catches up on one the server stopped before it was written).
pub fn tell(store: &Store, runtime: &tokio::runtime::Handle, manifest: &Manifest, dir: &Path) {
    let row = indexed(manifest, dir, None);
    let store = store.clone();
    runtime.spawn(async move {
        if let Err(e) = store.index_recording(&row).await {
            tracing::warn!(recording = %row.id, "cannot index the recording: {e}");
        }
    });
}

/// The newest recordings of `room`, for `user` (its owner or a co-host).
pub async fn list(
    state: &AppState,
    user: &User,
    room: &str,
) -> Result<Vec<LibraryEntry>, ApiError> {
    manages(state, user, room).await?;
    let store = state.accounts.store();
    let dir = state.config.recordings_dir.join(room);
    let indexed_ids: HashSet<String> = store
        .room_recordings(room, usize::MAX >> 1)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    // Folders the index has not seen (made before it, or while it was away).
    let unseen = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::read_dir(&dir)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter_map(|e| e.file_name().into_string().ok())
                        .filter(|name| is_folder_name(name) && !indexed_ids.contains(name))
                        .filter_map(|name| read_manifest(&dir.join(&name)).map(|m| (m, name)))
                        .map(|(m, name)| indexed(&m, &dir.join(name), None))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .await
        .unwrap_or_default()
    };
    for row in &unseen {
        store.index_recording(row).await.map_err(internal)?;
    }
    let rows = store.room_recordings(room, PAGE).await.map_err(internal)?;
    let read = tokio::task::spawn_blocking(move || {
        rows.into_iter()
            .map(|row| {
                let folder = dir.join(&row.id);
                let manifest = read_manifest(&folder);
                // Still running as far as the index knows: the manifest says how it is.
                let fresh = manifest
                    .as_ref()
                    .filter(|m| row.status == "recording" && m.status != "recording")
                    .map(|m| indexed(m, &folder, Some(row.title.clone())));
                (row, manifest, fresh)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut entries = Vec::with_capacity(read.len());
    for (row, manifest, fresh) in read {
        let Some(manifest) = manifest else {
            // Its folder is gone: so is the recording.
            store.unindex_recording(&row.id).await.map_err(internal)?;
            continue;
        };
        let row = match fresh {
            Some(fresh) => {
                store.index_recording(&fresh).await.map_err(internal)?;
                fresh
            }
            None => row,
        };
        entries.push(LibraryEntry {
            id: row.id,
            room: row.room,
            title: row.title,
            kind: row.kind,
            status: row.status,
            started_at: row.started_at,
            ended_at: row.ended_at,
            bytes: row.bytes,
            files: manifest.files,
        });
    }
    Ok(entries)
}

/// The recording `id`, for `user` (an owner or co-host of its room).
pub async fn find(state: &AppState, user: &User, id: &str) -> Result<IndexedRecording, ApiError> {
    let found = state
        .accounts
        .store()
        .indexed_recording(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| no_recording(id))?;
    manages(state, user, &found.room).await?;
    Ok(found)
}

/// Renames a recording.
pub async fn rename(state: &AppState, user: &User, id: &str, title: &str) -> Result<(), ApiError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE || title.chars().any(char::is_control)
    {
        return Err(ApiError::new(
            ErrorCode::MalformedMessage,
            format!("A title is 1 to {MAX_TITLE} characters."),
        ));
    }
    find(state, user, id).await?;
    state
        .accounts
        .store()
        .rename_recording(id, title)
        .await
        .map_err(internal)
}

/// Deletes a recording: its files, then its place in the index.
pub async fn delete(state: &AppState, user: &User, id: &str) -> Result<(), ApiError> {
    let found = find(state, user, id).await?;
    let running = state
        .rooms()
        .room(&found.room)
        .and_then(|r| r.recording().running().map(|rec| rec.info.id == id))
        .unwrap_or(false);
    if running {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "The recording is still running; stop it first.",
        ));
    }
    remove(state, &found).await
}

/// Deletes the finished recordings older than `recordings_retention_days`; how many.
pub async fn sweep(state: &AppState) -> usize {
    let days = state.config.recordings_retention_days;
    if days == 0 {
        return 0;
    }
    let cutoff =
        i64::try_from(unix_millis()).unwrap_or(i64::MAX) - (days * 24 * 3600 * 1000) as i64;
    let old = match state.accounts.store().recordings_before(cutoff, 1000).await {
        Ok(old) => old,
        Err(e) => {
            tracing::warn!("cannot find old recordings: {e}");
            return 0;
        }
    };
    let mut removed = 0;
    for recording in &old {
        match remove(state, recording).await {
            Ok(()) => removed += 1,
            Err(e) => tracing::warn!(recording = %recording.id, "cannot remove: {}", e.message),
        }
    }
    if removed > 0 {
        tracing::info!(removed, days, "recordings past their retention removed");
    }
    removed
}

/// Refuses a new recording of `room` when its owner's recordings fill their quota
/// (`recordings_user_quota_mb`); call from a blocking context.
pub fn check_quota(state: &AppState, room: &str) -> Result<(), ApiError> {
    let quota_mb = state.config.recordings_user_quota_mb;
    if quota_mb == 0 {
        return Ok(());
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Ok(());
    };
    let store = state.accounts.store();
    let used = runtime.block_on(async {
        let Some(owned) = store.owned_room(room).await? else {
            return Ok(None);
        };
        store.owner_recording_bytes(&owned.owner_id).await.map(Some)
    });
    match used.map_err(internal)? {
        Some(bytes) if bytes >= (quota_mb * 1024 * 1024) as i64 => Err(ApiError::new(
            ErrorCode::StorageFull,
            format!(
                "The room's owner has used its {quota_mb} MiB of recordings; delete some in the \
                 library first."
            ),
        )),
        _ => Ok(()),
    }
}

async fn remove(state: &AppState, recording: &IndexedRecording) -> Result<(), ApiError> {
    if !is_folder_name(&recording.room) || !is_folder_name(&recording.id) {
        return Err(no_recording(&recording.id));
    }
    let dir = state
        .config
        .recordings_dir
        .join(&recording.room)
        .join(&recording.id);
    let removed = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    if let Err(e) = removed {
        tracing::warn!(recording = %recording.id, "cannot remove its files: {e}");
        return Err(ApiError::new(
            ErrorCode::Internal,
            "The recording's files could not be removed; the server's log says why.",
        ));
    }
    state
        .accounts
        .store()
        .unindex_recording(&recording.id)
        .await
        .map_err(internal)
}

/// The kept chats of `room`, for `user` (its owner or a co-host), newest first.
pub async fn chats(state: &AppState, user: &User, room: &str) -> Result<Vec<KeptChat>, ApiError> {
    manages(state, user, room).await?;
    state
        .accounts
        .store()
        .room_transcripts(room, PAGE)
        .await
        .map_err(internal)
}

/// A kept chat and its text, for `user`.
pub async fn chat(
    state: &AppState,
    user: &User,
    id: &str,
) -> Result<(KeptChat, Vec<u8>), ApiError> {
    let found = state
        .accounts
        .store()
        .transcript(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound, format!("There is no kept chat {id}."))
        })?;
    manages(state, user, &found.0.room).await?;
    Ok(found)
}

/// Forgets a kept chat.
pub async fn delete_chat(state: &AppState, user: &User, id: &str) -> Result<(), ApiError> {
    chat(state, user, id).await?;
    state
        .accounts
        .store()
        .delete_transcript(id)
        .await
        .map_err(internal)
}

/// Keeps, in its room's library, the watch-back of each broadcast of an owned room that
/// ended, once its ladder wrote its last segment: the top rung's init segment and kept
/// segments joined into one fragmented MP4 (`broadcast.mp4`, which browsers play) in
/// `recordings_dir/{room}/{broadcast id}/`, with a manifest, indexed. Called every few
/// seconds while the ended broadcast is still kept (an hour); one kept is not kept again.
pub async fn keep_broadcasts(state: &AppState) {
    for (room, playback) in state.playbacks.ended() {
        let renditions = playback.renditions();
        let dir = state
            .config
            .recordings_dir
            .join(&room)
            .join(&playback.info.id);
        if !renditions.ended() || !is_folder_name(&room) || dir.exists() {
            continue;
        }
        if !matches!(state.accounts.room(&room).await, Ok(Some(_))) {
            continue;
        }
        let Some((files, duration_ms)) = renditions.all().last().and_then(|r| r.archive_kept())
        else {
            continue;
        };
        let manifest = Manifest {
            id: playback.info.id.clone(),
            room: room.clone(),
            kind: RecordingKind::Broadcast,
            status: "complete".into(),
            started_at: playback.info.started_at,
            ended_at: Some(unix_millis()),
            participants: Vec::new(),
            tracks: Vec::new(),
            files: vec![FileReport {
                file: BROADCAST_FILE.into(),
                codec: "h264+aac".into(),
                offset_ms: 0,
                duration_ms,
                frames: 0,
            }],
            chat: Vec::new(),
            stop_reason: None,
            node: String::new(),
        };
        let folder = dir.clone();
        let written = tokio::task::spawn_blocking(move || {
            let joined = join_files(&files, &folder);
            match joined {
                Ok(()) => super::manifest::write(&folder, &manifest),
                Err(_) => {
                    let _ = std::fs::remove_dir_all(&folder);
                }
            }
            joined.map(|()| manifest)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match written {
            Ok(manifest) => {
                let row = indexed(&manifest, &dir, None);
                if let Err(e) = state.accounts.store().index_recording(&row).await {
                    tracing::warn!(broadcast = %manifest.id, "cannot index the broadcast: {e}");
                }
                tracing::info!(broadcast = %manifest.id, room, "broadcast kept in the room's library");
            }
            Err(e) => tracing::warn!(room, "cannot keep the broadcast in the library: {e}"),
        }
    }
}

/// The file a kept broadcast is in.
const BROADCAST_FILE: &str = "broadcast.mp4";

/// Writes `files` one after the other into `dir`'s broadcast file (under another name
/// until it is whole).
fn join_files(files: &[std::path::PathBuf], dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let partial = dir.join(format!("{BROADCAST_FILE}.part"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&partial)?);
    for file in files {
        std::io::copy(&mut std::fs::File::open(file)?, &mut out)?;
    }
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(partial, dir.join(BROADCAST_FILE))
}

/// Refuses `user` unless it owns or co-hosts `room`.
async fn manages(state: &AppState, user: &User, room: &str) -> Result<(), ApiError> {
    let allowed = state
        .accounts
        .room(room)
        .await?
        .is_some_and(|r| r.kept.owner_id == user.id || r.kept.hosts.contains(&user.id));
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::PermissionDenied,
            "Only the room's owner and co-hosts see its recordings.",
        ))
    }
}

fn read_manifest(dir: &Path) -> Option<Manifest> {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).ok()?).ok()
}

fn no_recording(id: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("There is no recording {id}."))
}
