//! The whiteboard over signaling: strokes stream to everyone in one order, a late joiner
//! gets the board, undo and clear, the pointer, and the refusals.

mod support;

use serde_json::{Value, json};
use support::{Server, Signal, expect_error, joined};

fn segment(stroke: u32, color: &str, points: &[i32], done: bool) -> Value {
    json!({"type": "board_stroke", "stroke": stroke, "tool": "pen", "color": color,
           "width": 4, "points": points, "done": done})
}

/// The next `n` board strokes a client sees, as `(id, points)`.
async fn strokes(signal: &mut Signal, n: usize) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let m = signal.recv_type("board_stroke").await;
        seen.push((
            m["stroke"]["id"].as_str().unwrap().to_owned(),
            m["stroke"]["points"].clone(),
        ));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_sees_strokes_in_one_order_and_a_late_joiner_gets_the_board() {
    let server = Server::start();
    let (mut ann, _) = joined(&server, "wb", "ann", &[]).await;
    let (mut bob, _) = joined(&server, "wb", "bob", &[]).await;
    // Both draw at once, in interleaved segments.
    for i in 0..5 {
        ann.send(segment(1, "#e53935", &[i, i], i == 4)).await;
        bob.send(segment(1, "#1e88e5", &[100 + i, 100], i == 4))
            .await;
    }
    let at_ann = strokes(&mut ann, 10).await;
    let at_bob = strokes(&mut bob, 10).await;
    assert_eq!(
        at_ann, at_bob,
        "one order for everyone, the author included"
    );

    let (mut cy, cy_joined) = joined(&server, "wb", "cy", &[]).await;
    let board = cy_joined["board"].as_array().unwrap();
    assert_eq!(board.len(), 2);
    let first = &board[0];
    assert_eq!(
        first["points"].as_array().unwrap().len(),
        10,
        "whole strokes"
    );
    assert_eq!(first["done"], true);

    // Undo takes back the author's own latest stroke; guests cannot clear.
    bob.send(json!({"type": "board_undo"})).await;
    let removed = cy.recv_type("board_remove").await;
    assert!(removed["id"].as_str().unwrap().ends_with(".1"));
    bob.send(json!({"type": "board_undo"})).await;
    expect_error(&mut bob, "not_found").await;
    bob.send(json!({"type": "board_clear", "id": "c"})).await;
    expect_error(&mut bob, "permission_denied").await;
    let (mut host, _) = joined(&server, "wb", "host", &["--host"]).await;
    host.send(json!({"type": "board_clear"})).await;
    cy.recv_type("board_clear").await;

    // The pointer goes to the others.
    ann.send(json!({"type": "board_pointer", "x": 800, "y": 450}))
        .await;
    let pointer = cy.recv_type("board_pointer").await;
    assert_eq!(
        (pointer["x"].as_i64(), pointer["y"].as_i64()),
        (Some(800), Some(450))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_board_messages_get_errors_and_change_nothing() {
    let server = Server::start();
    let (mut ann, _) = joined(&server, "wbx", "ann", &[]).await;
    ann.send(segment(1, "red", &[0, 0], false)).await;
    expect_error(&mut ann, "malformed_message").await;
    ann.send(segment(1, "#000000", &[5000, 0], false)).await;
    expect_error(&mut ann, "malformed_message").await;
    ann.send(segment(1, "#000000", &[1; 2002], false)).await;
    expect_error(&mut ann, "message_too_large").await;
    ann.send(json!({"type": "board_pointer", "x": 3})).await;
    expect_error(&mut ann, "malformed_message").await;
    ann.send(segment(2, "#000000", &[0, 0], true)).await;
    ann.recv_type("board_stroke").await;
    ann.send(segment(2, "#000000", &[1, 1], false)).await;
    expect_error(&mut ann, "conflict").await;
    let (mut viewer, viewer_joined) = joined(&server, "wbx", "vic", &["--viewer"]).await;
    assert_eq!(viewer_joined["board"].as_array().unwrap().len(), 1);
    viewer.send(segment(1, "#000000", &[0, 0], false)).await;
    expect_error(&mut viewer, "permission_denied").await;
    // Too many messages at once: refused with rate_limited, the board keeps working.
    for i in 0..150 {
        ann.send(json!({"type": "board_pointer", "x": i, "y": 0}))
            .await;
    }
    expect_error(&mut ann, "rate_limited").await;
}
