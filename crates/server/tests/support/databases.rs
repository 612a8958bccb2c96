//! Real database servers for the store's tests: Debian's PostgreSQL and MariaDB, each
//! started as `nobody` in a directory of its own on a free loopback port, and stopped on
//! drop. The test command installs their packages.

use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::unused_port;

const NOBODY: u32 = 65534;

/// A database a server can be pointed at with `MOIM_DATABASE_URL`.
pub struct Database {
    /// What `MOIM_DATABASE_URL` names.
    pub url: String,
    /// Which it is, for messages.
    pub kind: &'static str,
    child: Option<Child>,
    dir: PathBuf,
}

impl Database {
    /// An SQLite file of its own.
    pub fn sqlite() -> Database {
        let dir = fresh_dir("sqlite");
        Database {
            url: format!("sqlite://{}/moim.db?mode=rwc", dir.display()),
            kind: "SQLite",
            child: None,
            dir,
        }
    }

    /// A PostgreSQL server of its own (user `moim`, trusted on loopback).
    pub fn postgres() -> Database {
        let bin = postgres_bin();
        let dir = fresh_dir("postgres");
        let data = dir.join("data");
        run_as_nobody(
            Command::new(bin.join("initdb"))
                .args(["-A", "trust", "-U", "moim", "-D"])
                .arg(&data),
        );
        let port = unused_port(|| std::net::TcpListener::bind("127.0.0.1:0")?.local_addr());
        let child = as_nobody(
            Command::new(bin.join("postgres"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-p",
                    &port.to_string(),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-k",
                ]),
        )
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres starts");
        let db = Database {
            url: format!("postgres://moim@127.0.0.1:{port}/postgres"),
            kind: "PostgreSQL",
            child: Some(child),
            dir,
        };
        wait_until("PostgreSQL", || {
            Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success())
        });
        db
    }

    /// A MariaDB server of its own (user `root` without a password on loopback, database
    /// `moim`).
    pub fn mariadb() -> Database {
        let dir = fresh_dir("mariadb");
        let data = dir.join("data");
        run_as_nobody(
            Command::new("mariadb-install-db")
                .args([
                    "--no-defaults",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ])
                .arg(format!("--datadir={}", data.display())),
        );
        let port = unused_port(|| std::net::TcpListener::bind("127.0.0.1:0")?.local_addr());
        let child = as_nobody(Command::new("mariadbd").args([
            "--no-defaults".to_owned(),
            format!("--datadir={}", data.display()),
            format!("--socket={}/mysqld.sock", dir.display()),
            format!("--port={port}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--skip-name-resolve".to_owned(),
            "--innodb-flush-log-at-trx-commit=0".to_owned(),
        ]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mariadbd starts");
        let db = Database {
            url: format!("mysql://root@127.0.0.1:{port}/moim"),
            kind: "MariaDB",
            child: Some(child),
            dir,
        };
        let client = |sql: &str| {
            Command::new("mariadb")
                .args(["--no-defaults", "-h", "127.0.0.1", "-u", "root"])
                .arg(format!("-P{port}"))
                .args(["-e", sql])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        wait_until("MariaDB", || client("SELECT 1"));
        assert!(client("CREATE DATABASE moim CHARACTER SET utf8mb4"));
        db
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Debian's PostgreSQL binaries (`/usr/lib/postgresql/<version>/bin`).
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (apt-get install postgresql; scripts/test.sh does)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL server binary")
}

/// A new empty directory that `nobody` owns.
fn fresh_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "moim-{kind}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    dir
}

/// The command, to be run as `nobody` (the database servers refuse root) from a
/// directory it may read.
fn as_nobody(command: &mut Command) -> &mut Command {
    command.uid(NOBODY).gid(NOBODY).current_dir(Path::new("/"))
}

fn run_as_nobody(command: &mut Command) {
    let out = as_nobody(command).output().expect("the command runs");
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}
