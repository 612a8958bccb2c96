//! The part of `/metrics` read from the rooms at the moment of the scrape: each room's
//! participants, how their connections fare (round trip, jitter, loss, bandwidth estimate:
//! the median, the 90th percentile and the worst across participants, from the numbers
//! each gets every two seconds), what they send and receive, their ratings, and the
//! recordings running.

use std::fmt::Write;

use moim_proto::signal::{ConnectionQuality, NetworkStats};

use crate::room::rooms::Rooms;

/// The rooms' numbers now, rendered in the Prometheus text format.
pub fn render(rooms: &Rooms) -> String {
    let mut out = String::new();
    let mut sizes: Vec<(&str, usize)> = rooms.sizes().collect();
    sizes.sort_unstable();
    family(
        &mut out,
        "moim_room_participants",
        "Participants of each room on this node.",
        sizes
            .iter()
            .map(|(room, n)| (format!("{{room=\"{}\"}}", label(room)), *n as f64)),
    );
    let stats: Vec<&NetworkStats> = rooms.everyone().filter_map(|p| p.stats.as_ref()).collect();
    let seconds = |ms: Option<u32>| ms.map(|ms| f64::from(ms) / 1000.0);
    // The participants' own numbers give loss in percent.
    let ratio = |percent: Option<f32>| percent.map(|p| f64::from(p) / 100.0);
    spread(
        &mut out,
        "moim_participant_rtt_seconds",
        "Round-trip time of participants' connections.",
        &[("", stats.iter().filter_map(|s| seconds(s.rtt_ms)).collect())],
    );
    spread(
        &mut out,
        "moim_participant_jitter_seconds",
        "Jitter of the audio the server receives from participants.",
        &[(
            "",
            stats.iter().filter_map(|s| seconds(s.jitter_ms)).collect(),
        )],
    );
    spread(
        &mut out,
        "moim_participant_loss_ratio",
        "Share of packets lost on participants' connections: up, from them; down, to them.",
        &[
            (
                "direction=\"up\",",
                stats.iter().filter_map(|s| ratio(s.loss_up)).collect(),
            ),
            (
                "direction=\"down\",",
                stats.iter().filter_map(|s| ratio(s.loss_down)).collect(),
            ),
        ],
    );
    spread(
        &mut out,
        "moim_participant_estimate_bits_per_second",
        "The server's estimate of each participant's downlink.",
        &[(
            "",
            stats
                .iter()
                .filter_map(|s| s.estimate_kbps.map(|k| f64::from(k) * 1000.0))
                .collect(),
        )],
    );
    let sum = |kbps: fn(&NetworkStats) -> u32| {
        stats
            .iter()
            .map(|s| f64::from(kbps(s)) * 1000.0)
            .sum::<f64>()
    };
    family(
        &mut out,
        "moim_media_bits_per_second",
        "What participants send (publish) and receive (subscribe), summed.",
        [
            ("{direction=\"publish\"}".to_owned(), sum(|s| s.up_kbps)),
            ("{direction=\"subscribe\"}".to_owned(), sum(|s| s.down_kbps)),
        ],
    );
    let qualities = [
        (ConnectionQuality::Excellent, "excellent"),
        (ConnectionQuality::Good, "good"),
        (ConnectionQuality::Poor, "poor"),
        (ConnectionQuality::Lost, "lost"),
    ];
    family(
        &mut out,
        "moim_participants_by_quality",
        "Participants by the rating of their connection.",
        qualities.iter().map(|(quality, name)| {
            let n = rooms
                .everyone()
                .filter(|p| p.quality == Some(*quality))
                .count();
            (format!("{{quality=\"{name}\"}}"), n as f64)
        }),
    );
    family(
        &mut out,
        "moim_recordings_active",
        "Server recordings running now.",
        [(String::new(), rooms.recordings_running() as f64)],
    );
    out
}

/// A gauge family: its help, its type and one line per labelled value.
fn family(
    out: &mut String,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (String, f64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (labels, value) in values {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// How `values` spread across participants now: the median, the 90th percentile and the
/// largest (`quantile` 0.5, 0.9 and 1), and how many there are. `series` give each set
/// its labels (ending with a comma) before the quantile's.
fn spread(out: &mut String, name: &str, help: &str, series: &[(&str, Vec<f64>)]) {
    let _ = writeln!(out, "# HELP {name} {help} Across participants now.");
    let _ = writeln!(out, "# TYPE {name} summary");
    for (labels, values) in series {
        let mut sorted = values.clone();
        sorted.sort_unstable_by(f64::total_cmp);
        for q in [0.5, 0.9, 1.0] {
            if let Some(v) = quantile(&sorted, q) {
                let _ = writeln!(out, "{name}{{{labels}quantile=\"{q}\"}} {v}");
            }
        }
        let labels = labels.trim_end_matches(',');
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        // An empty sum of floats is -0; Prometheus reads 0.
        let sum = sorted.iter().sum::<f64>() + 0.0;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {}", sorted.len());
    }
}

/// The value at quantile `q` of `sorted` (nearest rank); none of an empty set.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = ((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1);
    Some(sorted[rank.min(last)])
}

/// `value` as a label value: backslashes, quotes and line breaks escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_the_nearest_rank_and_an_empty_set_has_none() {
        let sorted = [0.01, 0.02, 0.03, 0.04, 0.5];
        assert_eq!(quantile(&sorted, 0.5), Some(0.03));
        assert_eq!(quantile(&sorted, 0.9), Some(0.5));
        assert_eq!(quantile(&sorted, 1.0), Some(0.5));
        assert_eq!(quantile(&[0.2], 0.5), Some(0.2));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn a_spread_has_its_quantiles_sum_and_count_with_its_labels() {
        let mut out = String::new();
        spread(
            &mut out,
            "x",
            "Help.",
            &[
                ("direction=\"up\",", vec![0.2, 0.1]),
                ("direction=\"down\",", vec![]),
            ],
        );
        assert!(
            out.contains("x{direction=\"up\",quantile=\"0.5\"} 0.1\n"),
            "{out}"
        );
        assert!(
            out.contains("x{direction=\"up\",quantile=\"1\"} 0.2\n"),
            "{out}"
        );
        assert!(out.contains("x_count{direction=\"up\"} 2\n"), "{out}");
        assert!(out.contains("x_count{direction=\"down\"} 0\n"), "{out}");
        assert!(!out.contains("x{direction=\"down\",quantile"), "{out}");
    }

    #[test]
    fn room_names_are_escaped_in_labels() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
