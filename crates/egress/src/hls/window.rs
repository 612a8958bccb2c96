//! The segments a rendition keeps: the open one its parts are appended to, and the last
//! complete ones, each one buffer holding its parts back to back (so a segment's bytes are
//! its parts' bytes). Buffers of segments that leave are reused for the next ones.

use std::collections::VecDeque;
use std::ops::Range;

use super::TICKS_PER_SECOND;

/// Complete segments kept after they leave the playlist, for players that read the
/// playlist before they left.
const KEPT_AFTER_PLAYLIST: usize = 2;

/// Whether what a blocking playlist request asks for (`_HLS_msn`, `_HLS_part`) is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// It is in the playlist (or the stream ended): answer now.
    Ready,
    /// Not yet: hold the request and ask again after the next frame.
    Wait,
    /// Further ahead than a player may ask (more than two segments, or beyond the advance
    /// part limit): answer 400 Bad Request.
    TooFar,
}

/// One part: where its bytes are in its segment's buffer and what it lasts.
#[derive(Debug, Clone)]
pub(super) struct Part {
    pub bytes: Range<usize>,
    /// In 90 kHz ticks.
    pub duration: i64,
    /// Whether it starts with a keyframe (or has no video).
    pub independent: bool,
}

/// A media segment, open (parts still coming) or complete.
#[derive(Debug, Default)]
pub(super) struct Segment {
    pub msn: u64,
    /// When it starts on the rendition's timeline, in 90 kHz ticks.
    pub start: i64,
    pub bytes: Vec<u8>,
    pub parts: Vec<Part>,
}

impl Segment {
    /// Its duration: its parts' together, in 90 kHz ticks.
    pub fn duration(&self) -> i64 {
        self.parts.iter().map(|p| p.duration).sum()
    }
}

/// The open segment and the complete ones still kept.
#[derive(Debug)]
pub(super) struct Window {
    /// Complete segments, oldest first.
    complete: VecDeque<Segment>,
    open: Segment,
    /// A segment that left, its buffers kept for the next one.
    spare: Option<Segment>,
    /// How many complete segments the playlist lists.
    listed: usize,
    /// The longest complete segment so far, in whole seconds (rounded to nearest).
    longest: u64,
}

impl Window {
    /// An empty window listing `listed` complete segments.
    pub fn new(listed: usize) -> Window {
        Window {
            complete: VecDeque::with_capacity(listed + KEPT_AFTER_PLAYLIST + 1),
            open: Segment::default(),
            spare: None,
            listed,
            longest: 0,
        }
    }

    /// The segment parts are appended to.
    pub fn open(&self) -> &Segment {
        &self.open
    }

    /// The buffer the next part is appended to.
    pub fn open_bytes(&mut self) -> &mut Vec<u8> {
        &mut self.open.bytes
    }

    /// Records the part just appended to the open segment at `bytes`.
    pub fn add_part(&mut self, bytes: Range<usize>, duration: i64, independent: bool) {
        self.open.parts.push(Part {
            bytes,
            duration,
            independent,
        });
    }

    /// Completes the open segment (if it has parts) and opens the next, starting at `at`.
    pub fn close_segment(&mut self, at: i64) {
        if self.open.parts.is_empty() {
            self.open.start = at;
            return;
        }
        let mut next = self.spare.take().unwrap_or_default();
        next.bytes.clear();
        next.parts.clear();
        next.msn = self.open.msn + 1;
        next.start = at;
        let done = std::mem::replace(&mut self.open, next);
        let seconds = (done.duration() + TICKS_PER_SECOND / 2) / TICKS_PER_SECOND;
        self.longest = self.longest.max(seconds.max(0) as u64);
        self.complete.push_back(done);
        if self.complete.len() > self.listed + KEPT_AFTER_PLAYLIST {
            self.spare = self.complete.pop_front();
        }
    }

    /// Sets where the open segment starts (before it has parts).
    pub fn set_open_start(&mut self, at: i64) {
        if self.open.parts.is_empty() {
            self.open.start = at;
        }
    }

    /// The complete segments the playlist lists, oldest first.
    pub fn listed(&self) -> impl Iterator<Item = &Segment> {
        let skip = self.complete.len().saturating_sub(self.listed);
        self.complete.iter().skip(skip)
    }

    /// The newest complete segment.
    pub fn newest_complete(&self) -> Option<&Segment> {
        self.complete.back()
    }

    /// The longest complete segment so far, in seconds rounded to the nearest.
    pub fn longest_seconds(&self) -> u64 {
        self.longest
    }

    /// Complete segment `msn`, if still kept.
    fn complete_segment(&self, msn: u64) -> Option<&Segment> {
        let first = self.complete.front()?.msn;
        let index = usize::try_from(msn.checked_sub(first)?).ok()?;
        self.complete.get(index)
    }

