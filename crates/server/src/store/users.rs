//! Users: who may sign in, with their password's hash, their profile and picture.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, int, new_id, text};

/// A user as the rest of the server sees it (never with the password's hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// The user's id (`U_…`); it never changes.
    pub id: String,
    /// The address the user signs in with, in lower case.
    pub email: String,
    /// The name shown to others.
    pub name: String,
    /// Whether the user manages the other users.
    pub admin: bool,
    /// Whether sign-in is refused (and the user's sessions ended).
    pub disabled: bool,
    /// When the user was added (Unix seconds).
    pub created_at: i64,
}

/// A user with what signing in checks.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    /// The PHC string of the password's argon2id hash; none for a user who only signs in
    /// through the identity provider.
    pub password_hash: Option<String>,
}

/// A user to add.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: Option<&'a str>,
    pub oidc_subject: Option<&'a str>,
    pub admin: bool,
}

/// Why a user was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("a user with this email exists already")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

const COLUMNS: &str = "id, email, name, admin, disabled, created_at";

fn user(row: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: text(row, "id")?,
        email: text(row, "email")?,
        name: text(row, "name")?,
        admin: int(row, "admin")? != 0,
        disabled: int(row, "disabled")? != 0,
        created_at: int(row, "created_at")?,
    })
}

impl Store {
    /// Adds a user (its email already in lower case).
    pub async fn add_user(&self, new: NewUser<'_>, now: i64) -> Result<User, AddError> {
        let id = new_id("U");
        let added = self
            .query(
                "INSERT INTO users (id, email, name, password_hash, oidc_subject, admin, disabled, \
                 created_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
            )
            .bind(&id)
            .bind(new.email)
            .bind(new.name)
            .bind(new.password_hash)
            .bind(new.oidc_subject)
            .bind(i64::from(new.admin))
            .bind(now)
            .bind(now)
            .execute(self.pool())
            .await;
        match added {
            Ok(_) => Ok(User {
                id,
                email: new.email.to_owned(),
                name: new.name.to_owned(),
                admin: new.admin,
                disabled: false,
                created_at: now,
            }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(AddError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// The user with `email` (in lower case) and its password's hash.
    pub async fn credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        let row = self
            .query(&format!(
                "SELECT {COLUMNS}, password_hash FROM users WHERE email = ?"
            ))
            .bind(email)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            Ok(Credentials {
                user: user(&row)?,
                password_hash: row.try_get::<Option<String>, _>("password_hash")?,
            })
        })
        .transpose()
    }

    /// The user the identity provider knows as `subject`.
    pub async fn user_by_subject(&self, subject: &str) -> Result<Option<User>, StoreError> {
        let row = self
            .query(&format!(
                "SELECT {COLUMNS} FROM users WHERE oidc_subject = ?"
            ))
            .bind(subject)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user).transpose()
    }

    /// Links a user to the identity provider's `subject`.
    pub async fn set_subject(&self, id: &str, subject: &str) -> Result<(), StoreError> {
        self.query("UPDATE users SET oidc_subject = ? WHERE id = ?")
            .bind(subject)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The user with id `id`.
    pub async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = self
            .query(&format!("SELECT {COLUMNS} FROM users WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user).transpose()
    }

    /// Up to `limit` users by email, after the email `after`.
    pub async fn users(&self, after: &str, limit: usize) -> Result<Vec<User>, StoreError> {
        let rows = self
            .query(&format!(
                "SELECT {COLUMNS} FROM users WHERE email > ? ORDER BY email LIMIT ?"
            ))
            .bind(after)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(user).collect()
    }

    /// Sets a user's password hash; whether the user exists.
    pub async fn set_password(&self, id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
        self.update(
            self.query("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?")
                .bind(hash)
                .bind(now)
                .bind(id),
        )
        .await
    }

    /// Sets a user's display name; whether the user exists.
    pub async fn set_name(&self, id: &str, name: &str) -> Result<bool, StoreError> {
        self.update(
            self.query("UPDATE users SET name = ? WHERE id = ?")
                .bind(name)
                .bind(id),
        )
        .await
    }

    /// Turns a user's admin role on or off; whether the user exists.
    pub async fn set_admin(&self, id: &str, admin: bool) -> Result<bool, StoreError> {
        self.update(
            self.query("UPDATE users SET admin = ? WHERE id = ?")
                .bind(i64::from(admin))
                .bind(id),
        )
        .await
    }

    /// Disables or enables a user; whether the user exists.
    pub async fn set_disabled(&self, id: &str, disabled: bool) -> Result<bool, StoreError> {
        self.update(
            self.query("UPDATE users SET disabled = ? WHERE id = ?")
                .bind(i64::from(disabled))
                .bind(id),
        )
        .await
    }

    /// Sets a user's picture.
    pub async fn set_avatar(
        &self,
        id: &str,
        content_type: &str,
        bytes: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        // Replace, the same way in the three dialects: delete, then insert, in one
        // transaction.
        let mut tx = self.pool().begin().await?;
        self.query("DELETE FROM avatars WHERE user_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.query(
            "INSERT INTO avatars (user_id, content_type, bytes, updated_at) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(content_type)
        .bind(bytes)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// A user's picture: its content type and bytes.
    pub async fn avatar(&self, id: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row = self
            .query("SELECT content_type, bytes FROM avatars WHERE user_id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| Ok((text(&row, "content_type")?, row.try_get("bytes")?)))
            .transpose()
    }

    /// Runs an update; whether it touched a row.
    async fn update<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<bool, StoreError> {
        Ok(query.execute(self.pool()).await?.rows_affected() > 0)
    }
}
