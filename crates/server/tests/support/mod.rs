//! Test support: a real `moim` server process on free loopback ports, signaling clients,
//! and WebRTC clients built on str0m that publish synthetic Opus/VP8 frames and count what
//! they receive.

#![allow(dead_code)]

pub mod account;
pub mod broadcast;
pub mod clip;
pub mod cluster;
pub mod databases;
pub mod oidc;
pub mod peer;

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    pub http_port: u16,
    /// The media UDP port.
    pub udp_port: u16,
    /// Where encoders publish over RTMP.
    pub rtmp_port: u16,
    /// Its recordings folder (a fresh temporary one).
    pub recordings: PathBuf,
    /// Where its broadcasts keep what can be watched back (a temporary folder, removed
    /// with it).
    pub broadcasts: PathBuf,
}

impl Server {
    /// Starts the binary in development mode on free ports and waits until it answers.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts the binary with extra environment variables (`MOIM_*` settings), on ports
    /// found free (again on others when a test beside it took one in the meantime, which
    /// makes the server exit at once).
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        Server::start_logging(env, None)
    }

    /// [`Server::start_with`], its log (standard error) written to `log` rather than the
    /// test's own.
    pub fn start_logging(env: &[(&str, &str)], log: Option<&std::path::Path>) -> Server {
        for _ in 0..3 {
            if let Some(server) = Server::try_start(env, log) {
                return server;
            }
        }
        panic!("server did not start on free ports three times");
    }

    fn try_start(env: &[(&str, &str)], log: Option<&std::path::Path>) -> Option<Server> {
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("a log file")),
            None => Stdio::inherit(),
        };
        let http_port = unused_port(|| TcpListener::bind("127.0.0.1:0")?.local_addr());
        let udp_port = unused_port(|| UdpSocket::bind("127.0.0.1:0")?.local_addr());
        let rtmp_port = unused_port(|| TcpListener::bind("127.0.0.1:0")?.local_addr());
        // ICE-TCP's port comes from the same ledger, so that no server of this process
        // listens on a port handed to another.
        let tcp_port = unused_port(|| TcpListener::bind("127.0.0.1:0")?.local_addr());
        let recordings = std::env::temp_dir().join(format!("moim-recordings-{http_port}"));
        let _ = std::fs::remove_dir_all(&recordings);
        let broadcasts = std::env::temp_dir().join(format!("moim-broadcasts-{http_port}"));
        // Each server its own embedded database, unless the test names one.
        let data = std::env::temp_dir().join(format!("moim-data-{http_port}"));
        let _ = std::fs::remove_dir_all(&data);
        let child = Command::new(env!("CARGO_BIN_EXE_moim"))
            .args(["serve", "--http-port", &http_port.to_string()])
            .args(["--udp-port", &udp_port.to_string()])
            .args(["--rtmp-port", &rtmp_port.to_string()])
            .env("MOIM_TCP_ADDR", format!("127.0.0.1:{tcp_port}"))
            // Each TURN server takes a UDP and a TCP port of one number; the many servers
            // these tests run at once have no use for it (turn.rs turns it on).
            .env("MOIM_TURN", "0")
            .env("MOIM_TURN_ADDR", "127.0.0.1:0")
            .env("MOIM_LOG", "warn")
            .env("MOIM_RECORDINGS_DIR", &recordings)
            .env("MOIM_BROADCASTS_DIR", &broadcasts)
            .env("MOIM_DATA_DIR", &data)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("the moim binary starts");
        let mut server = Server {
            child,
            http_port,
            udp_port,
            rtmp_port,
            recordings,
            broadcasts,
        };
        // Until `/healthz` answers, what takes connections on the port may be another
        // process's listener that took it in the meantime, while this server, unable to
        // bind it, exits. Over TLS, a listener on the port is taken for it.
        let tls = env.iter().any(|(name, _)| *name == "MOIM_TLS_CERT");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.healthy(tls) {
            if !server.running() {
                return None;
            }
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// Whether `GET /healthz` on its HTTP port is answered `200` (with `tls`: whether the
    /// port takes connections).
    fn healthy(&self, tls: bool) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.http_port)) else {
            return false;
        };
        if tls {
            return true;
        }
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let mut answer = Vec::new();
        s.write_all(request).is_ok()
            && s.read_to_end(&mut answer).is_ok()
            && answer.starts_with(b"HTTP/1.1 200")
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/rtc", self.http_port)
    }

    /// A token from `moim token`, as a user would mint it.
    pub fn token(&self, room: &str, identity: &str, extra: &[&str]) -> String {
        let mut args = vec!["--room", room, "--identity", identity];
        args.extend_from_slice(extra);
        mint(&args)
    }

    /// A token from `moim token --node-admin`, for the node API.
    pub fn node_admin_token(&self) -> String {
        self.server_token(&["--node-admin"])
    }

    /// A token for no room with the server-wide grants `flags` (`--room-create`, …).
    pub fn server_token(&self, flags: &[&str]) -> String {
        let mut args = vec!["--identity", "ops"];
        args.extend_from_slice(flags);
        mint(&args)
    }

    /// An API request with `token` and a JSON `body` (none when `Null`): the status and
    /// the JSON answer (`Null` when there is none).
    pub fn api(&self, method: &str, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let auth = format!("Bearer {token}");
        let mut headers = vec![("Authorization", auth.as_str())];
        let body = if body.is_null() {
            String::new()
        } else {
            headers.push(("Content-Type", "application/json"));
            body.to_string()
        };
        let (status, response) = self.http(method, path, &headers, &body);
        let text = &response[response.find("\r\n\r\n").map_or(response.len(), |i| i + 4)..];
        (status, serde_json::from_str(text).unwrap_or(Value::Null))
    }

    /// Sends one HTTP/1.1 request and returns (status, headers+body as text).
    pub fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        self.http_bytes(method, path, headers, body.as_bytes())
    }

    /// [`Server::http`] with a body of any bytes.
    pub fn http_bytes(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.http_port)).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut req = req.into_bytes();
        req.extend_from_slice(body);
        s.write_all(&req).unwrap();
        let mut bytes = Vec::new();
        s.read_to_end(&mut bytes).unwrap();
        // Binary bodies (recordings) come back lossily; tests look at headers and JSON.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let status = text[9..12].parse().unwrap();
        (status, text)
    }
}

