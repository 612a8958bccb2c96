//! The server's log: text by default, one JSON object a line with `MOIM_LOG_FORMAT=json`
//! for log collectors, and a clear refusal of any other format.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

fn moim() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_moim"));
    command
        .args([
            "serve",
            "--http-port",
            "0",
            "--udp-port",
            "0",
            "--rtmp-port",
            "0",
        ])
        .env("MOIM_TCP_ADDR", "127.0.0.1:0")
        .env("MOIM_TURN", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

#[test]
fn json_logs_are_one_object_a_line_with_the_events_fields() {
    let mut child = moim().env("MOIM_LOG_FORMAT", "json").spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let mut running = None;
    for line in stderr.lines() {
        let line = line.unwrap();
        // The development banner is written for people, not through the log.
        if !line.starts_with('{') {
            continue;
        }
        let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        seen.push(line);
        if event["message"] == "Moim is running" {
            running = Some(event);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let running = running.unwrap_or_else(|| panic!("no start line in {seen:?}"));
    assert_eq!(running["level"], "INFO");
    assert_eq!(running["target"], "moim");
    assert!(
        running["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(
        running["http"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:"))
    );
}

#[test]
fn a_log_format_the_server_does_not_know_is_refused_with_the_ones_it_does() {
    let out = moim().env("MOIM_LOG_FORMAT", "xml").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("MOIM_LOG_FORMAT must be `text` or `json`, not \"xml\""),
        "{stderr}"
    );
}
