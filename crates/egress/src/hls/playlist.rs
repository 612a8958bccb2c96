//! The playlists' text: a rendition's LL-HLS media playlist (RFC 8216bis: parts, blocking
//! reload, preload hints), the VOD playlist of a finished one's kept segments, and the
//! multivariant playlist of a ladder.

use std::fmt::Write;

use super::names::Resource;
use super::window::Window;
use super::{SegmentInfo, TICKS_PER_SECOND};
use crate::cmaf::Tracks;

/// `EXT-X-VERSION`: 6 is what `EXT-X-MAP` without `EXT-X-I-FRAMES-ONLY` needs; the
/// low-latency tags ask for no more (only delta updates, not offered, would need 9).
const VERSION: u32 = 6;

/// What the media playlist says besides its segments.
pub(super) struct MediaPlaylist<'a> {
    pub window: &'a Window,
    /// The configured segment and part targets, in 90 kHz ticks.
    pub segment_target: i64,
    pub part_target: i64,
    /// The wall-clock time (Unix milliseconds) of the timeline's zero, once known.
    pub wall_clock_at_zero: Option<i64>,
    pub ended: bool,
}

impl MediaPlaylist<'_> {
    /// `EXT-X-TARGETDURATION`: the target in whole seconds, or the longest segment if
    /// keyframes came further apart than that.
    fn target_duration(&self) -> u64 {
        let configured = (self.segment_target + TICKS_PER_SECOND - 1) / TICKS_PER_SECOND;
        (configured.max(1) as u64).max(self.window.longest_seconds())
    }

    /// Appends the playlist's text to `out`.
    pub fn write(&self, out: &mut String) {
        let target = self.target_duration();
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:{VERSION}\n#EXT-X-TARGETDURATION:{target}\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={}\n\
             #EXT-X-PART-INF:PART-TARGET={}\n",
            Seconds(3 * self.part_target),
            Seconds(self.part_target),
        );
        let open = self.window.open();
        let first = self.window.listed().next().map_or(open.msn, |s| s.msn);
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
        let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", Resource::Init);
        // Parts are listed for the segments within three target durations of the end.
        let end = open.start + open.duration();
        let parts_from = end - 3 * target as i64 * TICKS_PER_SECOND;
        for segment in self.window.listed().chain(Some(open)) {
            let complete = segment.msn != open.msn;
            if !complete && segment.parts.is_empty() {
                break;
            }
            if let Some(zero) = self.wall_clock_at_zero {
                let at = zero.saturating_add(segment.start / (TICKS_PER_SECOND / 1000));
                let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", Timestamp(at));
            }
            if segment.start + segment.duration() > parts_from {
                for (n, part) in segment.parts.iter().enumerate() {
                    let uri = Resource::Part {
                        msn: segment.msn,
                        part: n as u32,
                    };
                    let _ = write!(
                        out,
                        "#EXT-X-PART:DURATION={},URI=\"{uri}\"",
                        Seconds(part.duration)
                    );
                    out.push_str(if part.independent {
                        ",INDEPENDENT=YES\n"
                    } else {
                        "\n"
                    });
                }
            }
            if complete {
                let _ = writeln!(
                    out,
                    "#EXTINF:{},\n{}",
                    Seconds(segment.duration()),
                    Resource::Segment(segment.msn)
                );
            }
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        } else {
            let next = Resource::Part {
                msn: open.msn,
                part: open.parts.len() as u32,
            };
            let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{next}\"");
        }
    }
}

