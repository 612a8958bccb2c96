//! Broadcast test support: an RTMP encoder in a room, the broadcasts API, LL-HLS reads as
//! a player makes them, and `ffprobe`.

use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Server, body_json, publish_rtmp};

/// The tests that run an encoder and a ladder take turns: each needs most of a core.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub fn turn() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// An encoder publishing `size` in `room` as identity `studio`, and the host's
/// `Authorization` header value once the encoder is in the room.
pub fn encoder_in(server: &Server, room: &str, size: &str) -> (Child, String) {
    let encoder = publish_rtmp(
        server,
        &server.token(room, "studio", &[]),
        60,
        size,
        &["-bf", "0", "-tune", "zerolatency"],
    );
    let auth = format!("Bearer {}", server.token(room, "host", &["--host"]));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = server.http(
            "GET",
            &format!("/api/rooms/{room}/waiting"),
            &[("Authorization", &auth)],
            "",
        );
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the encoder never joined");
        std::thread::sleep(Duration::from_millis(200));
    }
    (encoder, auth)
}

/// `POST /api/rooms/{room}/broadcasts` with `body`: status and JSON answer.
pub fn start(server: &Server, room: &str, auth: &str, body: &Value) -> (u16, Value) {
    let (status, response) = server.http(
        "POST",
        &format!("/api/rooms/{room}/broadcasts"),
        &[
            ("Authorization", auth),
            ("Content-Type", "application/json"),
        ],
        &body.to_string(),
    );
    (status, body_json(&response))
}

/// A GET's status, headers (lowercase names) and body.
pub fn get(server: &Server, path: &str) -> (u16, String, String) {
    let (status, response) = server.http("GET", path, &[], "");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// The folder of the multivariant playlist's first (lowest) rung in a public broadcast
/// of `room`: `/hls/{room}/{…}/`, where its `index.m3u8` and files are.
pub fn lowest_rung(multivariant: &str, room: &str) -> String {
    let uri = multivariant
        .lines()
        .find(|l| l.ends_with("/index.m3u8"))
        .unwrap_or_else(|| panic!("a rung in {multivariant}"));
    format!("/hls/{room}/{}", uri.trim_end_matches("index.m3u8"))
}

/// The `URI` of the playlist's preload hint: the part being filled, `part{msn}.{n}.m4s`.
pub fn preload_hint(playlist: &str) -> (u64, u32) {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))
        .unwrap_or_else(|| panic!("a preload hint in {playlist}"));
    let name = line.split("URI=\"part").nth(1).unwrap();
    let (msn, rest) = name.split_once('.').unwrap();
    let part = rest.split_once('.').unwrap().0;
    (msn.parse().unwrap(), part.parse().unwrap())
}

/// ffprobe's width and height of the first video stream at `url`.
pub fn probe_size(url: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=width,height", "-of", "csv=p=0"])
        .arg(url)
        .output()
        .expect("ffprobe runs");
    // HLS streams are listed under their program too: the first line says it.
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().unwrap_or_default().trim().to_owned()
}

/// The ladder's frames fed so far, from `/metrics`.
pub fn frames_fed(server: &Server) -> u64 {
    let (_, _, metrics) = get(server, "/metrics");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("moim_broadcast_frames_total{outcome=\"fed\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the ladder's frames in {metrics}"))
}

/// How long [`wait_for_segment`] waits for one segment: a source that comes back, or a
/// transcoder that starts, on a busy machine can take longer than one held reload.
const SEGMENT_WAIT: Duration = Duration::from_secs(30);

/// Waits (blocking reloads, one segment at a time) until the playlist at `rung` holds
/// segment `msn`. Like a player, it asks again when a held reload ends with nothing new
/// (503, after the server's hold limit), for up to [`SEGMENT_WAIT`] per segment.
pub fn wait_for_segment(server: &Server, rung: &str, msn: u64) -> String {
    let (_, _, playlist) = get(server, &format!("{rung}index.m3u8"));
    let mut at = preload_hint(&playlist).0;
    let mut since = Instant::now();
    loop {
        let (status, _, playlist) = get(server, &format!("{rung}index.m3u8?_HLS_msn={at}"));
        if status == 503 && since.elapsed() < SEGMENT_WAIT {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        assert_eq!(status, 200, "segment {at}: {playlist}");
        if at >= msn {
            return playlist;
        }
        at += 1;
        since = Instant::now();
    }
}