/// The token `moim token` prints with `args`.
fn mint(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_moim"))
        .arg("token")
        .args(args)
        .output()
        .expect("moim token runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Server {
    /// Kills the process at once (`kill -9`), as a crash would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process has not exited yet.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// The process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits up to `within` for the process to exit.
    pub fn terminate(&mut self, within: Duration) -> bool {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.broadcasts);
    }
}

/// A port the system says is free and that no other test of this process was given: two
/// tests' servers never share one (each would take the other's answers for its own).
pub fn unused_port(bind: impl Fn() -> std::io::Result<std::net::SocketAddr>) -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = bind().expect("a free port").port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A bare signaling connection for protocol-level tests.
pub struct Signal {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Signal {
    pub async fn connect(url: &str) -> Signal {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connects");
        Signal { ws }
    }

    /// A connection whose upgrade request carries `headers` too.
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Signal {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
        let mut request = url.into_client_request().expect("a ws URL");
        for (name, value) in headers {
            request.headers_mut().insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("ws connects");
        Signal { ws }
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("ws send");
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    /// The next JSON message, skipping control frames; `None` when closed.
    pub async fn recv(&mut self) -> Option<Value> {
        let next = self.recv_within(Duration::from_secs(10)).await;
        next.expect("a message within 10 s")
    }

    /// The next JSON message within `within`: `None` when none came in time, `Some(None)`
    /// when the connection closed.
    pub async fn recv_within(&mut self, within: Duration) -> Option<Option<Value>> {
        let next = tokio::time::timeout(within, async {
            while let Some(frame) = self.ws.next().await {
                match frame {
                    Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).unwrap()),
                    Ok(Message::Close(_)) | Err(_) => return None,
                    _ => {}
                }
            }
            None
        });
        next.await.ok()
    }

