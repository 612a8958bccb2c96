//! The Grafana dashboard in `deploy/grafana/moim.json` reads only metrics the server
//! exports, and `/metrics` carries the rooms' and participants' numbers a dashboard needs.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;

use support::Server;

/// The `moim_*` families an expression reads (a histogram's or summary's series by their
/// family's name).
fn families(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("moim_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        names.insert(family.to_owned());
        rest = &tail[end..];
    }
    names
}

fn metrics(server: &Server) -> String {
    let (status, text) = server.http("GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    text
}

#[tokio::test]
async fn the_dashboard_reads_only_metrics_the_server_exports() {
    let server = Server::start();
    let exported = metrics(&server);
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/moim.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "{} panels", panels.len());
    for panel in panels {
        let title = panel["title"].as_str().expect("every panel has a title");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            let expr = target["expr"].as_str().expect("a query");
            let read = families(expr);
            assert!(!read.is_empty(), "{title}: {expr} reads no moim_ metric");
            for family in read {
                assert!(
                    exported.contains(&format!("# TYPE {family} ")),
                    "{title}: {expr} reads {family}, which /metrics does not export"
                );
            }
        }
    }
}

#[tokio::test]
async fn rooms_participants_and_their_connections_are_in_the_metrics() {
    let server = Server::start();
    let _alice = support::joined(&server, "metrics-room", "alice", &[]).await;
    let _bob = support::joined(&server, "metrics-room", "bob", &[]).await;
    let text = metrics(&server);
    assert!(
        text.contains("moim_room_participants{room=\"metrics-room\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("moim_recordings_active 0\n"), "{text}");
    for quality in ["excellent", "good", "poor", "lost"] {
        assert!(
            text.contains(&format!(
                "moim_participants_by_quality{{quality=\"{quality}\"}}"
            )),
            "{text}"
        );
    }
    // Participants without media yet have no numbers: the spreads are empty, not zero.
    assert!(
        text.contains("moim_participant_rtt_seconds_count 0\n"),
        "{text}"
    );
    assert!(
        !text.contains("moim_participant_rtt_seconds{quantile"),
        "{text}"
    );
}
