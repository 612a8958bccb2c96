//! A real `redis-server` on a free loopback port, and Moim nodes sharing it.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Server, body_json};

/// A running Redis without persistence, killed on drop.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
}

impl Redis {
    /// Starts `redis-server` on a free port and waits until it answers.
    pub fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Redis { child: None, port };
        redis.restart();
        redis
    }

    /// The URL nodes are given.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (an outage); its data goes with it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (Debian package redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `n` nodes sharing `redis`, each on its own ports.
pub fn nodes(redis: &Redis, n: usize) -> Vec<Server> {
    nodes_with(redis, 0..n, &[])
}

/// Nodes `node-{i}` for each `i` of `ids`, sharing `redis`, with more settings `env`.
pub fn nodes_with(redis: &Redis, ids: std::ops::Range<usize>, env: &[(&str, &str)]) -> Vec<Server> {
    let url = redis.url();
    ids.map(|i| {
        let id = format!("node-{i}");
        let mut all = vec![
            ("MOIM_REDIS_URL", url.as_str()),
            ("MOIM_NODE_ID", id.as_str()),
        ];
        all.extend_from_slice(env);
        Server::start_with(&all)
    })
    .collect()
}

/// `GET /api/nodes` on `server` with a node admin token: the listing.
pub fn list_nodes(server: &Server) -> Value {
    let token = server.node_admin_token();
    let auth = format!("Bearer {token}");
    let (status, response) = server.http("GET", "/api/nodes", &[("Authorization", &auth)], "");
    assert_eq!(status, 200, "{response}");
    body_json(&response)
}

/// The ids of the nodes `server` lists, sorted, or the error it answers.
pub fn node_ids(server: &Server) -> Result<Vec<String>, String> {
    let auth = format!("Bearer {}", server.node_admin_token());
    let (status, response) = server.http("GET", "/api/nodes", &[("Authorization", &auth)], "");
    if status != 200 {
        return Err(response);
    }
    let mut ids: Vec<String> = body_json(&response)["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    Ok(ids)
}

/// Waits until `server` lists exactly `ids`.
pub fn wait_for_nodes(server: &Server, ids: &[&str], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let seen = node_ids(server);
        if seen.as_ref().is_ok_and(|seen| seen == ids) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "nodes listed: {seen:?}, wanted {ids:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
