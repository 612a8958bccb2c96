//! Each receiving session's bandwidth: str0m estimates what the path to the subscriber
//! carries (transport-wide congestion control); the router shares that among the
//! session's videos (`allocation.rs`), caps each subscription's layer accordingly, pauses
//! the videos that do not fit (telling the subscriber) and tells str0m how much to probe
//! for, so a subscriber whose path frees up climbs back.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use moim_proto::signal::{TrackKind, TrackSource};
use str0m::bwe::Bitrate;

use crate::allocation::{Demand, Priority, allocate};
use crate::event::MediaEvent;
use crate::ids::{ParticipantId, SessionId};
use crate::router::Router;
use crate::subscription::Cap;

/// What str0m assumes a new path carries, until it measures (the allocation waits for
/// the first measurement).
pub const INITIAL_ESTIMATE: Bitrate = Bitrate::kbps(1_000);
/// An estimate below this share (in percent) of what the session sends is congestion.
const CONGESTED_PERCENT: u64 = 85;
/// A session is allocated again at most this often, unless its estimate falls.
const REALLOCATE_EVERY: Duration = Duration::from_millis(500);
/// An estimate this much (in percent) below the one last allocated reallocates at once.
const FALL_PERCENT: u64 = 90;
/// While a video has less than it wants, str0m is made to probe for more this often.
const PROBE_EVERY: Duration = Duration::from_secs(3);
/// How much the wanted bitrate is raised to probe, in bits a second.
const PROBE_NUDGE: u64 = 2_000;
/// str0m reports the average of its estimates over this long, the estimator's before a
/// restart among them.
const AVERAGED_OVER: Duration = Duration::from_secs(3);
/// Loss (in percent) of what was sent over a second that shows the path did not carry it:
/// a queue on the path overflows. (Loss that only comes and goes on a poor link stays well
/// below; str0m's estimator backs off from 10 %, over seconds.)
const OVERFLOW_LOSS_PERCENT: f32 = 25.0;
/// str0m's statistics give the loss over this long.
const LOSS_PERIOD: Duration = Duration::from_secs(1);

/// A receiving session's estimate and when it was last shared out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bandwidth {
    /// Bits a second the path carries, by str0m's estimate.
    pub estimate: Option<u64>,
    /// The estimate last allocated, and when.
    allocated: Option<(u64, Instant)>,
    /// The estimate has fallen since the path began: str0m saw the path congested, and
    /// what it estimates is what the path carries. Until then the estimate only climbs
    /// from a guess, and says no more than that the path carries at least that much.
    fell: bool,
    /// The estimate the router last set itself, in place of str0m's.
    set: Option<SetEstimate>,
    /// Bits a second the last allocation sends, sound included, and of that the sound.
    sending: u64,
    sound: u64,
    probe: Probe,
}

/// An estimate the router set in place of str0m's. It stands until str0m's average holds
/// none of the estimates from before it: a step down in a mix of the two would read as
/// a fall, and one up as room.
#[derive(Debug, Clone, Copy)]
struct SetEstimate {
    at: Instant,
    from: SetFrom,
}

/// What the router set an estimate from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetFrom {
    /// What is sent (bits a second), which the path has yet to show that it carries:
    /// str0m's estimator started over from it.
    Sent(u64),
    /// What the path delivered, when it lost much of what was sent.
    Delivered,
}

impl SetEstimate {
    /// str0m's average still holds estimates from before it.
    fn recent(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.at) < AVERAGED_OVER
    }
}

/// What becomes of a running video the allocation has no room for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Short {
    /// It keeps its smallest layer a while first: the estimate may only dip.
    Deferred,
    /// It is paused at once: the path showed that it does not carry what is sent.
    Paused,
}

/// Probing for more while videos want it. str0m probes when the wanted bitrate rises
/// above the estimate, so every [`PROBE_EVERY`] the wanted bitrate is raised a little
/// for one allocation. (Lowering it further, to what is sent, would also lower the
/// estimate str0m allows.)
#[derive(Debug, Clone, Copy, Default)]
enum Probe {
    /// Nothing wanted.
    #[default]
    Idle,
    /// Wanted: the next probe, not before this.
    Waiting(Instant),
    /// Raised a little; the next allocation asks as before.
    Raised,
}

