//! Measuring this node's load between heartbeats: CPU from the kernel's accounting of the
//! process, packets from the media plane's counters.

use std::time::Instant;

use super::node::Load;

/// What the previous measurement saw, to take differences from.
#[derive(Debug)]
pub struct LoadMeter {
    at: Instant,
    cpu_ticks: Option<u64>,
    datagrams: u64,
}

impl LoadMeter {
    /// A meter starting now.
    pub fn new(datagrams_sent: u64) -> LoadMeter {
        LoadMeter {
            at: Instant::now(),
            cpu_ticks: cpu_ticks(),
            datagrams: datagrams_sent,
        }
    }

    /// The load since the previous call, given the counts now.
    pub fn measure(&mut self, rooms: u64, participants: u64, tracks: u64, datagrams: u64) -> Load {
        let now = Instant::now();
        let seconds = now.duration_since(self.at).as_secs_f64().max(1e-3);
        let ticks = cpu_ticks();
        let cpu = match (self.cpu_ticks, ticks) {
            (Some(before), Some(after)) => {
                let busy = after.saturating_sub(before) as f64 / ticks_per_second();
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
                (100.0 * busy / seconds / cores).clamp(0.0, 100.0)
            }
            _ => 0.0,
        };
        let packets = datagrams.saturating_sub(self.datagrams) as f64 / seconds;
        *self = LoadMeter {
            at: now,
            cpu_ticks: ticks,
            datagrams,
        };
        Load {
            rooms,
            participants,
            tracks,
            cpu: (cpu * 10.0).round() / 10.0,
            packets_per_second: packets.round() as u64,
        }
    }
}

/// The process's user and system time so far, in clock ticks (Linux `/proc/self/stat`).
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name in parentheses may hold spaces; the fields count from after it.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let mut fields = after_name.split(' ').skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

fn ticks_per_second() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_shows_as_cpu_and_datagrams_as_a_rate() {
        let mut meter = LoadMeter::new(1_000);
        let until = Instant::now() + std::time::Duration::from_millis(300);
        let mut spin = 0u64;
        while Instant::now() < until {
            spin = spin.wrapping_add(1);
        }
        assert!(spin > 0);
        let load = meter.measure(2, 5, 7, 1_300);
        assert!(load.cpu > 10.0, "{load:?}");
        assert!((800..=1_000).contains(&load.packets_per_second), "{load:?}");
        assert_eq!((load.rooms, load.participants, load.tracks), (2, 5, 7));
    }
}
