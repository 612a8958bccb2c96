//! The store: what must outlive a restart (users, their sign-in sessions, invitations,
//! owned rooms), in SQLite by default (a file in the data directory) or in PostgreSQL or
//! MySQL/MariaDB named by `database_url`.
//!
//! One pool of sqlx's `Any` driver serves all three. Statements are written once, with `?`
//! placeholders, and numbered for PostgreSQL ([`Dialect::statement`]). Columns keep to what
//! all three read alike: text, 64-bit integers (times in Unix seconds, flags as 0/1) and
//! bytes; ids are made here, not by the database.

pub mod bans;
mod migrate;
pub mod recordings;
pub mod rooms;
pub mod sessions;
pub mod transcripts;
pub mod users;

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// Which database a URL names; the few statements that differ (the schema, upserts) and
/// the placeholders depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl Dialect {
    /// The dialect of a `database_url`, from its scheme.
    pub fn of(url: &str) -> Result<Dialect, String> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Dialect::Sqlite),
            "postgres" | "postgresql" => Ok(Dialect::Postgres),
            "mysql" | "mariadb" => Ok(Dialect::Mysql),
            _ => Err(format!(
                "database_url must start with sqlite:, postgres:, postgresql:, mysql: or mariadb:, not {scheme:?}"
            )),
        }
    }

    /// `sql` with its `?` placeholders as this dialect takes them: `$1`, `$2`, … for
    /// PostgreSQL (no statement here has a `?` inside a string literal).
    pub fn statement(self, sql: &str) -> Cow<'_, str> {
        if self != Dialect::Postgres || !sql.contains('?') {
            return Cow::Borrowed(sql);
        }
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    }
}

/// The database, open and migrated.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

/// A failure of the database, for the log; a client hears [`internal`].
pub type StoreError = sqlx::Error;

impl Store {
    /// Opens the database at `url` (or, without one, `moim.db` in `data_dir`, made if
    /// missing) and brings its schema up to date.
    pub async fn open(url: Option<&str>, data_dir: &Path) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let url = match url {
            Some(url) => url.to_owned(),
            None => {
                std::fs::create_dir_all(data_dir).with_context(|| {
                    format!("cannot make the data directory {}", data_dir.display())
                })?;
                let file = data_dir.join("moim.db");
                format!("sqlite://{}?mode=rwc", file.display())
            }
        };
        let dialect = Dialect::of(&url).map_err(anyhow::Error::msg)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await
            .with_context(|| format!("cannot open the database {}", redact(&url)))?;
        let store = Store { pool, dialect };
        migrate::run(&store)
            .await
            .with_context(|| format!("cannot migrate the database {}", redact(&url)))?;
        Ok(store)
    }

    /// A statement of this store's dialect, ready for its binds.
    fn query<'q>(
        &self,
        sql: &'q str,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        match self.dialect.statement(sql) {
            Cow::Borrowed(sql) => sqlx::query(sql),
            // Numbered statements are few and made once per call site's text; keeping
            // them for the process's life lets sqlx cache their preparation.
            Cow::Owned(sql) => sqlx::query(numbered(sql)),
        }
    }

    /// The pool, for statements made by [`Store::query`].
    fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// The PostgreSQL form of a statement, made once per distinct text.
fn numbered(sql: String) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(known) = seen.get(sql.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(sql.into_boxed_str());
    seen.insert(leaked);
    leaked
}

/// A database URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// What a client hears when the database failed it; the failure itself is logged.
pub fn internal(error: StoreError) -> ApiError {
    tracing::error!(%error, "database");
    ApiError::new(
        ErrorCode::Internal,
        "The server could not reach its database; try again in a moment.",
    )
}

/// Reads a text column.
fn text(row: &AnyRow, column: &str) -> Result<String, StoreError> {
    row.try_get::<String, _>(column)
}

/// Reads a whole-number column (times, counts, 0/1 flags).
fn int(row: &AnyRow, column: &str) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(column)
}

/// A new random id with a prefix saying what it names (`U_…`, `R_…`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:024x}", rand::random::<u128>() >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        let sql = "SELECT a FROM t WHERE b = ? AND c = ?";
        assert_eq!(Dialect::Sqlite.statement(sql), sql);
        assert_eq!(Dialect::Mysql.statement(sql), sql);
        assert_eq!(
            Dialect::Postgres.statement(sql),
            "SELECT a FROM t WHERE b = $1 AND c = $2"
        );
    }

    #[test]
    fn urls_name_their_dialect_and_lose_their_password_in_messages() {
        assert_eq!(Dialect::of("sqlite://x.db"), Ok(Dialect::Sqlite));
        assert_eq!(Dialect::of("postgres://h/db"), Ok(Dialect::Postgres));
        assert_eq!(Dialect::of("mariadb://h/db"), Ok(Dialect::Mysql));
        assert!(Dialect::of("redis://h").unwrap_err().contains("\"redis\""));
        assert_eq!(
            redact("postgres://moim:hunter2@db:5432/moim"),
            "postgres://moim:***@db:5432/moim"
        );
        assert_eq!(redact("sqlite://data/moim.db"), "sqlite://data/moim.db");
    }
}