impl Router {
    /// str0m estimated what the path to session `id` carries.
    pub(crate) fn estimated(&mut self, now: Instant, id: SessionId, bps: u64) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        // The first word is the starting guess, not a measurement: nothing is taken away
        // on it (a video of more than the guess would be paused before the path was
        // ever probed).
        if session.bandwidth.estimate.is_none() && bps == INITIAL_ESTIMATE.as_u64() {
            return;
        }
        // An estimate the router set stands while str0m's average still holds estimates
        // from before it; the statistics tell meanwhile whether the path carries it.
        if session.bandwidth.set.is_some_and(|set| set.recent(now)) {
            return;
        }
        // str0m reports the average of its estimates over the last seconds, in steps of
        // a few percent: a fall shows first as a step down (from the guess, at first).
        let bandwidth = &mut session.bandwidth;
        bandwidth.fell |= bps < bandwidth.estimate.unwrap_or(INITIAL_ESTIMATE.as_u64());
        bandwidth.estimate = Some(bps);
        tracing::debug!(session = %id, estimate_kbps = bps / 1000, fell = bandwidth.fell, "estimated");
        let due = session.bandwidth.allocated.is_none_or(|(last, at)| {
            bps * 100 < last * FALL_PERCENT || now.saturating_duration_since(at) >= REALLOCATE_EVERY
        });
        if due {
            self.allocate(now, id);
        }
    }

    /// str0m's statistics of session `id` show `loss`, the share of what it sent over the
    /// last second that was lost. A path that loses much of what is sent does not carry
    /// it, whatever the estimate says: str0m's average of its estimates follows seconds
    /// later, and a queue that overflows keeps the delay high but no longer growing,
    /// which is all the estimate's delay part sees. The estimate is set to a little less
    /// than what the path delivered (half of what is sent at least), so that its queue
    /// drains, and the videos that do not fit are paused at once.
    pub(crate) fn lost_on_the_way(&mut self, now: Instant, id: SessionId, loss: f32) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let bandwidth = &mut session.bandwidth;
        let Some(estimate) = bandwidth.estimate else {
            return;
        };
        let loss = loss.clamp(0.0, 1.0);
        if loss * 100.0 < OVERFLOW_LOSS_PERCENT {
            return;
        }
        // With every video paused there is nothing to take away (str0m's probes for more
        // are what a slow path loses then). Once is enough while the queue drains, and
        // the loss of a second in which the allocation already sent less says nothing of
        // what it sends now.
        if bandwidth.sending <= bandwidth.sound {
            return;
        }
        let set_lately = bandwidth
            .set
            .is_some_and(|set| set.from == SetFrom::Delivered && set.recent(now));
        let lowered_lately = session.slots.values().any(|slot| {
            slot.lowered
                .is_some_and(|at| now.saturating_duration_since(at) < LOSS_PERIOD)
        });
        if set_lately || lowered_lately {
            return;
        }
        // A burst of loss can be a moment's (a link handing over, a probe overflowing a
        // short queue): never less than half of what is sent, as libwebrtc's loss-based
        // control takes off half the loss at a time.
        let delivered = (bandwidth.sending as f64 * f64::from(1.0 - loss)) as u64;
        let bps = (delivered * CONGESTED_PERCENT / 100).max(bandwidth.sending / 2);
        if bps >= estimate {
            return;
        }
        tracing::debug!(
            session = %id,
            sending_kbps = bandwidth.sending / 1000,
            loss_percent = loss * 100.0,
            estimate_kbps = bps / 1000,
            "a path that loses much of what is sent is estimated at what it delivered"
        );
        bandwidth.set = Some(SetEstimate {
            at: now,
            from: SetFrom::Delivered,
        });
        bandwidth.estimate = Some(bps);
        bandwidth.fell = true;
        self.share(now, id, Short::Paused);
    }

    /// Session `id`'s path changed (its ICE restarted over another network): what was
    /// estimated, and taken away, on the old path says nothing of the new one, and the
    /// outage itself looked like congestion. The session starts over as a new one does:
    /// no estimate, every video at the layer its size asks for, until str0m measures.
    pub(crate) fn path_changed(&mut self, now: Instant, id: SessionId) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        session.rtc.bwe().reset(INITIAL_ESTIMATE);
        session.bandwidth = Bandwidth::default();
        for slot in session.slots.values_mut() {
            let Some(track) = slot.track.and_then(|t| self.tracks.get(&t)) else {
                continue;
            };
            if let Some(paused) = slot.allot(Cap::Free, false, now) {
                self.pending.announce(MediaEvent::SubscriptionPaused {
                    participant: session.participant,
                    publisher: track.participant,
                    track: track.id,
                    paused,
                });
            }
        }
        self.pending.poll(session);
    }

    /// Shares out again the estimates of sessions str0m has not updated lately (an
    /// estimate that holds still brings no event, and the probing for more must go on).
    pub(crate) fn reallocate_quiet(&mut self, now: Instant) {
        let quiet: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| {
                s.bandwidth
                    .allocated
                    .is_some_and(|(_, at)| now.saturating_duration_since(at) >= REALLOCATE_EVERY)
            })
            .map(|s| s.id)
            .collect();
        for id in quiet {
            self.allocate(now, id);
        }
    }

    /// Shares session `id`'s estimate among its videos.
    pub(crate) fn allocate(&mut self, now: Instant, id: SessionId) {
        self.share(now, id, Short::Deferred);
    }

    fn share(&mut self, now: Instant, id: SessionId, short: Short) {
        let speaking: HashSet<ParticipantId> = self
            .tracks
            .values()
            .filter(|t| t.kind == TrackKind::Audio && t.speech.is_speaking())
            .map(|t| t.participant)
            .collect();
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(estimate) = session.bandwidth.estimate else {
            return;
        };
        session.bandwidth.allocated = Some((estimate, now));
        let mut audio = 0;
        // What the videos send now, by the layers they have.
        let mut videos_sent = 0;
        let mut wanted = Vec::new();
        let mut demands = Vec::new();
        for (mid, slot) in &session.slots {
            let Some(track) = slot.track.and_then(|t| self.tracks.get(&t)) else {
                continue;
            };
            if !slot.open || track.muted {
                continue;
            }
            if !slot.is_video {
                audio += track
                    .layers
                    .iter()
                    .filter_map(|l| l.rate.bps())
                    .max()
                    .unwrap_or(0);
                continue;
            }
            // The layers it may have, smallest first, up to the one its size asks for.
            let Some(fit) = track.choose_layer(slot.target_height, now) else {
                continue;
            };
            let mut layers: Vec<(u32, u64, usize)> = track
                .layers
                .iter()
                .enumerate()
                .filter(|(_, l)| l.is_active(now) && l.height <= track.layers[fit].height)
                .filter_map(|(i, l)| Some((l.height, l.rate.bps()?, i)))
                .collect();
            if layers.is_empty() {
                continue;
            }
            layers.sort_unstable();
            let current = match slot.cap {
                Cap::Free => Some(layers.len() - 1),
                Cap::Layer(l) => layers.iter().position(|&(_, _, i)| i == l),
                Cap::Paused => None,
            };
            videos_sent += current.map_or(0, |c| layers[c].1);
            let priority = if track.source == TrackSource::Screen {
                Priority::Screen
            } else if speaking.contains(&track.participant) {
                Priority::Speaker
            } else {
                Priority::Camera
            };
            demands.push(Demand {
                priority,
                costs: layers.iter().map(|&(_, bps, _)| bps).collect(),
                current,
                may_rise: slot.lowered.is_none_or(|t| {
                    now.saturating_duration_since(t) >= crate::allocation::UPGRADE_HOLD
                }),
            });
            wanted.push((*mid, track.id, track.participant, layers));
        }
        // While nothing is congested the estimate hovers about what is sent (the estimator
        // trusts little more than it has seen acknowledged), and a keyframe or a busier
        // picture makes a layer cost more for a moment: only an estimate clearly below
        // what is sent is congestion, and takes layers away.
        let sent = audio + videos_sent;
        let mut congested = estimate * 100 < sent * CONGESTED_PERCENT;
        if congested && !session.bandwidth.fell {
            // An estimate still climbing from the guess is no congestion: the path has
            // carried all that is sent. str0m starts over from that rate, as libwebrtc's
            // rate control takes the measured throughput after its first seconds, so
            // that its pacer does not hold the media back to the guess; on a path that
            // does not carry it the estimate falls from there.
            let restarted = match session.bandwidth.set {
                Some(SetEstimate {
                    from: SetFrom::Sent(bps),
                    ..
                }) => bps,
                _ => 0,
            };
            if restarted * 100 < sent * CONGESTED_PERCENT {
                session.rtc.bwe().reset(Bitrate::bps(sent));
                tracing::debug!(
                    session = %session.id,
                    estimate_kbps = estimate / 1000,
                    sent_kbps = sent / 1000,
                    "an estimate still climbing from its guess starts over from what is sent"
                );
                session.bandwidth.set = Some(SetEstimate {
                    at: now,
                    from: SetFrom::Sent(sent),
                });
                session.bandwidth.estimate = Some(sent);
            }
            congested = false;
        }
        let budget = if congested {
            estimate
        } else {
            estimate.max(sent)
        };
        let budget = budget.saturating_sub(audio);
        let chosen = allocate(budget, &demands);
        let mut sending = audio;
        let mut desired = audio;
        for ((demand, choice), (mid, track, publisher, layers)) in
            demands.iter().zip(&chosen).zip(wanted)
        {
            desired += demand.costs.last().copied().unwrap_or(0);
            let Some(slot) = session.slots.get_mut(&mid) else {
                continue;
            };
            let cap = match choice {
                Some(i) => Cap::Layer(layers[*i].2),
                None => Cap::Paused,
            };
            // A dip defers the pause; a path that showed it does not carry what is
            // sent, or would not carry the video even alone, does not.
            let cap = if short == Short::Paused || budget < demand.costs[0] {
                cap
            } else {
                slot.defer_pause(cap, layers[0].2, now)
            };
            let choice = match cap {
                Cap::Layer(l) => layers.iter().position(|&(_, _, i)| i == l),
                _ => None,
            };
            sending += choice.map_or(0, |i| demand.costs[i]);
            let lowered = match (demand.current, choice) {
                (Some(c), Some(i)) => i < c,
                (Some(_), None) => true,
                _ => false,
            };
            if let Some(paused) = slot.allot(cap, lowered, now) {
                tracing::info!(
                    session = %session.id,
                    %track,
                    paused,
                    estimate_kbps = estimate / 1000,
                    sent_kbps = sent / 1000,
                    "a video no longer fits the subscriber's path, or fits again"
                );
                self.pending.announce(MediaEvent::SubscriptionPaused {
                    participant: session.participant,
                    publisher,
                    track,
                    paused,
                });
            }
        }
        // No padding beyond the media (it would fill a slow link and crowd out the
        // sound); probes find out whether the videos' wanted layers fit.
        let desired = desired.max(sending);
        let wanting = desired > sending && estimate < desired;
        let (probe, asked) = match session.bandwidth.probe {
            Probe::Idle | Probe::Waiting(_) if !wanting => (Probe::Idle, desired),
            Probe::Idle => (Probe::Raised, desired + PROBE_NUDGE),
            Probe::Waiting(at) if now >= at => (Probe::Raised, desired + PROBE_NUDGE),
            Probe::Waiting(at) => (Probe::Waiting(at), desired),
            Probe::Raised => (Probe::Waiting(now + PROBE_EVERY), desired),
        };
        session.bandwidth.probe = probe;
        session.bandwidth.sending = sending;
        session.bandwidth.sound = audio;
        session
            .rtc
            .bwe()
            .set_bitrate(Bitrate::bps(sending), Bitrate::bps(asked));
        self.pending.poll(session);
    }
}
