//! Sign-in sessions and invitations: both are secrets handed to a browser or a person,
//! kept here only as their SHA-256, so that a copy of the database opens no account.

use super::users::User;
use super::{Store, StoreError, int, text};

impl Store {
    /// Records a session of `user_id` whose secret hashes to `id_hash`.
    pub async fn add_session(
        &self,
        id_hash: &str,
        user_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.query(
            "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The user of a live session: not expired, the user not disabled.
    pub async fn session_user(&self, id_hash: &str, now: i64) -> Result<Option<User>, StoreError> {
        let row = self
            .query(
                "SELECT u.id, u.email, u.name, u.admin, u.disabled, u.created_at \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.id_hash = ? AND s.expires_at > ? AND u.disabled = 0",
            )
            .bind(id_hash)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            Ok(User {
                id: text(&row, "id")?,
                email: text(&row, "email")?,
                name: text(&row, "name")?,
                admin: int(&row, "admin")? != 0,
                disabled: false,
                created_at: int(&row, "created_at")?,
            })
        })
        .transpose()
    }

    /// Ends one session.
    pub async fn end_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of a user but `keep` (a hash, or none); how many ended.
    pub async fn end_sessions_of(&self, user_id: &str, keep: &str) -> Result<u64, StoreError> {
        let done = self
            .query("DELETE FROM sessions WHERE user_id = ? AND id_hash <> ?")
            .bind(user_id)
            .bind(keep)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Forgets sessions that expired before `now`.
    pub async fn end_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let done = self
            .query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Records an invitation for `email`, its code hashing to `code_hash`.
    pub async fn add_invite(
        &self,
        code_hash: &str,
        email: &str,
        admin: bool,
        created_by: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.query(
            "INSERT INTO invites (code_hash, email, admin, created_by, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(code_hash)
        .bind(email)
        .bind(i64::from(admin))
        .bind(created_by)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A live invitation: its email and whether it makes an admin.
    pub async fn invite(
        &self,
        code_hash: &str,
        now: i64,
    ) -> Result<Option<(String, bool)>, StoreError> {
        let row = self
            .query("SELECT email, admin FROM invites WHERE code_hash = ? AND expires_at > ?")
            .bind(code_hash)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| Ok((text(&row, "email")?, int(&row, "admin")? != 0)))
            .transpose()
    }

    /// Uses up an invitation.
    pub async fn delete_invite(&self, code_hash: &str) -> Result<(), StoreError> {
        self.query("DELETE FROM invites WHERE code_hash = ?")
            .bind(code_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
