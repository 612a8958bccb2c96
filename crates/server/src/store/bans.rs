//! Identities hosts banned from rooms: kept so that a ban outlives the meeting and the
//! server's restarts.

use super::{Store, StoreError, text};

impl Store {
    /// Keeps `identity` out of `room` (again: a second ban of the same is no change).
    pub async fn add_ban(&self, room: &str, identity: &str, now: i64) -> Result<(), StoreError> {
        let added = self
            .query("INSERT INTO bans (room, identity, created_at) VALUES (?, ?, ?)")
            .bind(room)
            .bind(identity)
            .bind(now)
            .execute(self.pool())
            .await;
        match added {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Every ban, as (room, identity).
    pub async fn bans(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .query("SELECT room, identity FROM bans")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((text(r, "room")?, text(r, "identity")?)))
            .collect()
    }
}
