//! Broadcasts as streamers and viewers use them: an encoder publishes over RTMP, a host
//! makes the room live through the API, and players read the LL-HLS ladder over HTTP
//! (blocking playlist reloads, parts before they exist, every rung decoded by ffprobe);
//! private broadcasts play only under their signed key; the meeting's grid as the source;
//! bad requests get clear errors.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::broadcast::{
    encoder_in, get, preload_hint, probe_size, start, turn, wait_for_segment,
};
use support::{Server, body_json, publish_rtmp};

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

    // The key with its last hex digit changed (to another one than it ends with).
    let last = if key.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &key[..key.len() - 1]);
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

/// The average brightness (0 to 255, 0 is black) of the left and right halves of the middle
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

    // Both cameras are in it, side by side (each once its encoder joined and its decoder
    // answered: on a loaded machine, a few segments in).
    let rung = format!("/hls/grid/{id}/hd/");
    let url = format!("http://127.0.0.1:{}{rung}index.m3u8", server.http_port);
    let mut msn = 3;
    loop {
        wait_for_segment(&server, &rung, msn);
        let (left, right) = halves_brightness(&url);
        println!("segment {msn}: the grid's halves {left:.0} and {right:.0} (black is 0)");
        if left > 40.0 && right > 40.0 {
            break;
        }
        assert!(msn < 15, "both cameras never showed: {left} {right}");
        msn += 2;
    }

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
