//! `GET /metrics`: Prometheus text exposition of rooms, participants and media counters.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use moim_media::stats::{DELAY_BOUNDS_US, Delays};

use crate::http::{hls, network_metrics};
use crate::state::AppState;

/// Renders the current counters.
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let ((rooms, participants), relays_out) = {
        let rooms = state.rooms();
        (rooms.counts(), rooms.relays_out())
    };
    let media = state.media.stats();
    let r = media.router;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, values: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in values {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    metric(
        "moim_rooms",
        "gauge",
        "Rooms with at least one participant.",
        &[("", rooms as u64)],
    );
    metric(
        "moim_participants",
        "gauge",
        "Participants in all rooms.",
        &[("", participants as u64)],
    );
    metric(
        "moim_relays",
        "gauge",
        "Node-to-node relays of rooms' streams: in, rooms of other nodes mirrored here; out, other nodes' relays playing rooms of this one.",
        &[
            ("{direction=\"in\"}", state.relays.count() as u64),
            ("{direction=\"out\"}", relays_out as u64),
        ],
    );
    let [room_links, edge_links, placed, carried] = state.spans.counts();
    metric(
        "moim_node_links",
        "gauge",
        "Links between nodes for meetings spanning them: room, other nodes linked with this node's rooms; edge, this node linked with other nodes' rooms.",
        &[
            ("{side=\"room\"}", room_links as u64),
            ("{side=\"edge\"}", edge_links as u64),
        ],
    );
    metric(
        "moim_span_participants",
        "gauge",
        "Participants of meetings spanning nodes: room, in this node's rooms with their media on another node; edge, with their media here and their room on another node.",
        &[
            ("{side=\"room\"}", placed as u64),
            ("{side=\"edge\"}", carried as u64),
        ],
    );
    let (frames_out, frames_in) = state.media.nodes().frames();
    metric(
        "moim_node_link_frames_total",
        "counter",
        "Frames sent to and received from other nodes over the links (each link counts its own).",
        &[
            ("{direction=\"out\"}", frames_out),
            ("{direction=\"in\"}", frames_in),
        ],
    );
    metric(
        "moim_sessions",
        "gauge",
        "Open WebRTC peer connections.",
        &[("", r.sessions)],
    );
    metric(
        "moim_tracks",
        "gauge",
        "Published tracks.",
        &[("", r.tracks)],
    );
    metric(
        "moim_frames_forwarded_total",
        "counter",
        "Media frames written to subscribers.",
        &[("", r.frames_forwarded)],
    );
    metric(
        "moim_overload_level",
        "gauge",
        "How much load the busiest media worker sheds because it is behind: 0 none, 1 half the subscribers' videos at their middle layer, 2 all (and it takes no new participant), 3 all at their smallest layer, 4 also late video frames dropped.",
        &[("", r.overload_level)],
    );
    metric(
        "moim_frames_shed_total",
        "counter",
        "Video frames not forwarded because their media worker was behind.",
        &[("", r.frames_shed)],
    );
    metric(
        "moim_participants_refused_total",
        "counter",
        "New participants refused (server_busy) because every media worker was shedding load.",
        &[("", state.media.refused())],
    );
    let hops = histogram(
        "moim_frame_hop_seconds",
        "How long forwarded frames spent in the server: from their first packet's arrival to their write to a subscriber (before pacing).",
        &r.hops,
    );
    let waits = histogram(
        "moim_datagram_wait_seconds",
        "How long received datagrams waited in the media socket: from the kernel's receipt to a worker reading them. It grows when a worker falls behind.",
        &media.receive_waits,
    );
    metric(
        "moim_datagrams_received_total",
        "counter",
        "UDP datagrams received on the media port.",
        &[("", r.datagrams_received)],
    );
    metric(
        "moim_datagrams_sent_total",
        "counter",
        "UDP datagrams sent from the media port.",
        &[("", media.datagrams_sent)],
    );
    metric(
        "moim_media_workers",
        "gauge",
        "Media worker threads.",
        &[("", state.media.workers() as u64)],
    );
    metric(
        "moim_datagrams_handed_over_total",
        "counter",
        "Datagrams a media worker read for another worker's session and handed to it.",
        &[("", r.datagrams_handed_over)],
    );
    metric(
        "moim_relays_dropped_total",
        "counter",
        "Messages between media workers (mostly frames) dropped because the receiving worker was behind.",
        &[("", media.relay_drops)],
    );
    metric(
        "moim_frames_recorded_total",
        "counter",
        "Media frames handed to recordings and broadcasts.",
        &[("", r.frames_recorded)],
    );
    metric(
        "moim_recording_frames_dropped_total",
        "counter",
        "Media frames recordings and broadcasts did not take because their queue was full (forwarding went on).",
        &[("", r.recording_drops)],
    );
    let (live, ladders) = state.playbacks.stats();
    metric(
        "moim_broadcasts_live",
        "gauge",
        "Broadcasts running.",
        &[("", live as u64)],
    );
    metric(
        "moim_broadcast_frames_total",
        "counter",
        "Frames of the broadcasts kept (live, or ended within the hour) by what the ladder did with them: fed to ffmpeg, dropped (ffmpeg behind), refused by the packager.",
        &[
            ("{outcome=\"fed\"}", ladders.fed),
            ("{outcome=\"dropped\"}", ladders.dropped),
            ("{outcome=\"refused\"}", ladders.refused),
        ],
    );
    metric(
        "moim_hls_requests_held",
        "gauge",
        "LL-HLS requests held waiting for a part that is not there yet.",
        &[("", hls::held_requests() as u64)],
    );
    metric(
        "moim_data_messages_total",
        "counter",
        "Data-channel messages whose channel was full, by what became of them.",
        &[
            ("{outcome=\"sent_on_signaling\"}", r.data_to_signaling),
            ("{outcome=\"dropped\"}", r.data_dropped),
        ],
    );
    metric(
        "moim_state_waiting",
        "gauge",
        "Track, mute and interest notices and media events waiting for room in a full queue.",
        &[("", media.state_waiting)],
    );
    metric(
        "moim_datagrams_dropped_total",
        "counter",
        "UDP datagrams dropped, by reason.",
        &[
            ("{reason=\"unroutable\"}", r.unroutable_datagrams),
            ("{reason=\"rejected\"}", r.rejected_datagrams),
            ("{reason=\"send_buffer_full\"}", media.send_drops),
        ],
    );
    let (hooks, waiting) = state.webhooks.stats();
    let count = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
    metric(
        "moim_webhook_events_total",
        "counter",
        "Webhook events by what became of them: delivered (a 2xx answer), failed (given up after webhook_retry_for), dropped (the receiver's queue was full); one per receiver.",
        &[
            ("{outcome=\"delivered\"}", count(&hooks.delivered)),
            ("{outcome=\"failed\"}", count(&hooks.failed)),
            ("{outcome=\"dropped\"}", count(&hooks.dropped)),
        ],
    );
    metric(
        "moim_webhook_failed_attempts_total",
        "counter",
        "Webhook posts that failed (refused, not answered in time, or answered other than 2xx) and were tried again or given up.",
        &[("", count(&hooks.failed_attempts))],
    );
    metric(
        "moim_webhook_queue_events",
        "gauge",
        "Webhook events waiting for their receivers (the one being posted included).",
        &[("", waiting as u64)],
    );
    out.push_str(&hops);
    out.push_str(&waits);
    out.push_str(&network_metrics::render(&state.rooms()));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// Histogram `name` of `delays`, in seconds.
fn histogram(name: &str, help: &str, delays: &Delays) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    let bounds = DELAY_BOUNDS_US
        .iter()
        .map(|us| format!("{}", *us as f64 / 1e6))
        .chain(std::iter::once("+Inf".to_owned()));
    let mut cumulative = 0;
    for (le, n) in bounds.zip(delays.buckets) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum {:.6}", delays.sum_us as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {cumulative}");
    out
}