    /// The bytes of complete segment `msn`.
    pub fn segment(&self, msn: u64) -> Option<&[u8]> {
        self.complete_segment(msn).map(|s| &s.bytes[..])
    }

    /// The bytes of part `part` of segment `msn` (complete or open).
    pub fn part(&self, msn: u64, part: u32) -> Option<&[u8]> {
        let segment = if msn == self.open.msn {
            &self.open
        } else {
            self.complete_segment(msn)?
        };
        let range = segment.parts.get(part as usize)?.bytes.clone();
        segment.bytes.get(range)
    }

    /// Whether a playlist holding segment `msn` complete (without `part`) or its part
    /// `part` exists, for a player allowed `advance_parts` parts ahead of the last.
    pub fn availability(&self, msn: u64, part: Option<u32>, advance_parts: usize) -> Availability {
        let open = self.open.msn;
        if msn > open.saturating_add(2) {
            return Availability::TooFar;
        }
        let ready = |yes: bool| {
            if yes {
                Availability::Ready
            } else {
                Availability::Wait
            }
        };
        let Some(part) = part else {
            return ready(msn < open);
        };
        let part = part as usize;
        if msn < open {
            return match self.complete_segment(msn) {
                // A part past a complete segment's last is the next segment's first.
                Some(segment) if part >= segment.parts.len() => {
                    ready(msn + 1 < open || !self.open.parts.is_empty())
                }
                _ => Availability::Ready,
            };
        }
        if msn > open {
            return Availability::Wait;
        }
        let have = self.open.parts.len();
        if part >= have + advance_parts {
            Availability::TooFar
        } else {
            ready(part < have)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window with `segments` complete segments of two parts each and an open one with
    /// `open_parts` parts; each part's bytes are its segment's number and its index.
    fn window(listed: usize, segments: u64, open_parts: u8) -> Window {
        let mut w = Window::new(listed);
        let mut at = 0;
        for msn in 0..=segments {
            let parts = if msn == segments { open_parts } else { 2 };
            for n in 0..parts {
                let bytes = w.open_bytes();
                let start = bytes.len();
                bytes.extend_from_slice(&[msn as u8, n]);
                let end = bytes.len();
                w.add_part(start..end, 9_000, n == 0);
                at += 9_000;
            }
            if msn < segments {
                w.close_segment(at);
            }
        }
        w
    }

    #[test]
    fn segments_are_their_parts_back_to_back() {
        let w = window(3, 2, 1);
        assert_eq!(w.segment(1), Some(&[1, 0, 1, 1][..]));
        assert_eq!(w.part(1, 1), Some(&[1, 1][..]));
        assert_eq!(w.part(2, 0), Some(&[2, 0][..]));
        assert_eq!(w.segment(2), None, "the open segment is not served whole");
        assert_eq!(w.part(2, 1), None);
        assert_eq!(w.open().start, 36_000);
    }

    #[test]
    fn old_segments_leave_and_their_buffers_come_back() {
        let w = window(3, 8, 0);
        let listed: Vec<u64> = w.listed().map(|s| s.msn).collect();
        assert_eq!(listed, [5, 6, 7]);
        assert!(w.segment(3).is_some(), "kept a while after the playlist");
        assert!(w.segment(2).is_none());
        assert!(w.spare.as_ref().is_some_and(|s| s.bytes.capacity() >= 4));
        assert_eq!(w.longest_seconds(), 0, "0.2 s rounds to 0");
    }

    #[test]
    fn availability_follows_parts_in_order() {
        let w = window(6, 2, 1);
        use Availability::*;
        assert_eq!(w.availability(1, None, 15), Ready);
        assert_eq!(w.availability(2, None, 15), Wait, "segment 2 is still open");
        assert_eq!(w.availability(1, Some(1), 15), Ready);
        assert_eq!(
            w.availability(1, Some(2), 15),
            Ready,
            "that is part 2.0, there"
        );
        assert_eq!(w.availability(2, Some(0), 15), Ready);
        assert_eq!(w.availability(2, Some(1), 15), Wait);
        assert_eq!(w.availability(3, Some(0), 15), Wait);
        assert_eq!(w.availability(2, Some(16), 15), TooFar);
        assert_eq!(w.availability(5, None, 15), TooFar);
        assert_eq!(w.availability(u64::MAX, Some(0), 15), TooFar);
        assert_eq!(w.availability(0, Some(9), 15), Ready, "long gone");
        let w = window(6, 2, 0);
        assert_eq!(
            w.availability(1, Some(2), 15),
            Wait,
            "part 2.0 is not there yet"
        );
    }
}
