//! Who is speaking: the RTP audio level each audio frame carries (RFC 6464, in -dBov: 0
//! is loudest, 127 silence) turned into speaking / silent transitions with hysteresis, so
//! that a single click does not count and a pause between words does not end speech.

use std::time::{Duration, Instant};

/// Frames at least this loud (this many dB below full scale, or fewer) count as voice.
pub const SPEAKING_DBOV: i8 = 45;
/// Two loud frames within this time start speech.
pub const START_WINDOW: Duration = Duration::from_millis(1500);
/// No loud frame for this long ends it.
pub const HANGOVER: Duration = Duration::from_millis(1200);

/// The speaking state of one audio track.
#[derive(Debug, Default, Clone)]
pub struct Speech {
    speaking: bool,
    last_loud: Option<Instant>,
}

impl Speech {
    /// Whether the track is speaking now.
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Notes one frame's audio level (`None`: the sender did not say). Returns the new
    /// state when it changed.
    pub fn frame(&mut self, level: Option<i8>, now: Instant) -> Option<bool> {
        if level.is_some_and(|l| l <= SPEAKING_DBOV) {
            let recent = self
                .last_loud
                .is_some_and(|t| now.saturating_duration_since(t) <= START_WINDOW);
            self.last_loud = Some(now);
            if recent && !self.speaking {
                self.speaking = true;
                return Some(true);
            }
            return None;
        }
        self.expire(now)
    }

    /// Ends speech at once (the track was muted). Returns whether it was speaking.
    pub fn silence(&mut self) -> bool {
        self.last_loud = None;
        std::mem::take(&mut self.speaking)
    }

    /// Ends speech that has been quiet (or sent nothing) for [`HANGOVER`]. Returns `false`
    /// when it ended now.
    pub fn expire(&mut self, now: Instant) -> Option<bool> {
        let quiet = self
            .last_loud
            .is_none_or(|t| now.saturating_duration_since(t) > HANGOVER);
        if self.speaking && quiet {
            self.speaking = false;
            return Some(false);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn one_click_is_not_speech_two_loud_frames_are() {
        let t = Instant::now();
        let mut s = Speech::default();
        assert_eq!(s.frame(Some(20), t), None, "a single loud frame");
        assert_eq!(s.frame(Some(127), ms(t, 20)), None);
        assert_eq!(s.frame(Some(30), ms(t, 40)), Some(true));
        assert!(s.is_speaking());
    }

    #[test]
    fn a_pause_keeps_speech_silence_ends_it() {
        let t = Instant::now();
        let mut s = Speech::default();
        s.frame(Some(10), t);
        s.frame(Some(10), ms(t, 20));
        assert_eq!(s.frame(Some(127), ms(t, 1000)), None, "a pause");
        assert_eq!(s.frame(Some(127), ms(t, 1300)), Some(false));
        assert_eq!(s.frame(Some(127), ms(t, 1400)), None);
    }

    #[test]
    fn a_track_that_stops_sending_stops_speaking() {
        let t = Instant::now();
        let mut s = Speech::default();
        s.frame(Some(10), t);
        s.frame(Some(10), ms(t, 500));
        assert_eq!(s.expire(ms(t, 1000)), None);
        assert_eq!(s.expire(ms(t, 2000)), Some(false));
    }

    #[test]
    fn quiet_or_unknown_levels_never_start_speech() {
        let t = Instant::now();
        let mut s = Speech::default();
        for i in 0..100 {
            assert_eq!(s.frame(Some(70), ms(t, i * 20)), None);
            assert_eq!(s.frame(None, ms(t, i * 20 + 10)), None);
        }
    }
}
