//! A real `redis-server` on a free loopback port (or a Redis Cluster, or a master with a
//! replica and a Sentinel), and Moim nodes sharing it.

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
        for _ in 0..5 {
            let mut redis = Redis {
                child: None,
                port: free_port(),
            };
            redis.restart();
            if redis.child.as_mut().is_some_and(still_running) {
                return redis;
            }
        }
        panic!("no free port was left free long enough for redis-server");
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
        wait_for_port(self.port);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free loopback TCP port.
fn free_port() -> u16 {
    super::unused_port(|| TcpListener::bind("127.0.0.1:0")?.local_addr())
}

/// Waits until something listens on loopback `port`.
fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes killed on drop, with their folder.
pub struct Processes {
    children: Vec<Child>,
    pub ports: Vec<u16>,
    dir: std::path::PathBuf,
}

impl Processes {
    /// Kills the process listening on `ports[i]`.
    pub fn kill(&mut self, i: usize) {
        let _ = self.children[i].kill();
        let _ = self.children[i].wait();
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether `child`, which something answers for on its port, is still running: a port
/// found free may be taken by a test running beside this one before `child` binds it,
/// and then `child` exits while the other process answers.
fn still_running(child: &mut Child) -> bool {
    std::thread::sleep(Duration::from_millis(100));
    child.try_wait().unwrap().is_none()
}

/// `redis-server` with `args` in `dir` on a free port, answering.
fn redis_server(dir: &std::path::Path, args: &[&str]) -> (Child, u16) {
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new("redis-server")
            .args(args)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (Debian package redis-server)");
        wait_for_port(port);
        if still_running(&mut child) {
            return (child, port);
        }
    }
    panic!("no free port was left free long enough for redis-server");
}

pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("moim-{name}-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A Redis Cluster of three masters; `redis+cluster://` with all three.
pub fn redis_cluster() -> (Processes, String) {
    let dir = scratch("redis-cluster");
    let (children, ports): (Vec<Child>, Vec<u16>) = (0..3)
        .map(|i| {
            let conf = format!("nodes-{i}.conf");
            redis_server(
                &dir,
                &["--cluster-enabled", "yes", "--cluster-config-file", &conf],
            )
        })
        .unzip();
    let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli runs");
    assert!(created.status.success(), "{created:?}");
    // The cluster takes its slots in a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = Command::new("redis-cli")
            .args(["-p", &ports[0].to_string(), "cluster", "info"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
            break;
        }
        assert!(Instant::now() < deadline, "the Redis Cluster did not form");
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("redis+cluster://{}", addresses.join(","));
    (
        Processes {
            children,
            ports,
            dir,
        },
        url,
    )
}

/// A master (`ports[0]`), its replica (`ports[1]`) and one Sentinel watching them
/// (`ports[2]`, quick to fail over); `redis+sentinel://` for service `moim`.
pub fn redis_with_sentinel() -> (Processes, String) {
    let dir = scratch("redis-sentinel");
    let (master, master_port) = redis_server(&dir, &[]);
    let (replica, replica_port) = redis_server(
        &dir,
        &["--replicaof", "127.0.0.1", &master_port.to_string()],
    );
    let sentinel_port = free_port();
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {sentinel_port}\nbind 127.0.0.1\n\
             sentinel monitor moim 127.0.0.1 {master_port} 1\n\
             sentinel down-after-milliseconds moim 500\n\
             sentinel failover-timeout moim 2000\n"
        ),
    )
    .unwrap();
    let mut sentinel = Command::new("redis-server")
        .arg(&conf)
        .arg("--sentinel")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs as a Sentinel");
    wait_for_port(sentinel_port);
    assert!(
        still_running(&mut sentinel),
        "the Sentinel's port was taken"
    );
    let url = format!("redis+sentinel://127.0.0.1:{sentinel_port}/moim");
    (
        Processes {
            children: vec![master, replica, sentinel],
            ports: vec![master_port, replica_port, sentinel_port],
            dir,
        },
        url,
    )
}

/// A self-signed certificate for 127.0.0.1 and its key, made in `dir`: `(cert, key)`.
pub fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        // A server's certificate, not an authority's (which TLS clients refuse to meet as
        // a server's).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{made:?}");
    (cert, key)
}

/// A TLS front on 127.0.0.1 with `cert` and `key`, as a reverse proxy in front of a node
/// would be: its port, and where to send the port of the HTTP server it passes each
/// connection on to (it accepts none before). It runs as long as the test's runtime.
pub async fn tls_front(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> (u16, tokio::sync::oneshot::Sender<u16>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|c| c.collect::<Result<Vec<_>, _>>())
        .expect("the certificate reads");
    let key = PrivateKeyDer::from_pem_file(key).expect("the key reads");
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a certificate to serve");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (target, behind) = tokio::sync::oneshot::channel::<u16>();
    tokio::spawn(async move {
        let Ok(behind) = behind.await else { return };
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut http) = tokio::net::TcpStream::connect(("127.0.0.1", behind)).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut http).await;
                }
            });
        }
    });
    (port, target)
}

/// A Redis that speaks only TLS, with a self-signed certificate for 127.0.0.1; its
/// `rediss://` URL and the certificate's file (for `SSL_CERT_FILE`).
pub fn redis_over_tls() -> (Processes, String, String) {
    let dir = scratch("redis-tls");
    let (cert, key) = self_signed(&dir);
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .arg("--tls-cert-file")
        .arg(&cert)
        .arg("--tls-key-file")
        .arg(&key)
        .args([
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    wait_for_port(port);
    let cert = cert.to_string_lossy().into_owned();
    (
        Processes {
            children: vec![child],
            ports: vec![port],
            dir,
        },
        format!("rediss://127.0.0.1:{port}"),
        cert,
    )
}

/// `n` nodes sharing `redis`, each on its own ports.
pub fn nodes(redis: &Redis, n: usize) -> Vec<Server> {
    nodes_with(redis, 0..n, &[])
}

/// Nodes `node-{i}` for each `i` of `ids`, sharing `redis`, with more settings `env`.
pub fn nodes_with(redis: &Redis, ids: std::ops::Range<usize>, env: &[(&str, &str)]) -> Vec<Server> {
    nodes_at(&redis.url(), ids, env)
}

/// Nodes `node-{i}` for each `i` of `ids`, sharing the Redis of `url`, with more settings
/// `env`. Participants are sent to their room's node (`moved`) unless `env` turns
/// `MOIM_SPAN_ROOMS` on: the tests of placement see where rooms go that way.
pub fn nodes_at(url: &str, ids: std::ops::Range<usize>, env: &[(&str, &str)]) -> Vec<Server> {
    ids.map(|i| {
        let id = format!("node-{i}");
        let mut all = vec![
            ("MOIM_REDIS_URL", url),
            ("MOIM_NODE_ID", id.as_str()),
            ("MOIM_SPAN_ROOMS", "0"),
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
