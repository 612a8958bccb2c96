//! The chats of ended meetings that owned rooms keep (their `keep_chat` setting), as
//! text, in the room's library.

use sqlx::Row;

use super::{Store, StoreError, int, text};

/// A kept chat, without its text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct KeptChat {
    pub id: String,
    pub room: String,
    /// When the meeting ended, in milliseconds since the Unix epoch.
    pub ended_at: i64,
}

impl Store {
    /// Keeps the text of a meeting's chat.
    pub async fn add_transcript(
        &self,
        id: &str,
        room: &str,
        ended_at: i64,
        body: &[u8],
    ) -> Result<(), StoreError> {
        self.query("INSERT INTO transcripts (id, room, ended_at, body) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(room)
            .bind(ended_at)
            .bind(body)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A room's kept chats, newest first, at most `limit`.
    pub async fn room_transcripts(
        &self,
        room: &str,
        limit: usize,
    ) -> Result<Vec<KeptChat>, StoreError> {
        let rows = self
            .query(
                "SELECT id, room, ended_at FROM transcripts WHERE room = ? \
                 ORDER BY ended_at DESC LIMIT ?",
            )
            .bind(room)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(KeptChat {
                    id: text(r, "id")?,
                    room: text(r, "room")?,
                    ended_at: int(r, "ended_at")?,
                })
            })
            .collect()
    }

    /// A kept chat and its text.
    pub async fn transcript(&self, id: &str) -> Result<Option<(KeptChat, Vec<u8>)>, StoreError> {
        let row = self
            .query("SELECT id, room, ended_at, body FROM transcripts WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok((
                KeptChat {
                    id: text(&r, "id")?,
                    room: text(&r, "room")?,
                    ended_at: int(&r, "ended_at")?,
                },
                r.try_get::<Vec<u8>, _>("body")?,
            ))
        })
        .transpose()
    }

    /// Forgets a kept chat.
    pub async fn delete_transcript(&self, id: &str) -> Result<(), StoreError> {
        self.query("DELETE FROM transcripts WHERE id = ?")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
