//! The schema, as numbered migrations applied at start-up.
//!
//! `moim_schema` holds the numbers applied. Servers starting at once on one database take
//! turns: SQLite's write lock (`BEGIN IMMEDIATE`), PostgreSQL's advisory lock, MySQL's
//! named lock. A migration is a list of statements written once, with `{blob}` and
//! `{table}` standing for what the dialects spell differently. Text columns are
//! `VARCHAR`: MySQL's `TEXT` comes back to sqlx's `Any` driver as bytes.

use sqlx::AnyConnection;
use sqlx::Connection;

use super::{Dialect, Store, StoreError, int};
use crate::state::unix_now;

/// The migrations, in order; a migration, once released, never changes.
const MIGRATIONS: &[(i64, &[&str])] = &[
    (
        1,
        &[
            "CREATE TABLE users (
            id VARCHAR(40) PRIMARY KEY,
            email VARCHAR(320) NOT NULL UNIQUE,
            name VARCHAR(200) NOT NULL,
            password_hash VARCHAR(255),
            oidc_subject VARCHAR(255) UNIQUE,
            admin BIGINT NOT NULL,
            disabled BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            password_changed_at BIGINT NOT NULL
        ){table}",
            "CREATE TABLE avatars (
            user_id VARCHAR(40) PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
            content_type VARCHAR(40) NOT NULL,
            bytes {blob} NOT NULL,
            updated_at BIGINT NOT NULL
        ){table}",
            "CREATE TABLE sessions (
            id_hash CHAR(64) PRIMARY KEY,
            user_id VARCHAR(40) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        ){table}",
            "CREATE INDEX sessions_by_user ON sessions (user_id)",
            "CREATE TABLE invites (
            code_hash CHAR(64) PRIMARY KEY,
            email VARCHAR(320) NOT NULL,
            admin BIGINT NOT NULL,
            created_by VARCHAR(40) NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        ){table}",
        ],
    ),
    (
        2,
        &[
            "CREATE TABLE owned_rooms (
                name VARCHAR(64) PRIMARY KEY,
                owner_id VARCHAR(40) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                settings VARCHAR(4000) NOT NULL,
                created_at BIGINT NOT NULL
            ){table}",
            "CREATE INDEX owned_rooms_by_owner ON owned_rooms (owner_id)",
            "CREATE TABLE room_hosts (
                room VARCHAR(64) NOT NULL REFERENCES owned_rooms(name) ON DELETE CASCADE,
                user_id VARCHAR(40) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                PRIMARY KEY (room, user_id)
            ){table}",
            "CREATE INDEX room_hosts_by_user ON room_hosts (user_id)",
        ],
    ),
    (
        3,
        &[
            "CREATE TABLE recordings (
                id VARCHAR(40) PRIMARY KEY,
                room VARCHAR(64) NOT NULL,
                kind VARCHAR(20) NOT NULL,
                status VARCHAR(20) NOT NULL,
                title VARCHAR(200) NOT NULL,
                started_at BIGINT NOT NULL,
                ended_at BIGINT,
                bytes BIGINT NOT NULL
            ){table}",
            "CREATE INDEX recordings_by_room ON recordings (room, started_at)",
            "CREATE INDEX recordings_by_start ON recordings (started_at)",
        ],
    ),
    (
        4,
        &["CREATE TABLE bans (
                room VARCHAR(64) NOT NULL,
                identity VARCHAR(128) NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (room, identity)
            ){table}"],
    ),
    (
        5,
        &[
            "CREATE TABLE transcripts (
                id VARCHAR(40) PRIMARY KEY,
                room VARCHAR(64) NOT NULL,
                ended_at BIGINT NOT NULL,
                body {blob} NOT NULL
            ){table}",
            "CREATE INDEX transcripts_by_room ON transcripts (room, ended_at)",
        ],
    ),
];

/// Applies the migrations `store` lacks.
pub async fn run(store: &Store) -> Result<(), StoreError> {
    let dialect = store.dialect;
    let mut conn = store.pool.acquire().await?;
    sqlx::raw_sql(&spell(
        dialect,
        "CREATE TABLE IF NOT EXISTS moim_schema (
            version BIGINT PRIMARY KEY,
            applied_at BIGINT NOT NULL
        ){table}",
    ))
    .execute(&mut *conn)
    .await?;
    match dialect {
        Dialect::Sqlite => {
            // Readers never wait for the writer (the mode stays with the file). sqlx
            // already has writers wait for each other (other processes on the file too)
            // and turns foreign keys on.
            sqlx::raw_sql("PRAGMA journal_mode = WAL")
                .execute(&mut *conn)
                .await?;
            // The write lock, taken before reading the versions; DDL is transactional.
            sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            let applied = apply(&mut conn, dialect).await;
            let end = if applied.is_ok() {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            sqlx::raw_sql(end).execute(&mut *conn).await?;
            applied
        }
        Dialect::Postgres => {
            // In a block, so that no row of type `void` comes back for the driver to read.
            sqlx::raw_sql("DO $$ BEGIN PERFORM pg_advisory_lock(7880); END $$")
                .execute(&mut *conn)
                .await?;
            let applied = {
                let mut tx = conn.begin().await?;
                let applied = apply(&mut tx, dialect).await;
                if applied.is_ok() {
                    tx.commit().await?;
                }
                applied
            };
            sqlx::raw_sql("DO $$ BEGIN PERFORM pg_advisory_unlock(7880); END $$")
                .execute(&mut *conn)
                .await?;
            applied
        }
        Dialect::Mysql => {
            // DDL commits by itself in MySQL, so a failed migration stays half done and
            // says which statement failed.
            sqlx::raw_sql("SELECT GET_LOCK('moim_schema', 60)")
                .execute(&mut *conn)
                .await?;
            let applied = apply(&mut conn, dialect).await;
            sqlx::raw_sql("SELECT RELEASE_LOCK('moim_schema')")
                .execute(&mut *conn)
                .await?;
            applied
        }
    }
}

/// Applies, on a connection holding the lock, each migration not yet recorded.
async fn apply(conn: &mut AnyConnection, dialect: Dialect) -> Result<(), StoreError> {
    let rows = sqlx::raw_sql("SELECT version FROM moim_schema")
        .fetch_all(&mut *conn)
        .await?;
    let mut applied = Vec::with_capacity(rows.len());
    for row in &rows {
        applied.push(int(row, "version")?);
    }
    for (version, statements) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        for statement in *statements {
            sqlx::raw_sql(&spell(dialect, statement))
                .execute(&mut *conn)
                .await?;
        }
        let record = format!(
            "INSERT INTO moim_schema (version, applied_at) VALUES ({version}, {})",
            unix_now()
        );
        sqlx::raw_sql(&record).execute(&mut *conn).await?;
        tracing::info!(version, "database schema migrated");
    }
    Ok(())
}

/// A statement of [`MIGRATIONS`] in `dialect`'s words.
fn spell(dialect: Dialect, statement: &str) -> String {
    let (blob, table) = match dialect {
        Dialect::Sqlite => ("BLOB", ""),
        Dialect::Postgres => ("BYTEA", ""),
        // Binary collation: names and ids compare as the rest of the server compares them
        // (MySQL's default ignores case and accents).
        Dialect::Mysql => ("MEDIUMBLOB", " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"),
    };
    statement.replace("{blob}", blob).replace("{table}", table)
}