    /// Waits for a message of `kind`, skipping others.
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let msg = self
                .recv()
                .await
                .unwrap_or_else(|| panic!("closed before {kind}"));
            if msg["type"] == kind {
                return msg;
            }
        }
    }

    /// Whether the server closes the connection within 10 s (messages before it skipped).
    pub async fn recv_closed(&mut self) -> bool {
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(frame) = self.ws.next().await {
                if matches!(frame, Ok(Message::Close(_)) | Err(_)) {
                    return;
                }
            }
        });
        closed.await.is_ok()
    }

    pub async fn join(&mut self, token: &str) -> Value {
        self.send(json!({"type": "join", "v": 1, "token": token, "id": "join"}))
            .await;
        self.recv().await.expect("a reply to join")
    }
}

/// A fresh signaling connection joined to `room` as `identity` (`extra`: `moim token` flags);
/// returns it with the `joined` reply.
/// What a POST of `body` (as SDP) to `path` with `token` answers: the status and the
/// error code.
pub fn post_sdp(server: &Server, path: &str, token: &str, body: &[u8]) -> (u16, String) {
    let auth = format!("Bearer {token}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/sdp"),
    ];
    let (status, text) = server.http_bytes("POST", path, &headers, body);
    let code = text
        .split("\"code\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_owned();
    (status, code)
}

pub async fn joined(
    server: &Server,
    room: &str,
    identity: &str,
    extra: &[&str],
) -> (Signal, Value) {
    let mut signal = Signal::connect(&server.ws_url()).await;
    let reply = signal.join(&server.token(room, identity, extra)).await;
    assert_eq!(reply["type"], "joined", "{reply}");
    (signal, reply)
}

/// Leaves the room and waits for the server to close the connection (a socket dropped
/// instead would keep the participant in the room for a resume).
pub async fn leave(mut signal: Signal) {
    signal.send(json!({"type": "leave"})).await;
    assert!(
        signal.recv_closed().await,
        "the server closes the connection"
    );
}

/// Waits for the next `error` and checks its code and that it has a human sentence.
pub async fn expect_error(signal: &mut Signal, code: &str) -> Value {
    let reply = signal.recv_type("error").await;
    assert_eq!(reply["code"], code, "{reply}");
    assert!(
        reply["message"].as_str().is_some_and(|m| m.len() > 10),
        "a human sentence: {reply}"
    );
    reply
}

/// The JSON body of a raw HTTP response.
pub fn body_json(response: &str) -> Value {
    let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Starts a recording of `kind` in `room` through the room API with a host token;
/// returns that token's header value and the recording's id.
pub fn start_recording(server: &Server, room: &str, kind: &str) -> (String, String) {
    let auth = format!("Bearer {}", server.token(room, "app", &["--host"]));
    let (status, response) = server.http(
        "POST",
        &format!("/api/rooms/{room}/recordings"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &json!({ "kind": kind }).to_string(),
    );
    assert_eq!(status, 201, "{response}");
    let id = body_json(&response)["id"].as_str().unwrap().to_owned();
    (auth, id)
}

/// Stops a recording through the room API; returns its manifest.
pub fn stop_recording(server: &Server, room: &str, auth: &str, id: &str) -> Value {
    let path = format!("/api/rooms/{room}/recordings/{id}");
    let (_, response) = server.http("DELETE", &path, &[("Authorization", auth)], "");
    body_json(&response)
}

/// ffmpeg publishing a test picture of `size` (`640x360`) at 30 fps and a tone over RTMP
/// with `key` as the stream key for `seconds`, in real time; `video` are the encoder's
/// options.
pub fn publish_rtmp(server: &Server, key: &str, seconds: u32, size: &str, video: &[&str]) -> Child {
    let url = format!("rtmp://127.0.0.1:{}/live/{key}", server.rtmp_port);
    Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &seconds.to_string()])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-g", "30"])
        .args(video)
        .args(["-c:a", "aac", "-b:a", "96k", "-f", "flv", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg starts")
}
