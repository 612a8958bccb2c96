//! A broadcast's recent past on disk, so that it can be watched back once it ended: each
//! rung's segments are written as they complete (the playlists' own window is a few
//! segments in memory), the last `broadcast_vod_window` of them kept, and an ended rung is
//! played from a VOD playlist of them. The files live in
//! `{broadcasts_dir}/{broadcast id}.{n}/{rung}/` and go when the broadcast is forgotten
//! (an hour after it ended, or when the room broadcasts again); the folder is emptied at
//! start-up, since a broadcast never outlives its server.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moim_egress::hls::{self, Resource, SegmentInfo};
use tracing::warn;

/// Where a broadcast's archive goes and how much of it is kept.
#[derive(Debug, Clone)]
pub struct ArchiveConfig {
    /// The broadcast's folder; each rung gets a folder in it.
    pub dir: PathBuf,
    /// How much of the broadcast is kept, its newest part.
    pub window: Duration,
}

impl ArchiveConfig {
    /// The folder of a new broadcast `id` in `broadcasts_dir` (unique in this process).
    pub fn new(broadcasts_dir: &Path, id: &str, window: Duration) -> ArchiveConfig {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        ArchiveConfig {
            dir: broadcasts_dir.join(format!("{id}.{n}")),
            window,
        }
    }
}

/// One rung's kept segments.
pub struct Archive {
    dir: PathBuf,
    /// How long the kept segments may last together, in 90 kHz ticks.
    window: i64,
    kept: VecDeque<SegmentInfo>,
    wall_clock_at_zero: Option<i64>,
    /// A write failed (and was logged): later ones are not tried.
    failed: bool,
}

impl Archive {
    /// Starts the archive of a rung in `dir` with its init segment.
    pub fn create(dir: PathBuf, window: Duration, init: &[u8]) -> std::io::Result<Archive> {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(Resource::Init.to_string()), init)?;
        let window = i64::try_from(window.as_millis())
            .unwrap_or(i64::MAX / hls::TICKS_PER_SECOND)
            .saturating_mul(hls::TICKS_PER_SECOND / 1000);
        Ok(Archive {
            dir,
            window,
            kept: VecDeque::new(),
            wall_clock_at_zero: None,
            failed: false,
        })
    }

    /// Writes a segment that just completed; segments that fall out of the window go.
    pub fn keep(&mut self, segment: SegmentInfo, bytes: &[u8], wall_clock_at_zero: Option<i64>) {
        if self.failed || self.kept.back().is_some_and(|k| k.msn >= segment.msn) {
            return;
        }
        let name = Resource::Segment(segment.msn).to_string();
        if let Err(e) = std::fs::write(self.dir.join(&name), bytes) {
            warn!(dir = %self.dir.display(), "cannot keep the broadcast's segments to watch back: {e}");
            self.failed = true;
            return;
        }
        self.wall_clock_at_zero = self.wall_clock_at_zero.or(wall_clock_at_zero);
        self.kept.push_back(segment);
        let end = segment.start.saturating_add(segment.duration);
        while self
            .kept
            .front()
            .is_some_and(|oldest| end.saturating_sub(oldest.start) > self.window)
        {
            let Some(oldest) = self.kept.pop_front() else {
                break;
            };
            let _ = std::fs::remove_file(self.dir.join(Resource::Segment(oldest.msn).to_string()));
        }
    }

    /// The file of `resource` on disk: the init segment, or a segment kept.
    pub fn path(&self, resource: Resource) -> Option<PathBuf> {
        let kept = match resource {
            Resource::Init => !self.failed,
            Resource::Segment(msn) => self.kept.binary_search_by_key(&msn, |k| k.msn).is_ok(),
            Resource::Part { .. } | Resource::Playlist => false,
        };
        kept.then(|| self.dir.join(resource.to_string()))
    }

    /// The files kept, in playing order (the init segment, then each segment), and how
    /// long they last together; `None` while none is, or after a write failed.
    pub fn kept(&self) -> Option<(Vec<PathBuf>, u64)> {
        if self.failed || self.kept.is_empty() {
            return None;
        }
        let mut files = vec![self.dir.join(Resource::Init.to_string())];
        files.extend(
            self.kept
                .iter()
                .map(|k| self.dir.join(Resource::Segment(k.msn).to_string())),
        );
        let ticks: i64 = self.kept.iter().map(|k| k.duration).sum();
        let ms = u64::try_from(ticks * 1000 / hls::TICKS_PER_SECOND).unwrap_or(0);
        Some((files, ms))
    }

    /// The VOD playlist of the kept segments; `None` while none is.
    pub fn playlist(&self) -> Option<String> {
        if self.kept.is_empty() {
            return None;
        }
        let kept: Vec<SegmentInfo> = self.kept.iter().copied().collect();
        Some(hls::vod_playlist(&kept, self.wall_clock_at_zero))
    }
}

impl Drop for Archive {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        // The broadcast's folder goes with its last rung.
        if let Some(broadcast) = self.dir.parent() {
            let _ = std::fs::remove_dir(broadcast);
        }
    }
}

/// Empties `broadcasts_dir` of the archives a previous run left (broadcasts do not
/// outlive their server); returns how many it removed.
pub fn clear_leftovers(broadcasts_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(broadcasts_dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("BC_"))
        .filter(|e| std::fs::remove_dir_all(e.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(msn: u64) -> SegmentInfo {
        SegmentInfo {
            msn,
            start: msn as i64 * 2 * hls::TICKS_PER_SECOND,
            duration: 2 * hls::TICKS_PER_SECOND,
        }
    }

    #[test]
    fn the_newest_segments_within_the_window_are_kept_and_the_rest_go() {
        let root = std::env::temp_dir().join(format!("moim-archive-{}", std::process::id()));
        let config = ArchiveConfig::new(&root, "BC_1", Duration::from_secs(5));
        let dir = config.dir.join("sd");
        let mut archive = Archive::create(dir.clone(), config.window, b"init").unwrap();
        assert_eq!(archive.playlist(), None, "nothing to watch back yet");
        for msn in 0..5 {
            archive.keep(segment(msn), &[msn as u8], Some(0));
        }
        // 5 s hold two whole segments of 2 s.
        let playlist = archive.playlist().unwrap();
        assert!(playlist.contains("#EXT-X-MEDIA-SEQUENCE:3\n"), "{playlist}");
        assert!(playlist.ends_with("seg3.m4s\n#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:08.000Z\n#EXTINF:2.00000,\nseg4.m4s\n#EXT-X-ENDLIST\n"), "{playlist}");
        assert_eq!(std::fs::read(dir.join("seg4.m4s")).unwrap(), [4]);
        assert!(!dir.join("seg2.m4s").exists(), "out of the window");
        assert_eq!(archive.path(Resource::Segment(2)), None);
        assert_eq!(
            archive.path(Resource::Segment(3)),
            Some(dir.join("seg3.m4s"))
        );
        assert_eq!(archive.path(Resource::Init), Some(dir.join("init.mp4")));
        drop(archive);
        assert!(!config.dir.exists(), "the broadcast's folder goes with it");

        std::fs::create_dir_all(root.join("BC_2.7/hd")).unwrap();
        std::fs::create_dir_all(root.join("other")).unwrap();
        assert_eq!(clear_leftovers(&root), 1);
        assert!(root.join("other").exists(), "only broadcasts are cleared");
        let _ = std::fs::remove_dir_all(&root);
    }
}
