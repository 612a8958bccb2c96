//! Broadcasts as streamers and viewers use them: an encoder publishes over RTMP, a host
//! makes the room live through the API, and players read the LL-HLS ladder over HTTP
//! (blocking playlist reloads, parts before they exist, every rung decoded by ffprobe);
//! private broadcasts play only under their signed key; bad requests get clear errors.

mod support;

use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, body_json, publish_rtmp};

/// The tests that run an encoder and a ladder take turns: each needs most of a core.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// An encoder publishing `size` in `room` as identity `studio`, and the host's
/// `Authorization` header value once the encoder is in the room.
fn encoder_in(server: &Server, room: &str, size: &str) -> (Child, String) {
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
fn start(server: &Server, room: &str, auth: &str, body: &Value) -> (u16, Value) {
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
fn get(server: &Server, path: &str) -> (u16, String, String) {
    let (status, response) = server.http("GET", path, &[], "");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// The `URI` of the playlist's preload hint: the part being filled, `part{msn}.{n}.m4s`.
fn preload_hint(playlist: &str) -> (u64, u32) {
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
fn probe_size(url: &str) -> String {
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

#[test]
fn an_encoders_stream_goes_live_over_ll_hls_at_every_rung() {
    let _turn = turn();
    let server = Server::start();
    let (mut encoder, auth) = encoder_in(&server, "show", "1280x720");
    let (status, broadcast) = start(
        &server,
        "show",
        &auth,
        &json!({"source": "studio", "public": true}),
    );
    assert_eq!(status, 201, "{broadcast}");
    let id = broadcast["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("BC_"), "{broadcast}");
    assert_eq!(broadcast["playback"]["hls"], "/hls/show/index.m3u8");
    assert_eq!(broadcast["playback"]["watch"], "/watch/show");
    assert_eq!(broadcast["playback"]["whep"], "/whep/show/studio");
    let (status, again) = start(&server, "show", &auth, &json!({"source": "studio"}));
    assert_eq!(
        (status, &again["code"]),
        (409, &json!("conflict")),
        "{again}"
    );

    // The multivariant playlist waits for the first picture, then lists both rungs.
    let (status, head, multivariant) = get(&server, "/hls/show/index.m3u8");
    assert_eq!(status, 200, "{multivariant}");
    assert!(
        head.contains("content-type: application/vnd.apple.mpegurl"),
        "{head}"
    );
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    assert!(head.contains("cache-control: public, max-age="), "{head}");
    for (size, rung) in [("854x480", "sd"), ("1280x720", "hd")] {
        let inf = format!("RESOLUTION={size},CODECS=\"avc1.");
        assert!(multivariant.contains(&inf), "{multivariant}");
        assert!(
            multivariant.contains(&format!("\n{id}/{rung}/index.m3u8\n")),
            "{multivariant}"
        );
    }
    assert!(multivariant.contains("mp4a.40.2"), "{multivariant}");
    assert!(!multivariant.contains("/fhd/"), "no rung above the source");

    // A media playlist with parts, a preload hint and blocking reload.
    let rung = format!("/hls/show/{id}/sd");
    let (status, head, playlist) = get(&server, &format!("{rung}/index.m3u8"));
    assert_eq!(status, 200, "{playlist}");
    assert!(head.contains("cache-control: public, max-age=1"), "{head}");
    for tag in [
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES",
        "#EXT-X-PART-INF:PART-TARGET=",
        "#EXT-X-MAP:URI=\"init.mp4\"",
        "#EXT-X-PROGRAM-DATE-TIME:",
        "#EXT-X-PART:DURATION=",
    ] {
        assert!(playlist.contains(tag), "{tag} in {playlist}");
    }
    // The hinted part is asked for before it exists, and its playlist with a blocking
    // reload: both are answered once it is published.
    let (msn, part) = preload_hint(&playlist);
    let hinted = format!("{rung}/part{msn}.{part}.m4s");
    let asked = Instant::now();
    let (status, head, _) = get(&server, &hinted);
    assert_eq!(status, 200, "the hinted part {hinted}");
    assert!(
        head.contains("cache-control: public, max-age=31536000, immutable"),
        "{head}"
    );
    assert!(head.contains("content-type: video/mp4"), "{head}");
    let (status, _, reloaded) = get(
        &server,
        &format!("{rung}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
    );
    assert_eq!(status, 200, "{reloaded}");
    assert!(
        reloaded.contains(&format!("URI=\"part{msn}.{part}.m4s\"")),
        "{reloaded}"
    );
    let waited = asked.elapsed();
    println!("the hinted part and its playlist came after {waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");

    // Far in the future: refused at once, not held.
    let asked = Instant::now();
    let (status, _, refusal) = get(&server, &format!("{rung}/index.m3u8?_HLS_msn={}", msn + 50));
    assert_eq!(status, 400, "{refusal}");
    assert!(asked.elapsed() < Duration::from_secs(1));
    let (status, _, _) = get(&server, &format!("{rung}/part{}.0.m4s", msn + 50));
    assert_eq!(status, 400);
    let (status, _, _) = get(&server, &format!("{rung}/index.m3u8?_HLS_part=1"));
    assert_eq!(status, 400, "a part without its segment");
    for missing in [
        format!("/hls/show/{id}/uhd/index.m3u8"),
        "/hls/show/BC_0/sd/index.m3u8".to_owned(),
        format!("{rung}/nothing.ts"),
        "/hls/nobody/index.m3u8".to_owned(),
    ] {
        let (status, _, _) = get(&server, &missing);
        assert_eq!(status, 404, "{missing}");
    }

    // Every rung decodes at its size, read as a player would (ffmpeg starts a live
    // playlist some segments from its end: wait for three).
    for msn in 1..=3 {
        let (status, _, _) = get(&server, &format!("{rung}/index.m3u8?_HLS_msn={msn}"));
        assert_eq!(status, 200, "segment {msn}");
    }
    let base = format!("http://127.0.0.1:{}", server.http_port);
    assert_eq!(probe_size(&format!("{base}{rung}/index.m3u8")), "854,480");
    assert_eq!(
        probe_size(&format!("{base}/hls/show/{id}/hd/index.m3u8")),
        "1280,720"
    );

    // Stopped: the playlists end, and the broadcast is listed as ended.
    let (status, response) = server.http(
        "DELETE",
        &format!("/api/rooms/show/broadcasts/{id}"),
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 200, "{response}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, playlist) = get(&server, &format!("{rung}/index.m3u8"));
        if playlist.ends_with("#EXT-X-ENDLIST\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the playlist never ended: {playlist}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, response) = server.http(
        "GET",
        "/api/rooms/show/broadcasts",
        &[("Authorization", &auth)],
        "",
    );
    let listed = body_json(&response);
    assert_eq!(listed["broadcasts"][0]["state"], "ended", "{listed}");
    let _ = encoder.kill();
    let _ = encoder.wait();
}

#[test]
fn private_broadcasts_play_only_under_their_signed_key() {
    let _turn = turn();
    let server = Server::start();
    let (mut encoder, auth) = encoder_in(&server, "closed", "640x360");
    for (body, code) in [
        (
            json!({"source": "studio", "outputs": []}),
            "malformed_message",
        ),
        (json!({"source": ""}), "malformed_message"),
        (json!({"origin": "studio"}), "malformed_message"),
    ] {
        let (status, refusal) = start(&server, "closed", &auth, &body);
        assert_eq!(
            (status, &refusal["code"]),
            (400, &json!(code)),
            "{body}: {refusal}"
        );
    }
    let viewer = format!("Bearer {}", server.token("closed", "fan", &["--viewer"]));
    let (status, refusal) = start(&server, "closed", &viewer, &json!({"source": "studio"}));
    assert_eq!(status, 403, "{refusal}");

    let (status, broadcast) = start(&server, "closed", &auth, &json!({"source": "studio"}));
    assert_eq!(status, 201, "{broadcast}");
    let hls = broadcast["playback"]["hls"].as_str().unwrap().to_owned();
    assert!(
        broadcast["playback"]["expires_at"].as_u64().is_some(),
        "{broadcast}"
    );
    let key = hls
        .strip_prefix("/hls/closed/")
        .and_then(|rest| rest.strip_suffix("/index.m3u8"))
        .unwrap_or_else(|| panic!("a key in {hls}"));
    let (status, _, multivariant) = get(&server, &hls);
    assert_eq!(status, 200, "{multivariant}");
    let rung = multivariant
        .lines()
        .find(|l| l.ends_with("/index.m3u8"))
        .unwrap()
        .to_owned();
    let (status, _, playlist) = get(&server, &format!("/hls/closed/{key}/{rung}"));
    assert_eq!(status, 200, "{playlist}");

    // The watch page's questions: open with the key only.
    let (status, _, info) = get(&server, &format!("/watch/closed/info?key={key}"));
    assert_eq!(status, 200, "{info}");
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["live"], true, "{info}");
    assert_eq!(info["hls"], hls.as_str(), "{info}");
    assert_eq!(info["source_name"], "studio", "{info}");
    let (status, _, _) = get(&server, "/watch/closed/info");
    assert_eq!(status, 403);
    let (status, _, _) = get(&server, "/watch/elsewhere/info");
    assert_eq!(status, 404);
    let (status, refusal) = server.http(
        "POST",
        "/watch/closed/whep",
        &[("Content-Type", "application/sdp")],
        "v=0",
    );
    assert_eq!(status, 403, "{refusal}");
    let (status, refusal) = server.http(
        "POST",
        &format!("/watch/closed/whep?key={key}"),
        &[("Content-Type", "application/sdp")],
        "v=0",
    );
    assert_eq!(
        status, 400,
        "a key opens it, the offer is refused: {refusal}"
    );
    assert!(refusal.contains("invalid_sdp"), "{refusal}");

    let forged = format!("{}0", &key[..key.len() - 1]);
    for path in [
        "/hls/closed/index.m3u8".to_owned(),
        format!("/hls/closed/{rung}"),
        format!("/hls/closed/{forged}/index.m3u8"),
        format!("/hls/closed/{forged}/{rung}"),
        format!(
            "/hls/closed/1-{}/index.m3u8",
            key.split_once('-').unwrap().1
        ),
    ] {
        let (status, _, refusal) = get(&server, &path);
        assert_eq!(status, 403, "{path}: {refusal}");
        assert!(refusal.contains("permission_denied"), "{refusal}");
    }
    let _ = encoder.kill();
    let _ = encoder.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_goes_live_from_the_meeting_and_everyone_sees_it() {
    let server = Server::start();
    let (mut host, _) = support::joined(&server, "town", "host", &["--host"]).await;
    let (mut guest, _) = support::joined(&server, "town", "guest", &[]).await;

    guest
        .send(json!({"type": "broadcast_start", "id": "b", "source": "guest"}))
        .await;
    support::expect_error(&mut guest, "permission_denied").await;

    host.send(json!({"type": "broadcast_start", "id": "b", "source": "host", "public": true}))
        .await;
    let reply = loop {
        let message = host.recv_type("broadcast").await;
        if message["id"] == "b" {
            break message;
        }
    };
    let id = reply["broadcast"]["id"].as_str().unwrap().to_owned();
    assert_eq!(reply["broadcast"]["source"], "host", "{reply}");
    assert_eq!(reply["playback"]["hls"], "/hls/town/index.m3u8", "{reply}");
    let seen = guest.recv_type("broadcast").await;
    assert_eq!(seen["broadcast"]["id"], id.as_str(), "{seen}");
    assert!(
        seen.get("playback").is_none(),
        "only the host gets the URLs: {seen}"
    );
    let (_, late) = support::joined(&server, "town", "late", &[]).await;
    assert_eq!(late["broadcast"]["id"], id.as_str(), "{late}");

    host.send(json!({"type": "broadcast_start", "id": "again", "source": "host"}))
        .await;
    support::expect_error(&mut host, "conflict").await;
    host.send(json!({"type": "broadcast_stop", "id": "stop"}))
        .await;
    let stopped = guest.recv_type("broadcast").await;
    assert!(stopped.get("broadcast").is_none(), "{stopped}");
    host.send(json!({"type": "broadcast_stop", "id": "stop"}))
        .await;
    support::expect_error(&mut host, "not_found").await;
}

/// The ladder's frames fed so far, from `/metrics`.
fn frames_fed(server: &Server) -> u64 {
    let (_, _, metrics) = get(server, "/metrics");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("moim_broadcast_frames_total{outcome=\"fed\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the ladder's frames in {metrics}"))
}

/// Waits (blocking reloads, one segment at a time) until the playlist at `rung` holds
/// segment `msn`.
fn wait_for_segment(server: &Server, rung: &str, msn: u64) -> String {
    let (_, _, playlist) = get(server, &format!("{rung}index.m3u8"));
    let mut at = preload_hint(&playlist).0;
    loop {
        let (status, _, playlist) = get(server, &format!("{rung}index.m3u8?_HLS_msn={at}"));
        assert_eq!(status, 200, "segment {at}: {playlist}");
        if at >= msn {
            return playlist;
        }
        at += 1;
    }
}

#[test]
fn a_broadcast_goes_on_while_its_encoder_reconnects_and_ends_when_it_stays_away() {
    let _turn = turn();
    // A ladder of its own, from the configuration.
    let server = Server::start_with(&[
        ("MOIM_BROADCAST_SOURCE_GRACE", "6"),
        (
            "MOIM_BROADCAST_RUNGS",
            "low:240:400,mid:360:800,high:720:2500",
        ),
    ]);
    let (mut encoder, auth) = encoder_in(&server, "again", "640x360");
    let (status, broadcast) = start(
        &server,
        "again",
        &auth,
        &json!({"source": "studio", "public": true}),
    );
    assert_eq!(status, 201, "{broadcast}");
    let (_, _, multivariant) = get(&server, "/hls/again/index.m3u8");
    for rung in [
        "RESOLUTION=428x240,",
        "/low/",
        "RESOLUTION=640x360,",
        "/mid/",
    ] {
        assert!(multivariant.contains(rung), "{rung} in {multivariant}");
    }
    assert!(!multivariant.contains("/high/"), "none above the source");
    let uri = multivariant
        .lines()
        .find(|l| l.ends_with("/index.m3u8"))
        .unwrap();
    let rung = format!("/hls/again/{}", uri.trim_end_matches("index.m3u8"));
    let playlist = wait_for_segment(&server, &rung, 1);

    // The encoder drops for three seconds and comes back with the same stream key: its
    // new tracks go on feeding the same stream, on the same timeline (the time it was
    // away shows its last picture, in silence).
    let _ = encoder.kill();
    let _ = encoder.wait();
    let away = preload_hint(&playlist).0;
    std::thread::sleep(Duration::from_secs(3));
    let fed = frames_fed(&server);
    let mut encoder = publish_rtmp(
        &server,
        &server.token("again", "studio", &[]),
        60,
        "640x360",
        &["-bf", "0", "-tune", "zerolatency"],
    );
    let playlist = wait_for_segment(&server, &rung, away + 7);
    assert!(!playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    let back = frames_fed(&server) - fed;
    assert!(
        back > 150,
        "the returned encoder's frames reach the ladder: {back}"
    );

    // Away for good: after the grace period the broadcast stops and its playlists end.
    let _ = encoder.kill();
    let _ = encoder.wait();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, _, playlist) = get(&server, &format!("{rung}index.m3u8"));
        if playlist.ends_with("#EXT-X-ENDLIST\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the playlist never ended: {playlist}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (_, response) = server.http(
        "GET",
        "/api/rooms/again/broadcasts",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(
        body_json(&response)["broadcasts"][0]["state"],
        "ended",
        "{response}"
    );

    // Ended, it plays back whole from a VOD playlist of the segments kept on disk, from
    // the first, which the live window let go long ago.
    let (status, _, vod) = get(&server, &format!("{rung}index.m3u8"));
    assert_eq!(status, 200, "{vod}");
    for tag in [
        "#EXT-X-PLAYLIST-TYPE:VOD\n",
        "#EXT-X-MEDIA-SEQUENCE:0\n",
        "#EXT-X-PROGRAM-DATE-TIME:",
    ] {
        assert!(vod.contains(tag), "{tag} in {vod}");
    }
    assert!(!vod.contains("#EXT-X-PART"), "{vod}");
    let segments = vod.matches("#EXTINF:").count();
    assert!(segments > 8, "more than the live window keeps: {vod}");
    let (status, head, _) = get(&server, &format!("{rung}seg0.m4s"));
    assert_eq!(status, 200, "the first segment, from disk");
    assert!(head.contains("immutable"), "{head}");
    let listed: f64 = vod
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse::<f64>().unwrap())
        .sum();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(format!(
            "http://127.0.0.1:{}{rung}index.m3u8",
            server.http_port
        ))
        .output()
        .expect("ffprobe runs");
    let probed: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    println!("watched back: {segments} segments, {listed:.1} s listed, {probed:.1} s probed");
    assert!((probed - listed).abs() < 2.5, "{probed} vs {listed}");
    let kept = std::fs::read_dir(&server.broadcasts).unwrap().count();
    assert_eq!(kept, 1, "one broadcast's folder in {:?}", server.broadcasts);
}

#[test]
fn a_broadcast_restreams_to_an_rtmp_server_and_shows_how_it_goes() {
    let _turn = turn();
    let server = Server::start();
    let (mut encoder, auth) = encoder_in(&server, "origin", "640x360");
    let relay_key = server.token("relay", "restream", &["--name", "Restream"]);
    let destination = format!("rtmp://127.0.0.1:{}/live/{relay_key}", server.rtmp_port);
    for (body, what) in [
        (
            json!({"source": "studio", "outputs": ["hls", "rtmp"]}),
            "no destination",
        ),
        (
            json!({"source": "studio", "outputs": ["rtmp"], "rtmp_url": "http://example.com/x"}),
            "not RTMP",
        ),
        (
            json!({"source": "studio", "rtmp_url": destination}),
            "a destination without the output",
        ),
    ] {
        let (status, refusal) = start(&server, "origin", &auth, &body);
        assert_eq!(status, 400, "{what}: {refusal}");
    }
    let (status, broadcast) = start(
        &server,
        "origin",
        &auth,
        &json!({"source": "studio", "outputs": ["hls", "rtmp"], "rtmp_url": destination}),
    );
    assert_eq!(status, 201, "{broadcast}");
    let shown = broadcast["restream"]["url"].as_str().unwrap();
    assert_eq!(
        shown,
        format!("rtmp://127.0.0.1:{}/live/…", server.rtmp_port),
        "the stream key is not shown"
    );

    // Moim's own RTMP ingest is the destination: the restream joins room `relay`, whose
    // own broadcast of it then plays.
    let relay_host = format!("Bearer {}", server.token("relay", "host", &["--host"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = start(
            &server,
            "relay",
            &relay_host,
            &json!({"source": "restream", "public": true}),
        );
        if status == 201 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restream never reached room relay"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let multivariant = loop {
        let (status, _, multivariant) = get(&server, "/hls/relay/index.m3u8");
        if status == 200 {
            break multivariant;
        }
        assert!(Instant::now() < deadline, "{multivariant}");
    };
    assert!(
        multivariant.contains("RESOLUTION=640x360"),
        "{multivariant}"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, response) = server.http(
            "GET",
            "/api/rooms/origin/broadcasts",
            &[("Authorization", &auth)],
            "",
        );
        let listed = body_json(&response);
        if listed["broadcasts"][0]["restream"]["state"] == "live" {
            // A loaded machine may start the ladder late: the restream then tries again.
            assert!(
                listed["broadcasts"][0]["restream"]["failures"].is_u64(),
                "{listed}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{listed}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = encoder.kill();
    let _ = encoder.wait();
}

/// The average brightness (luma, 16 is black) of the left and right halves of the middle
/// rows of the newest picture of the playlist at `url`, decoded by ffmpeg as a player.
fn halves_brightness(url: &str) -> (f64, f64) {
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-live_start_index",
            "-1",
            "-i",
            url,
        ])
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg runs");
    let (w, h) = (1280, 720);
    assert_eq!(out.stdout.len(), w * h, "one 1280×720 picture from {url}");
    let mean = |x: std::ops::Range<usize>| {
        let rows = h / 2 - 60..h / 2 + 60;
        let n = (rows.len() * x.len()) as f64;
        let sum: u64 = rows
            .flat_map(|r| x.clone().map(move |c| r * w + c))
            .map(|i| u64::from(out.stdout[i]))
            .sum();
        sum as f64 / n
    };
    (mean(0..w / 2), mean(w / 2..w))
}

#[test]
fn a_host_broadcasts_the_meetings_grid_of_everyones_cameras() {
    let _turn = turn();
    let server = Server::start();
    let (mut studio, auth) = encoder_in(&server, "grid", "640x360");
    let mut guest = publish_rtmp(
        &server,
        &server.token("grid", "guest", &[]),
        60,
        "640x360",
        &["-bf", "0", "-tune", "zerolatency"],
    );
    let (status, broadcast) = start(
        &server,
        "grid",
        &auth,
        &json!({"source": "composite", "public": true}),
    );
    assert_eq!(status, 201, "{broadcast}");
    assert_eq!(broadcast["source"], "composite");
    assert!(
        broadcast["playback"].get("whep").is_none(),
        "the grid plays over HLS only: {broadcast}"
    );
    let id = broadcast["id"].as_str().unwrap().to_owned();

    // The grid is 1280×720, whatever the cameras send: SD and HD rungs.
    let (status, _, multivariant) = get(&server, "/hls/grid/index.m3u8");
    assert_eq!(status, 200, "{multivariant}");
    for size in ["854x480", "1280x720"] {
        assert!(
            multivariant.contains(&format!("RESOLUTION={size},")),
            "{multivariant}"
        );
    }
    assert!(multivariant.contains("mp4a.40.2"), "{multivariant}");

    // Both cameras are in it, side by side.
    let rung = format!("/hls/grid/{id}/hd/");
    wait_for_segment(&server, &rung, 4);
    let url = format!("http://127.0.0.1:{}{rung}index.m3u8", server.http_port);
    let (left, right) = halves_brightness(&url);
    println!("the grid's halves: {left:.0} and {right:.0} (black is 16)");
    assert!(left > 40.0 && right > 40.0, "{left} {right}");

    // The watch page plays it over HLS: no WHEP for a grid.
    let (status, _, info) = get(&server, "/watch/grid/info");
    assert_eq!(status, 200, "{info}");
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["whep"], Value::Null, "{info}");
    assert_eq!(info["hls"], "/hls/grid/index.m3u8", "{info}");
    let (status, refusal) = server.http(
        "POST",
        "/watch/grid/whep",
        &[("Content-Type", "application/sdp")],
        "v=0\r\n",
    );
    assert_eq!(status, 404, "{refusal}");
    assert!(refusal.contains("HLS only"), "{refusal}");

    for encoder in [&mut studio, &mut guest] {
        let _ = encoder.kill();
        let _ = encoder.wait();
    }
}

#[test]
fn a_server_that_stops_ends_its_broadcasts_and_leaves_no_ffmpeg_behind() {
    let _turn = turn();
    let mut server = Server::start();
    let (mut encoder, auth) = encoder_in(&server, "closing", "640x360");
    let relay_key = server.token("relay", "restream", &[]);
    let destination = format!("rtmp://127.0.0.1:{}/live/{relay_key}", server.rtmp_port);
    let (status, broadcast) = start(
        &server,
        "closing",
        &auth,
        &json!({"source": "studio", "outputs": ["hls", "rtmp"], "rtmp_url": destination, "public": true}),
    );
    assert_eq!(status, 201, "{broadcast}");
    let id = broadcast["id"].as_str().unwrap();
    let (status, _, _) = get(&server, "/hls/closing/index.m3u8");
    assert_eq!(status, 200, "the ladder started");
    wait_for_segment(&server, &format!("/hls/closing/{id}/sd/"), 2);
    // The ladder's ffmpeg and the restream's, at least.
    let out = Command::new("pgrep")
        .args(["-P", &server.pid().to_string()])
        .output()
        .unwrap();
    let children: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert!(children.len() >= 2, "ffmpeg children: {children:?}");

    assert!(
        server.terminate(Duration::from_secs(25)),
        "the server exits"
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    let left = loop {
        let left: Vec<&String> = children
            .iter()
            .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(left.is_empty(), "children left running: {left:?}");
    let _ = encoder.kill();
    let _ = encoder.wait();
}
