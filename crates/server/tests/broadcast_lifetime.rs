//! A broadcast over its life: its encoder drops and comes back (in the same codec or in
//! another), it ends and is watched back from what was kept on disk, it is restreamed to
//! an RTMP server, and a server told to stop ends it and leaves no ffmpeg behind.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use support::broadcast::{
    encoder_in, frames_fed, get, lowest_rung, preload_hint, start, turn, wait_for_segment,
};
use support::clip::Clip;
use support::peer::Peer;
use support::{Server, body_json, publish_rtmp};

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
    let rung = lowest_rung(&multivariant, "again");
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
fn a_source_that_comes_back_in_another_codec_goes_on_in_the_same_stream() {
    let _turn = turn();
    let server = Server::start_with(&[("MOIM_BROADCAST_RUNGS", "low:180:300")]);
    let (mut encoder, auth) = encoder_in(&server, "recodec", "320x180");
    let (status, broadcast) = start(
        &server,
        "recodec",
        &auth,
        &json!({"source": "studio", "public": true}),
    );
    assert_eq!(status, 201, "{broadcast}");
    let (_, _, multivariant) = get(&server, "/hls/recodec/index.m3u8");
    let rung = &lowest_rung(&multivariant, "recodec");
    let playlist = wait_for_segment(&server, rung, 1);
    let (_, _, init) = get(&server, &format!("{rung}init.mp4"));

    // The encoder (H.264 over RTMP) goes, and the source comes back from a browser-like
    // peer sending VP8 over WebRTC: the same stream goes on, with the init segment
    // players already hold.
    let _ = encoder.kill();
    let _ = encoder.wait();
    let away = preload_hint(&playlist).0;
    let fed = frames_fed(&server);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let clip = Arc::new(Clip::flash_and_beep(&server.recordings.join("source"), 4));
    let _peer = runtime.block_on(Peer::join_sending(
        &server.ws_url(),
        &server.token("recodec", "studio", &[]),
        clip,
    ));
    let playlist = wait_for_segment(&server, rung, away + 4);
    assert!(!playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    let back = frames_fed(&server) - fed;
    assert!(
        back > 100,
        "the VP8 source's frames reach the ladder: {back}"
    );
    assert_eq!(get(&server, &format!("{rung}init.mp4")).2, init);
    // The time it was away is cut out: no segment runs over the target duration (as
    // HLS counts it, rounded).
    let target: f64 = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .unwrap()
        .parse()
        .unwrap();
    for duration in playlist.lines().filter_map(|l| l.strip_prefix("#EXTINF:")) {
        let seconds: f64 = duration.trim_end_matches(',').parse().unwrap();
        assert!(seconds.round() <= target, "{playlist}");
    }

    // A segment made from the VP8 source decodes with that init segment.
    let url = |file: &str| format!("http://127.0.0.1:{}{rung}{file}", server.http_port);
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-protocol_whitelist", "concat,http,tcp"])
        .args(["-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(format!(
            "concat:{}|{}",
            url("init.mp4"),
            url(&format!("seg{}.m4s", away + 3))
        ))
        .output()
        .expect("ffprobe runs");
    let frames: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(
        frames >= 20 && out.stderr.is_empty(),
        "{frames} pictures: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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
