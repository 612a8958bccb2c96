//! An SVG chart of a run: server CPU, packets/s out, loss and p99 delay against the number
//! of connected subscribers, one panel each, so a ramp of paced joins reads as a load curve.

use std::fmt::Write;

use crate::report::Sample;

const WIDTH: f64 = 720.0;
const PANEL_HEIGHT: f64 = 150.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 56.0;
const GAP: f64 = 40.0;

/// One panel: a title and the value of each sample (missing values are skipped).
struct Panel<'a> {
    title: &'a str,
    value: fn(&Sample) -> Option<f64>,
}

const PANELS: [Panel<'static>; 4] = [
    Panel {
        title: "server CPU (% of one core)",
        value: |s| s.server_cpu_pct,
    },
    Panel {
        title: "packets/s out",
        value: |s| Some(s.rates.packets_per_s),
    },
    Panel {
        title: "loss (%)",
        value: |s| Some(s.rates.loss_pct),
    },
    Panel {
        title: "p99 delay (ms)",
        value: |s| s.rates.p99_delay_ms,
    },
];

/// The chart of `samples`, titled `title`.
pub fn svg(title: &str, samples: &[Sample]) -> String {
    let height = TOP + PANELS.len() as f64 * (PANEL_HEIGHT + GAP) + 10.0;
    let max_x = samples
        .iter()
        .map(|s| s.subscribers)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="22" font-size="15">{}</text>"#,
        escape(title)
    );
    for (i, panel) in PANELS.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL_HEIGHT + GAP);
        draw_panel(&mut out, panel, samples, top, max_x);
    }
    out.push_str("</svg>\n");
    out
}

fn draw_panel(out: &mut String, panel: &Panel<'_>, samples: &[Sample], top: f64, max_x: f64) {
    let plot_width = WIDTH - LEFT - RIGHT;
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| Some((s.subscribers as f64, (panel.value)(s)?)))
        .collect();
    let max_y = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let max_y = if max_y > 0.0 { max_y * 1.1 } else { 1.0 };
    let x = |v: f64| LEFT + v / max_x * plot_width;
    let y = |v: f64| top + PANEL_HEIGHT - v / max_y * PANEL_HEIGHT;
    let bottom = top + PANEL_HEIGHT;
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{}">{}</text>"#,
        top - 6.0,
        panel.title
    );
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{top}" width="{plot_width}" height="{PANEL_HEIGHT}" fill="none" stroke="#999"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
        LEFT - 6.0,
        top + 10.0,
        number(max_y)
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{bottom}" text-anchor="end">0</text>"#,
        LEFT - 6.0
    );
    let _ = writeln!(out, r#"<text x="{LEFT}" y="{}">0</text>"#, bottom + 14.0);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="end">{} subscribers</text>"#,
        LEFT + plot_width,
        bottom + 14.0,
        max_x
    );
    if points.is_empty() {
        return;
    }
    let path: Vec<String> = points
        .iter()
        .map(|&(px, py)| format!("{:.1},{:.1}", x(px), y(py)))
        .collect();
    let _ = writeln!(
        out,
        r##"<polyline points="{}" fill="none" stroke="#2563eb" stroke-width="1.5"/>"##,
        path.join(" ")
    );
}

fn number(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Rates;

    fn sample(subscribers: u64, cpu: f64) -> Sample {
        Sample {
            t: subscribers as f64,
            subscribers,
            rates: Rates {
                packets_per_s: subscribers as f64 * 240.0,
                mbit_per_s: 0.0,
                loss_pct: 0.0,
                p50_delay_ms: Some(2.0),
                p99_delay_ms: Some(5.0),
                jitter_ms: 0.5,
                p99_lag_ms: Some(1.0),
            },
            server_cpu_pct: Some(cpu),
            tester_cpu_pct: Some(cpu / 2.0),
        }
    }

    #[test]
    fn chart_has_a_line_per_panel() {
        let svg = svg(
            "livestream <test>",
            &[sample(10, 5.0), sample(50, 20.0), sample(100, 40.0)],
        );
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(svg.contains("livestream &lt;test&gt;"));
        assert!(svg.contains("100 subscribers"));
    }

    #[test]
    fn missing_values_leave_a_panel_empty() {
        let mut s = sample(10, 5.0);
        s.server_cpu_pct = None;
        let svg = svg("x", &[s]);
        assert_eq!(svg.matches("<polyline").count(), 3);
    }
}
