//! The recordings index: each server recording's room, kind, status, title, times and
//! size, so that a room's library, a user's quota and the retention sweep never walk the
//! recordings folder. The files themselves stay on disk (`recordings_dir`).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, int, text};

/// A recording as indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedRecording {
    pub id: String,
    pub room: String,
    /// `track`, `participant`, `composite` or `audio_only`.
    pub kind: String,
    /// `recording`, `complete` or `interrupted`, as its manifest says.
    pub status: String,
    pub title: String,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// Its files' size on disk.
    pub bytes: i64,
}

const COLUMNS: &str = "id, room, kind, status, title, started_at, ended_at, bytes";

fn indexed(row: &AnyRow) -> Result<IndexedRecording, StoreError> {
    Ok(IndexedRecording {
        id: text(row, "id")?,
        room: text(row, "room")?,
        kind: text(row, "kind")?,
        status: text(row, "status")?,
        title: text(row, "title")?,
        started_at: int(row, "started_at")?,
        ended_at: row.try_get::<Option<i64>, _>("ended_at")?,
        bytes: int(row, "bytes")?,
    })
}

impl Store {
    /// Indexes a recording, or updates its status, end and size (never its title) while
    /// the index still has it running: a late word of its start never undoes its end.
    pub async fn index_recording(&self, r: &IndexedRecording) -> Result<(), StoreError> {
        let inserted = self
            .query(&format!(
                "INSERT INTO recordings ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(&r.id)
            .bind(&r.room)
            .bind(&r.kind)
            .bind(&r.status)
            .bind(&r.title)
            .bind(r.started_at)
            .bind(r.ended_at)
            .bind(r.bytes)
            .execute(self.pool())
            .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                self.query(
                    "UPDATE recordings SET status = ?, ended_at = ?, bytes = ? \
                     WHERE id = ? AND status = 'recording'",
                )
                .bind(&r.status)
                .bind(r.ended_at)
                .bind(r.bytes)
                .bind(&r.id)
                .execute(self.pool())
                .await?;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// A room's recordings, newest first, at most `limit`.
    pub async fn room_recordings(
        &self,
        room: &str,
        limit: usize,
    ) -> Result<Vec<IndexedRecording>, StoreError> {
        let rows = self
            .query(&format!(
                "SELECT {COLUMNS} FROM recordings WHERE room = ? ORDER BY started_at DESC LIMIT ?"
            ))
            .bind(room)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(indexed).collect()
    }

    /// One recording.
    pub async fn indexed_recording(
        &self,
        id: &str,
    ) -> Result<Option<IndexedRecording>, StoreError> {
        let row = self
            .query(&format!("SELECT {COLUMNS} FROM recordings WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(indexed).transpose()
    }

    /// Renames a recording.
    pub async fn rename_recording(&self, id: &str, title: &str) -> Result<(), StoreError> {
        self.query("UPDATE recordings SET title = ? WHERE id = ?")
            .bind(title)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Takes a recording out of the index.
    pub async fn unindex_recording(&self, id: &str) -> Result<(), StoreError> {
        self.query("DELETE FROM recordings WHERE id = ?")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Up to `limit` finished recordings that started before `cutoff` (milliseconds).
    pub async fn recordings_before(
        &self,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<IndexedRecording>, StoreError> {
        let rows = self
            .query(&format!(
                "SELECT {COLUMNS} FROM recordings WHERE started_at < ? AND status <> 'recording' \
                 ORDER BY started_at LIMIT ?"
            ))
            .bind(cutoff)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(indexed).collect()
    }

    /// The bytes the recordings of the rooms `owner_id` owns take.
    pub async fn owner_recording_bytes(&self, owner_id: &str) -> Result<i64, StoreError> {
        // Summed here: SUM of a BIGINT is a decimal in PostgreSQL and MySQL.
        let rows = self
            .query(
                "SELECT r.bytes FROM recordings r JOIN owned_rooms o ON o.name = r.room \
                 WHERE o.owner_id = ?",
            )
            .bind(owner_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| int(r, "bytes")).sum()
    }
}
