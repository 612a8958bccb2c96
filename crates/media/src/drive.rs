//! When the router's sessions run: their str0m timeouts when due (`timers.rs` keeps the
//! times), the immediate timeouts run inline while a session is polled (str0m's pacer asks
//! for one per packet), the sweep of sessions that never connected, and `drive`, which
//! polls every session an input touched and acts on what they emitted until nothing is
//! left to do.

use std::time::{Duration, Instant};

use str0m::{Input, Output};
use tracing::{info, warn};

use crate::event::MediaEvent;
use crate::ids::SessionId;
use crate::router::Router;
use crate::timers::Timers;

/// A session that has not connected after this long is closed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Immediate timeouts handled in one poll of a session before it goes back to the heap:
/// enough for a keyframe's packets through the pacer, one timeout each.
const MAX_IMMEDIATE_TIMEOUTS: u32 = 64;
/// A timeout this close to the time last handed to the session is run at once, at its
/// own time. str0m's pacer (on with bandwidth estimation) releases one packet per timeout
/// and asks for the next a microsecond later, so that its clock moves between packets;
/// through the heap, each paced packet cost a pass of the IO loop and a datagram of its
/// own. Timers further off keep their time: pacing and probing depend on it.
const IMMEDIATE_SLACK: Duration = Duration::from_micros(10);

impl Router {
    /// When [`Router::handle_timeout`] should be called next.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Advances time: runs every session whose timer is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, id)) = self.timers.pop_due(now) {
            let Some(session) = self.sessions.get_mut(&id) else {
                continue;
            };
            if !Timers::is_live(at, &mut session.scheduled) {
                continue;
            }
            if let Err(e) = session.rtc.handle_input(Input::Timeout(now)) {
                warn!(session = %id, "timeout handling failed: {e}");
                session.rtc.disconnect();
            }
            self.pending.poll(session);
        }
        if self.timers.sweep_due(now, !self.sessions.is_empty()) {
            self.sweep(now);
        }
        self.drive(now);
    }

    /// Closes sessions that never connected; shares out estimates str0m has not updated.
    fn sweep(&mut self, now: Instant) {
        self.demux.expire(now);
        for track in self.tracks.values_mut().filter(|t| t.is_local()) {
            if let Some(speaking) = track.speech.expire(now) {
                self.pending.announce(MediaEvent::Speaking {
                    participant: track.participant,
                    track: track.id,
                    speaking,
                });
            }
        }
        for session in self.sessions.values_mut() {
            if !session.rtc.is_connected()
                && now.saturating_duration_since(session.created) > CONNECT_TIMEOUT
            {
                info!(session = %session.id, "never connected; closing");
                session.rtc.disconnect();
                self.pending.poll(session);
            }
        }
        self.reallocate_quiet(now);
        self.layers_due = true;
    }

    /// Polls dirty sessions, routes what they emitted, negotiates and closes, until
    /// nothing is left to do.
    pub(crate) fn drive(&mut self, now: Instant) {
        loop {
            while let Some(id) = self.pending.next_poll() {
                self.poll_session(now, id);
            }
            while let Some((id, event)) = self.session_events.pop_front() {
                self.handle_session_event(now, id, event);
            }
            self.send_keyframe_requests(now);
            while let Some(id) = self.pending.next_renegotiation() {
                self.negotiate(id);
            }
            while let Some(id) = self.closed.pop() {
                self.close_session(id, true);
            }
            if self.layers_due {
                self.layers_due = false;
                self.update_layers_wanted(now);
            }
            if self.pending.nothing_to_poll() && self.session_events.is_empty() {
                break;
            }
        }
    }

    fn poll_session(&mut self, now: Instant, id: SessionId) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        session.dirty = false;
        // str0m asks for an immediate timeout when work is queued (e.g. a written frame to
        // packetize); doing it here saves a trip through the timer heap and the IO loop.
        let mut immediate = 0;
        // The time handed to str0m: `now`, moved on by the pacer's microseconds.
        let mut clock = now;
        loop {
            if !session.rtc.is_alive() {
                self.closed.push(id);
                return;
            }
            match session.rtc.poll_output() {
                Ok(Output::Transmit(t)) => self.transmits.push_back(t),
                Ok(Output::Event(e)) => self.session_events.push_back((id, e)),
                Ok(Output::Timeout(at)) => {
                    if at <= clock + IMMEDIATE_SLACK && immediate < MAX_IMMEDIATE_TIMEOUTS {
                        immediate += 1;
                        clock = clock.max(at);
                        if let Err(e) = session.rtc.handle_input(Input::Timeout(clock)) {
                            warn!(session = %id, "timeout handling failed: {e}");
                            session.rtc.disconnect();
                        }
                        continue;
                    }
                    self.timers.schedule(id, at, &mut session.scheduled);
                    return;
                }
                Err(e) => {
                    warn!(session = %id, "session failed: {e}");
                    session.rtc.disconnect();
                    self.closed.push(id);
                    return;
                }
            }
        }
    }

    /// Closes session `id` once the current input is handled.
    pub(crate) fn close_soon(&mut self, id: SessionId) {
        self.closed.push(id);
    }
}
