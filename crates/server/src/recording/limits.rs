//! Keeps server recordings within the operator's bounds. A recording that reaches
//! `recording_max_duration` stops by itself; when the recordings folder passes
//! `recordings_quota_mb`, or its disk has less than `recordings_min_free_mb` left, running
//! recordings stop and new ones are refused with `storage_full` until there is room again.
//! Either way everyone in the room is told why, and the manifest keeps the reason.
//!
//! A thread of its own does the watching: it reads the disk, which must never happen under
//! the rooms lock or on the async threads.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::RecordingStopReason;
use tracing::{info, warn};

use crate::config::Config;
use crate::recording;
use crate::state::{AppState, unix_millis};

/// How often running recordings are compared with the maximum duration.
const DURATION_CHECK: Duration = Duration::from_secs(1);
/// How often the recordings folder and its disk are measured while something records.
const STORAGE_CHECK_EVERY: u32 = 5;

const MIB: u64 = 1 << 20;

/// Starts the thread that stops recordings at the limits.
pub fn watch(state: Arc<AppState>) {
    let spawned = std::thread::Builder::new()
        .name("moim-recording-limits".into())
        .spawn(move || {
            let mut ticks = 0u32;
            loop {
                std::thread::sleep(DURATION_CHECK);
                ticks = ticks.wrapping_add(1);
                enforce(&state, ticks.is_multiple_of(STORAGE_CHECK_EVERY));
            }
        });
    if let Err(e) = spawned {
        warn!("cannot watch recording limits: {e}");
    }
}

/// Stops recordings past the maximum duration, and every one when `measure_storage` finds
/// the storage full.
fn enforce(state: &AppState, measure_storage: bool) {
    let running = state.rooms().recordings_started();
    if running.is_empty() {
        return;
    }
    let storage_full = measure_storage && check_storage(&state.config).is_err();
    let max = state.config.recording_max_duration;
    let now = unix_millis();
    for (room, id, started_at) in running {
        let reason = if storage_full {
            RecordingStopReason::StorageFull
        } else if max > 0 && now.saturating_sub(started_at) >= max.saturating_mul(1000) {
            RecordingStopReason::MaxDuration
        } else {
            continue;
        };
        info!(room, ?reason, "stopping a recording at its limit");
        if let Err(e) = recording::stop_at_limit(state, &room, &id, reason) {
            warn!(room, "stopping a recording failed: {}", e.message);
        }
    }
}

/// `Ok` when there is room for recordings, else the error a start gets (blocks on the
/// disk: call it off the async threads).
pub fn check_storage(config: &Config) -> Result<(), ApiError> {
    let dir = &config.recordings_dir;
    if config.recordings_quota_mb > 0 {
        let used = folder_bytes(dir);
        if used >= config.recordings_quota_mb.saturating_mul(MIB) {
            return Err(ApiError::new(
                ErrorCode::StorageFull,
                format!(
                    "The recordings use {} MiB of their {} MiB quota; delete some to record again.",
                    used / MIB,
                    config.recordings_quota_mb
                ),
            ));
        }
    }
    if config.recordings_min_free_mb > 0
        && let Some(free) = free_bytes(dir)
        && free < config.recordings_min_free_mb.saturating_mul(MIB)
    {
        return Err(ApiError::new(
            ErrorCode::StorageFull,
            format!(
                "The recordings disk has {} MiB left, less than the {} MiB kept free.",
                free / MIB,
                config.recordings_min_free_mb
            ),
        ));
    }
    Ok(())
}

/// The bytes of every file under `dir` (0 when it does not exist yet).
fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => folder_bytes(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// The bytes an unprivileged writer may still use on the disk holding `dir` (or its
/// nearest existing parent).
fn free_bytes(dir: &Path) -> Option<u64> {
    let existing = dir
        .ancestors()
        .find(|d| d.exists())
        .unwrap_or(Path::new("."));
    let existing = if existing.as_os_str().is_empty() {
        Path::new(".")
    } else {
        existing
    };
    let stats = rustix::fs::statvfs(existing).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_counts_every_file_below_the_folder() {
        let dir = std::env::temp_dir().join(format!("moim-quota-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("room/rec")).unwrap();
        std::fs::write(dir.join("room/rec/a.webm"), vec![0; 3 * MIB as usize]).unwrap();
        std::fs::write(dir.join("b"), vec![0; 10]).unwrap();
        assert_eq!(folder_bytes(&dir), 3 * MIB + 10);
        let mut config = Config {
            recordings_dir: dir.clone(),
            recordings_quota_mb: 4,
            ..Config::default()
        };
        assert!(check_storage(&config).is_ok());
        config.recordings_quota_mb = 3;
        let full = check_storage(&config).unwrap_err();
        assert_eq!(full.code, ErrorCode::StorageFull);
        assert!(
            full.message.contains("3 MiB of their 3 MiB"),
            "{}",
            full.message
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn free_space_is_read_from_the_nearest_existing_folder() {
        let missing = std::env::temp_dir().join("moim-not-made-yet/recordings");
        assert!(free_bytes(&missing).is_some_and(|b| b > 0));
        assert!(free_bytes(Path::new("recordings-relative")).is_some());
        let config = Config {
            recordings_dir: missing,
            recordings_min_free_mb: u64::MAX / MIB,
            ..Config::default()
        };
        assert_eq!(
            check_storage(&config).unwrap_err().code,
            ErrorCode::StorageFull
        );
    }
}
