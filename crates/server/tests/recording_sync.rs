//! Audio and video stay in sync in recordings: a peer sends real VP8 and Opus from a
//! source whose video flashes white exactly when its audio beeps, with media times and
//! sender reports true to that source; in the participant recording and in the composite
//! every flash starts within 60 ms of its beep (measured with ffmpeg on the files). The
//! composite's first second is left out: while its decoders start, its tiles show their
//! first pictures late rather than black (`docs/recording.md`).

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use support::clip::Clip;
use support::peer::Peer;
use support::{Server, joined, start_recording, stop_recording};

/// `(time, value)` of one metadata key that ffmpeg's `metadata`/`ametadata` filters print.
fn series(file: &Path, filter: &[&str], key: &str) -> Vec<(f64, f64)> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(filter)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let mut values = Vec::new();
    let mut time = 0.0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(t) = line.split("pts_time:").nth(1) {
            time = t.split_whitespace().next().unwrap().parse().unwrap();
        } else if let Some(v) = line.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
            values.push((time, v.parse().unwrap_or(f64::NAN)));
        }
    }
    values
}

/// When something turns on: the first sample above `threshold` after one below it.
fn onsets(samples: &[(f64, f64)], threshold: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut on = true;
    for &(t, v) in samples {
        if v > threshold && !on {
            out.push(t);
        }
        on = v > threshold;
    }
    out
}

/// For each flash in `file` from `from` seconds on, how many ms it starts after the
/// nearest beep.
fn flash_minus_beep(file: &Path, from: f64) -> Vec<i64> {
    let luma = series(
        file,
        &[
            "-vf",
            "signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-",
        ],
        "lavfi.signalstats.YAVG",
    );
    let level = series(
        file,
        &[
            "-af",
            "asetnsamples=n=240,astats=metadata=1:reset=1,\
             ametadata=print:key=lavfi.astats.Overall.RMS_level:file=-",
        ],
        "lavfi.astats.Overall.RMS_level",
    );
    let flashes = onsets(&luma, 128.0);
    let beeps = onsets(&level, -30.0);
    assert!(
        flashes.len() >= 4 && beeps.len() >= 4,
        "{}: flashes {flashes:?}, beeps {beeps:?}",
        file.display()
    );
    flashes
        .iter()
        .filter(|f| **f >= from)
        .map(|f| {
            let nearest = beeps
                .iter()
                .min_by(|a, b| (*a - f).abs().total_cmp(&(*b - f).abs()))
                .unwrap();
            ((f - nearest) * 1000.0).round() as i64
        })
        // A flash at the very end may have lost its beep.
        .filter(|offset| offset.abs() < 500)
        .collect()
}

/// Records `room` as `kind` for six seconds; the path of its one file.
async fn record(server: &Server, room: &str, kind: &str) -> std::path::PathBuf {
    let (auth, id) = start_recording(server, room, kind);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let manifest = stop_recording(server, room, &auth, &id);
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{manifest}");
    assert_eq!(files[0]["codec"], "vp8+opus");
    server
        .recordings
        .join(room)
        .join(&id)
        .join(files[0]["file"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flashes_and_beeps_sent_together_are_recorded_together() {
    let server = Server::start();
    let clip = Arc::new(Clip::flash_and_beep(&server.recordings.join("source"), 4));
    let (mut host, _) = joined(&server, "sync", "host", &["--host"]).await;
    let _ann = Peer::join_sending(&server.ws_url(), &server.token("sync", "ann", &[]), clip).await;
    for _ in 0..2 {
        host.recv_type("track_published").await;
    }
    // Sender reports go out about once a second: let the first ones arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let participant = flash_minus_beep(&record(&server, "sync", "participant").await, 0.0);
    let composite = flash_minus_beep(&record(&server, "sync", "composite").await, 1.0);
    eprintln!(
        "flash minus beep, ms: participant recording {participant:?}, composite {composite:?}"
    );
    assert!(
        participant.len() >= 4 && composite.len() >= 3,
        "flashes compared: participant {participant:?}, composite {composite:?}"
    );
    for offset in participant.iter().chain(&composite) {
        assert!(
            offset.abs() <= 60,
            "participant {participant:?}, composite {composite:?}"
        );
    }
}