/// The VOD media playlist (`EXT-X-PLAYLIST-TYPE:VOD`, ended) of a finished rendition's
/// kept `segments`, oldest first, whose timeline's zero was at `wall_clock_at_zero` (Unix
/// milliseconds), when known. Segments keep their names (`seg{msn}.m4s`) and the init
/// segment its own.
pub fn vod_playlist(segments: &[SegmentInfo], wall_clock_at_zero: Option<i64>) -> String {
    // Every duration rounded to the nearest second is at most the target.
    let target = segments
        .iter()
        .map(|s| (s.duration + TICKS_PER_SECOND / 2) / TICKS_PER_SECOND)
        .max()
        .unwrap_or(1)
        .max(1);
    let first = segments.first().map_or(0, |s| s.msn);
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:{VERSION}\n#EXT-X-TARGETDURATION:{target}\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MEDIA-SEQUENCE:{first}\n\
         #EXT-X-MAP:URI=\"{}\"\n",
        Resource::Init
    );
    for (i, segment) in segments.iter().enumerate() {
        // Numbers that jump (a segment that could not be kept) are a discontinuity.
        if i > 0 && segments[i - 1].msn + 1 != segment.msn {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if let Some(zero) = wall_clock_at_zero {
            let at = zero.saturating_add(segment.start / (TICKS_PER_SECOND / 1000));
            let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", Timestamp(at));
        }
        let _ = writeln!(
            out,
            "#EXTINF:{},\n{}",
            Seconds(segment.duration),
            Resource::Segment(segment.msn)
        );
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// One rendition of a ladder as the multivariant playlist lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Its media playlist, relative to the multivariant one (`hd/index.m3u8`).
    pub uri: String,
    /// Its peak bit rate, bits per second (`BANDWIDTH`).
    pub bandwidth: u64,
    /// Its average bit rate, bits per second (`AVERAGE-BANDWIDTH`), when known.
    pub average_bandwidth: Option<u64>,
    /// Its tracks' codecs (`CODECS`), e.g. `avc1.64001f,mp4a.40.2`.
    pub codecs: String,
    /// Its picture size (`RESOLUTION`), when it has video.
    pub resolution: Option<(u32, u32)>,
    /// Its frames per second (`FRAME-RATE`), when it has video.
    pub frame_rate: Option<f64>,
}

impl Variant {
    /// A variant at `uri` whose codecs and picture size come from its `tracks`.
    pub fn new(uri: &str, tracks: &Tracks, bandwidth: u64, frame_rate: Option<f64>) -> Variant {
        Variant {
            uri: uri.to_owned(),
            bandwidth,
            average_bandwidth: None,
            codecs: tracks.codecs(),
            resolution: tracks.video.as_ref().map(|v| (v.width(), v.height())),
            frame_rate: frame_rate.filter(|_| tracks.video.is_some()),
        }
    }
}

/// The multivariant playlist listing `variants`, in the order given (players start with
/// the first).
pub fn multivariant_playlist(variants: &[Variant]) -> String {
    let mut out = format!("#EXTM3U\n#EXT-X-VERSION:{VERSION}\n");
    for v in variants {
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth);
        if let Some(average) = v.average_bandwidth {
            let _ = write!(out, ",AVERAGE-BANDWIDTH={average}");
        }
        if let Some((w, h)) = v.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        let _ = write!(out, ",CODECS=\"{}\"", Escaped(&v.codecs));
        if let Some(rate) = v.frame_rate.filter(|r| r.is_finite() && *r > 0.0) {
            let _ = write!(out, ",FRAME-RATE={rate:.3}");
        }
        let _ = writeln!(out, "\n{}", Escaped(&v.uri));
    }
    out
}

/// A duration in 90 kHz ticks, printed in seconds.
struct Seconds(i64);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.5}", self.0 as f64 / TICKS_PER_SECOND as f64)
    }
}

/// Text that must stay on its line and inside its quotes: control characters and quotes
/// are percent-encoded.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            if c.is_control() || c == '"' {
                let mut utf8 = [0; 4];
                for b in c.encode_utf8(&mut utf8).bytes() {
                    write!(f, "%{b:02X}")?;
                }
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// A Unix time in milliseconds, printed as RFC 3339 in UTC (`2024-05-01T12:00:00.000Z`).
struct Timestamp(i64);

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.rem_euclid(1000);
        let seconds = self.0.div_euclid(1000);
        let (days, day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
        let (year, month, date) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{date:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            day / 3600,
            day / 60 % 60,
            day % 60
        )
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let date = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmaf::test_boxes::{ASC, AVCC};
    use crate::cmaf::{AudioTrack, VideoTrack};

    #[test]
    fn timestamps_are_utc_dates_with_milliseconds() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp(1_709_210_096_789).to_string(),
            "2024-02-29T12:34:56.789Z"
        );
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn a_vod_playlist_lists_the_kept_segments_and_ends() {
        let segment = |msn: u64, start: i64| SegmentInfo {
            msn,
            start,
            duration: 180_000,
        };
        let kept = [segment(7, 0), segment(8, 180_000), segment(10, 540_000)];
        assert_eq!(
            vod_playlist(&kept, Some(1_709_210_096_000)),
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-MAP:URI=\"init.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2024-02-29T12:34:56.000Z\n#EXTINF:2.00000,\nseg7.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:2024-02-29T12:34:58.000Z\n#EXTINF:2.00000,\nseg8.m4s\n\
             #EXT-X-DISCONTINUITY\n\
             #EXT-X-PROGRAM-DATE-TIME:2024-02-29T12:35:02.000Z\n#EXTINF:2.00000,\nseg10.m4s\n\
             #EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn the_multivariant_playlist_lists_each_rung() {
        let tracks = Tracks {
            video: Some(VideoTrack::new(AVCC.to_vec(), 1280, 720).unwrap()),
            audio: Some(AudioTrack::new(ASC.to_vec()).unwrap()),
        };
        let mut hd = Variant::new("hd/index.m3u8", &tracks, 3_000_000, Some(30.0));
        hd.average_bandwidth = Some(2_500_000);
        let radio = Tracks {
            video: None,
            audio: tracks.audio.clone(),
        };
        let audio = Variant::new("audio/index.m3u8\n#EVIL", &radio, 128_000, Some(30.0));
        assert_eq!(
            multivariant_playlist(&[hd, audio]),
            "#EXTM3U\n#EXT-X-VERSION:6\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,\
             RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000\n\
             hd/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=128000,CODECS=\"mp4a.40.2\"\n\
             audio/index.m3u8%0A#EVIL\n"
        );
    }
}
