//! The server's own account of its delay, read from Moim's `/metrics` before and after the
//! measurement, so that the summary puts the server's share of the delay beside what the
//! subscribers saw: `moim_frame_hop_seconds` (from a frame's first packet's arrival to its
//! write to a subscriber) and `moim_datagram_wait_seconds` (how long datagrams waited in
//! the media socket before a worker read them).

use std::time::Duration;

use serde::Serialize;

use crate::http;

/// The forwarding delay's histogram.
pub const HOP: &str = "moim_frame_hop_seconds";
/// The socket wait's histogram.
pub const SOCKET_WAIT: &str = "moim_datagram_wait_seconds";

/// The cumulative buckets of the histogram at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Upper bounds in seconds, ascending, `+Inf` last, with the frames at or under each.
    buckets: Vec<(f64, u64)>,
    sum_s: f64,
}

/// What the server counted in one histogram during the measurement.
#[derive(Debug, Clone, Serialize)]
pub struct ServerDelay {
    pub count: u64,
    pub mean_ms: f64,
    /// The bucket bounds, in ms, under which half and 99 % of the counts fall (none past
    /// the last bound).
    pub p50_at_most_ms: Option<f64>,
    pub p99_at_most_ms: Option<f64>,
}

/// The `/metrics` text of the server at HTTP URL `base`.
pub async fn fetch(base: &str) -> Option<String> {
    let url = format!("{}/metrics", base.trim_end_matches('/'));
    let response = http::send("GET", &url, &[], b"", Duration::from_secs(5))
        .await
        .ok()?;
    Some(String::from_utf8_lossy(&response.body).into_owned())
}

/// What histogram `name` counted between two expositions of `/metrics`.
pub fn between(before: &str, after: &str, name: &str) -> Option<ServerDelay> {
    Some(Histogram::parse(after, name)?.since(&Histogram::parse(before, name)?))
}

impl Histogram {
    /// Histogram `name` in a Prometheus text exposition.
    pub fn parse(text: &str, name: &str) -> Option<Histogram> {
        let mut histogram = Histogram::default();
        for line in text.lines() {
            let Some((key, value)) = line.rsplit_once(' ') else {
                continue;
            };
            if let Some(le) = key
                .strip_prefix(name)
                .and_then(|k| k.strip_prefix("_bucket{le=\""))
                .and_then(|k| k.strip_suffix("\"}"))
            {
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                histogram.buckets.push((bound, value.parse().ok()?));
            } else if key.strip_prefix(name) == Some("_sum") {
                histogram.sum_s = value.parse().ok()?;
            }
        }
        (!histogram.buckets.is_empty()).then_some(histogram)
    }

    /// What was counted between `before` and this.
    pub fn since(&self, before: &Histogram) -> ServerDelay {
        let count = |h: &Histogram, i: usize| h.buckets.get(i).map_or(0, |b| b.1);
        let buckets: Vec<(f64, u64)> = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, (bound, n))| (*bound, n.saturating_sub(count(before, i))))
            .collect();
        let count = buckets.last().map_or(0, |b| b.1);
        let quantile = |q: f64| {
            let target = (count as f64 * q).ceil() as u64;
            let (bound, _) = buckets.iter().find(|(_, n)| *n >= target.max(1))?;
            bound.is_finite().then_some(bound * 1000.0)
        };
        ServerDelay {
            count,
            mean_ms: if count == 0 {
                0.0
            } else {
                (self.sum_s - before.sum_s) / count as f64 * 1000.0
            },
            p50_at_most_ms: quantile(0.5),
            p99_at_most_ms: quantile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition(counts: [u64; 4], sum: f64) -> String {
        format!(
            "# TYPE moim_frame_hop_seconds histogram\n\
             moim_frame_hop_seconds_bucket{{le=\"0.00025\"}} {}\n\
             moim_frame_hop_seconds_bucket{{le=\"0.001\"}} {}\n\
             moim_frame_hop_seconds_bucket{{le=\"0.005\"}} {}\n\
             moim_frame_hop_seconds_bucket{{le=\"+Inf\"}} {}\n\
             moim_frame_hop_seconds_sum {sum}\n\
             moim_frame_hop_seconds_count {}\n\
             moim_rooms 1\n",
            counts[0], counts[1], counts[2], counts[3], counts[3]
        )
    }

    #[test]
    fn the_frames_of_the_measurement_and_their_quantiles() {
        let before = exposition([10, 20, 30, 30], 0.01);
        let hop = between(&before, &exposition([60, 200, 229, 230], 0.21), HOP).unwrap();
        assert_eq!(hop.count, 200);
        assert!((hop.mean_ms - 1.0).abs() < 1e-9);
        assert_eq!(hop.p50_at_most_ms, Some(1.0));
        assert_eq!(hop.p99_at_most_ms, Some(5.0));
        let late = between(&before, &exposition([60, 100, 120, 230], 0.21), HOP).unwrap();
        assert_eq!(late.p99_at_most_ms, None);
    }

    #[test]
    fn a_server_without_the_histogram_has_none() {
        assert_eq!(Histogram::parse("moim_rooms 1\n", HOP), None);
        assert!(between(&exposition([1, 1, 1, 1], 0.0), "", SOCKET_WAIT).is_none());
    }
}
