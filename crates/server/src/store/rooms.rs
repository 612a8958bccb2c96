//! Rooms that users own: a stable name, its owner, the co-hosts the owner named, and the
//! settings a meeting in it starts with (kept as JSON, which the three dialects store
//! alike and which grows without a migration).

use super::{Store, StoreError, int, text};

/// A room a user owns, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRoom {
    pub name: String,
    pub owner_id: String,
    /// The settings, as JSON (`account::rooms::RoomDefaults`).
    pub settings: String,
    pub created_at: i64,
    /// The co-hosts' user ids.
    pub hosts: Vec<String>,
}

/// Why a room was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddRoomError {
    #[error("a room of this name exists already")]
    Taken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Adds a room owned by `owner_id`.
    pub async fn add_room(
        &self,
        name: &str,
        owner_id: &str,
        settings: &str,
        now: i64,
    ) -> Result<(), AddRoomError> {
        let added = self
            .query(
                "INSERT INTO owned_rooms (name, owner_id, settings, created_at) VALUES (?, ?, ?, ?)",
            )
            .bind(name)
            .bind(owner_id)
            .bind(settings)
            .bind(now)
            .execute(self.pool())
            .await;
        match added {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(AddRoomError::Taken),
            Err(e) => Err(e.into()),
        }
    }

    /// The owned room `name`, with its co-hosts.
    pub async fn owned_room(&self, name: &str) -> Result<Option<OwnedRoom>, StoreError> {
        let row = self
            .query("SELECT name, owner_id, settings, created_at FROM owned_rooms WHERE name = ?")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let hosts = self
            .query("SELECT user_id FROM room_hosts WHERE room = ? ORDER BY user_id")
            .bind(name)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| text(r, "user_id"))
            .collect::<Result<_, _>>()?;
        Ok(Some(OwnedRoom {
            name: text(&row, "name")?,
            owner_id: text(&row, "owner_id")?,
            settings: text(&row, "settings")?,
            created_at: int(&row, "created_at")?,
            hosts,
        }))
    }

    /// The rooms `user_id` owns or co-hosts, by name (co-hosts not filled in).
    pub async fn rooms_of(&self, user_id: &str) -> Result<Vec<OwnedRoom>, StoreError> {
        let rows = self
            .query(
                "SELECT name, owner_id, settings, created_at FROM owned_rooms \
                 WHERE owner_id = ? OR name IN (SELECT room FROM room_hosts WHERE user_id = ?) \
                 ORDER BY name",
            )
            .bind(user_id)
            .bind(user_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(OwnedRoom {
                    name: text(row, "name")?,
                    owner_id: text(row, "owner_id")?,
                    settings: text(row, "settings")?,
                    created_at: int(row, "created_at")?,
                    hosts: Vec::new(),
                })
            })
            .collect()
    }

    /// Replaces a room's settings.
    pub async fn set_room_settings(&self, name: &str, settings: &str) -> Result<(), StoreError> {
        self.query("UPDATE owned_rooms SET settings = ? WHERE name = ?")
            .bind(settings)
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Replaces a room's co-hosts.
    pub async fn set_room_hosts(&self, name: &str, hosts: &[String]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        self.query("DELETE FROM room_hosts WHERE room = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        for host in hosts {
            self.query("INSERT INTO room_hosts (room, user_id) VALUES (?, ?)")
                .bind(name)
                .bind(host)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// Forgets a room (its co-hosts with it).
    pub async fn delete_room(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        // Deleted first, whether or not the database enforces the foreign key's cascade.
        self.query("DELETE FROM room_hosts WHERE room = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        self.query("DELETE FROM owned_rooms WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}
