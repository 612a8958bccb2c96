//! The `joins` scenario: how long joining takes, without media, on one node or through a
//! cluster. Each of N rounds opens a room of its own: a first participant joins it (the
//! room is placed then), a second joins the running room, both leave. Joins that a
//! cluster sent to another node (`moved`) are counted apart from those answered where
//! they came in.

use std::time::Instant;

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::moim_signal;
use crate::report::Spread;

/// What to join where.
pub struct JoinRun {
    /// The signaling WebSocket URL.
    pub ws_url: String,
    /// Rooms are named this with the round's number.
    pub room: String,
    pub rounds: usize,
}

/// Join times in ms, by whether the room was new and whether the join moved.
#[derive(Debug, Default)]
struct Times {
    new_here: Vec<f64>,
    new_moved: Vec<f64>,
    running_here: Vec<f64>,
    running_moved: Vec<f64>,
}

/// Runs the rounds, with tokens from `mint(room, identity)`, and prints the spreads.
pub async fn run(run: JoinRun, mint: impl Fn(&str, &str) -> String) -> anyhow::Result<()> {
    let mut times = Times::default();
    for round in 0..run.rounds {
        let room = format!("{}-{round}", run.room);
        let mut sockets = Vec::new();
        for (identity, new) in [("first", true), ("second", false)] {
            let token = mint(&room, identity);
            let start = Instant::now();
            let (ws, reply, moves) = moim_signal::join(&run.ws_url, &token).await?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            anyhow::ensure!(reply["type"] == "joined", "join answered {reply}");
            let list = match (new, moves > 0) {
                (true, false) => &mut times.new_here,
                (true, true) => &mut times.new_moved,
                (false, false) => &mut times.running_here,
                (false, true) => &mut times.running_moved,
            };
            list.push(ms);
            sockets.push(ws);
        }
        for mut ws in sockets {
            let _ = ws
                .send(Message::text(json!({"type": "leave"}).to_string()))
                .await;
        }
    }
    for (what, values) in [
        ("new room, answered where it came in", &times.new_here),
        ("new room, moved to its node", &times.new_moved),
        (
            "running room, answered where it came in",
            &times.running_here,
        ),
        ("running room, moved to its node", &times.running_moved),
    ] {
        println!("{what:42} {}", spread(values));
    }
    Ok(())
}

/// `n, p50, p99, max` of `values` in ms.
fn spread(values: &[f64]) -> String {
    let Some(s) = Spread::of(values) else {
        return "-".into();
    };
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let p99 = sorted[(sorted.len() * 99).div_ceil(100).saturating_sub(1)];
    format!(
        "n {:4}  p50 {:6.2} ms  p99 {:6.2} ms  max {:6.2} ms",
        s.count, s.p50, p99, s.max
    )
}
