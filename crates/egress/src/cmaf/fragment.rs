//! Fragments: a `moof` saying where each track's samples are, how long each lasts, how big
//! it is and whether a decoder can start at it, then the `mdat` holding them. Samples wait
//! in a [`SampleRun`] per track (reused buffers) until [`write_fragment`] takes them.

use super::boxes::{self, full, plain};

/// `trun` sample flags of a sync sample: depends on no other.
const SYNC: u32 = 0x0200_0000;
/// `trun` sample flags of another sample: depends on others, not a sync sample.
const NON_SYNC: u32 = 0x0101_0000;

/// `tfhd` flag: sample data offsets count from the `moof`.
const DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// `trun` flags: data offset, then each sample's duration, size, flags.
const TRUN_FLAGS: u32 = 0x0001 | 0x0100 | 0x0200 | 0x0400;
/// `trun` flag: each sample's composition time offset.
const TRUN_COMPOSITION: u32 = 0x0800;

/// One sample waiting in a run.
#[derive(Debug, Clone, Copy)]
struct Sample {
    decode_time: u64,
    size: u32,
    sync: bool,
    composition_offset: i32,
}

/// The samples of one track waiting for a fragment, their bytes in one buffer.
#[derive(Debug)]
pub struct SampleRun {
    track_id: u32,
    samples: Vec<Sample>,
    data: Vec<u8>,
}

impl SampleRun {
    /// An empty run of the track with id `track_id`.
    pub fn new(track_id: u32) -> SampleRun {
        SampleRun {
            track_id,
            samples: Vec::new(),
            data: Vec::new(),
        }
    }

    /// Adds a sample decoded at `decode_time` (in the track's timescale), presented
    /// `composition_offset` later; false (and nothing added) for one of 4 GiB or more.
    #[must_use]
    pub fn push(
        &mut self,
        decode_time: u64,
        composition_offset: i32,
        sync: bool,
        data: &[u8],
    ) -> bool {
        let Ok(size) = u32::try_from(data.len()) else {
            return false;
        };
        self.samples.push(Sample {
            decode_time,
            size,
            sync,
            composition_offset,
        });
        self.data.extend_from_slice(data);
        true
    }

    /// How many samples wait.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample waits.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// How many bytes the waiting samples hold.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// The decode time of waiting sample `i`.
    pub fn decode_time(&self, i: usize) -> Option<u64> {
        self.samples.get(i).map(|s| s.decode_time)
    }

    /// Whether the first waiting sample is a sync sample (`None` when none waits).
    pub fn starts_with_sync(&self) -> Option<bool> {
        self.samples.first().map(|s| s.sync)
    }

    /// How many of the waiting samples are decoded before `time`.
    pub fn count_before(&self, time: u64) -> usize {
        self.samples.partition_point(|s| s.decode_time < time)
    }

    /// Whether any of the first `count` samples has a composition offset.
    fn has_offsets(&self, count: usize) -> bool {
        self.samples[..count]
            .iter()
            .any(|s| s.composition_offset != 0)
    }
}

/// What a fragment takes of one run: its first `count` samples, the last of which lasts
/// until `end` (the next sample's decode time, in the track's timescale).
#[derive(Debug)]
pub struct RunCut<'a> {
    /// The track's waiting samples.
    pub run: &'a mut SampleRun,
    /// How many to take (at most all).
    pub count: usize,
    /// When the last one taken ends.
    pub end: u64,
}

/// Appends one fragment (`moof` + `mdat`, after an `styp` when it starts a segment) with
/// sequence number `sequence`, taking each cut's samples out of its run.
pub fn write_fragment(out: &mut Vec<u8>, sequence: u32, starts_segment: bool, cuts: &mut [RunCut]) {
    for cut in cuts.iter_mut() {
        cut.count = cut.count.min(cut.run.len());
    }
    if starts_segment {
        plain(out, b"styp", |b| {
            b.extend_from_slice(b"msdh");
            boxes::u32(b, 0);
            b.extend_from_slice(b"msdh");
            b.extend_from_slice(b"cmfs");
        });
    }
    let moof_size: usize = 8
        + 16
        + cuts
            .iter()
            .filter(|c| c.count > 0)
            .map(|c| traf_size(c.count, c.run.has_offsets(c.count)))
            .sum::<usize>();
    // Offsets count from the moof's start: past it and the mdat's header.
    let mut data_offset = moof_size + 8;
    plain(out, b"moof", |b| {
        full(b, b"mfhd", 0, 0, |b| boxes::u32(b, sequence));
        for cut in cuts.iter().filter(|c| c.count > 0) {
            traf(b, cut, data_offset);
            data_offset += data_len(cut);
        }
    });
    let total: usize = cuts.iter().map(|c| data_len(c)).sum();
    boxes::u32(out, u32::try_from(8 + total).unwrap_or(u32::MAX));
    out.extend_from_slice(b"mdat");
    for cut in cuts.iter_mut() {
        let len = data_len(cut);
        out.extend_from_slice(&cut.run.data[..len]);
        cut.run.data.drain(..len);
        cut.run.samples.drain(..cut.count);
    }
}

/// The bytes of a cut's samples.
fn data_len(cut: &RunCut) -> usize {
    cut.run.samples[..cut.count]
        .iter()
        .map(|s| s.size as usize)
        .sum()
}

/// The size of a `traf` of `count` samples: `tfhd`, `tfdt` (version 1), `trun`.
fn traf_size(count: usize, offsets: bool) -> usize {
    let per_sample = if offsets { 16 } else { 12 };
    8 + 16 + 20 + (20 + count * per_sample)
}

fn traf(out: &mut Vec<u8>, cut: &RunCut, data_offset: usize) {
    let samples = &cut.run.samples[..cut.count];
    let offsets = cut.run.has_offsets(cut.count);
    plain(out, b"traf", |b| {
        full(b, b"tfhd", 0, DEFAULT_BASE_IS_MOOF, |b| {
            boxes::u32(b, cut.run.track_id)
        });
        full(b, b"tfdt", 1, 0, |b| boxes::u64(b, samples[0].decode_time));
        // Version 1: signed composition offsets (B-frames may be presented before their
        // decode time once the stream starts at zero).
        let (version, flags) = if offsets {
            (1, TRUN_FLAGS | TRUN_COMPOSITION)
        } else {
            (0, TRUN_FLAGS)
        };
        full(b, b"trun", version, flags, |b| {
            boxes::u32(b, samples.len() as u32);
            boxes::u32(b, u32::try_from(data_offset).unwrap_or(u32::MAX));
            for (i, s) in samples.iter().enumerate() {
                let next = samples.get(i + 1).map_or(cut.end, |n| n.decode_time);
                let duration = next.saturating_sub(s.decode_time);
                boxes::u32(b, u32::try_from(duration).unwrap_or(u32::MAX));
                boxes::u32(b, s.size);
                boxes::u32(b, if s.sync { SYNC } else { NON_SYNC });
                if offsets {
                    b.extend_from_slice(&s.composition_offset.to_be_bytes());
                }
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::super::test_boxes::{all, boxes, find, u32_at, u64_at};
    use super::*;

    #[test]
    fn a_fragment_says_where_each_sample_is_and_how_long_it_lasts() {
        let mut video = SampleRun::new(1);
        let mut audio = SampleRun::new(2);
        assert!(video.push(9_000, 0, true, &[1; 10]));
        assert!(video.push(12_000, 3_000, false, &[2; 20]));
        assert!(video.push(15_000, -3_000, false, &[3; 30]));
        assert!(audio.push(4_800, 0, true, &[4; 5]));
        assert!(audio.push(5_824, 0, true, &[5; 6]));
        // Held back for the next fragment.
        assert!(audio.push(6_848, 0, true, &[6; 7]));
        let mut out = vec![0xAA];
        let mut cuts = [
            RunCut {
                run: &mut video,
                count: 3,
                end: 18_000,
            },
            RunCut {
                run: &mut audio,
                count: 2,
                end: 6_848,
            },
        ];
        write_fragment(&mut out, 7, true, &mut cuts);
        let top = boxes(&out[1..]);
        let kinds: Vec<&str> = top.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["styp", "moof", "mdat"]);
        let moof = top[1].1;
        let moof_start = 1 + 8 + top[0].1.len();
        assert_eq!(u32_at(find(moof, "mfhd").unwrap(), 4), 7);
        let trafs = all(moof, "traf");
        assert_eq!(trafs.len(), 2);

        let expect = [
            (
                1,
                9_000,
                vec![
                    (3_000, 10, SYNC, 0, 1u8),
                    (3_000, 20, NON_SYNC, 3_000, 2),
                    (3_000, 30, NON_SYNC, -3_000, 3),
                ],
            ),
            (
                2,
                4_800,
                vec![(1_024, 5, SYNC, 0, 4), (1_024, 6, SYNC, 0, 5)],
            ),
        ];
        for (traf, (id, base, samples)) in trafs.iter().zip(expect) {
            let tfhd = find(traf, "tfhd").unwrap();
            assert_eq!(u32_at(tfhd, 0), DEFAULT_BASE_IS_MOOF);
            assert_eq!(u32_at(tfhd, 4), id);
            let tfdt = find(traf, "tfdt").unwrap();
            assert_eq!(tfdt[0], 1, "version 1");
            assert_eq!(u64_at(tfdt, 4), base);
            let trun = find(traf, "trun").unwrap();
            let offsets = trun[0] == 1;
            assert_eq!(
                offsets,
                id == 1,
                "composition offsets only where there are some"
            );
            assert_eq!(u32_at(trun, 4) as usize, samples.len());
            let mut at = moof_start + u32_at(trun, 8) as usize;
            let mut field = 12;
            for (duration, size, flags, cto, byte) in samples {
                assert_eq!(u32_at(trun, field), duration);
                assert_eq!(u32_at(trun, field + 4), size);
                assert_eq!(u32_at(trun, field + 8), flags);
                field += 12;
                if offsets {
                    assert_eq!(u32_at(trun, field) as i32, cto);
                    field += 4;
                }
                assert!(out[at..at + size as usize].iter().all(|b| *b == byte));
                at += size as usize;
            }
            assert_eq!(field, trun.len());
        }
        assert_eq!(top[2].1.len(), 10 + 20 + 30 + 5 + 6);
        assert!(video.is_empty());
        assert_eq!((audio.len(), audio.bytes()), (1, 7));
        assert_eq!(audio.decode_time(0), Some(6_848));
    }

    #[test]
    fn a_fragment_without_a_segment_start_has_no_styp_and_skips_empty_runs() {
        let mut video = SampleRun::new(1);
        let mut audio = SampleRun::new(2);
        assert!(audio.push(0, 0, true, &[1, 2]));
        let mut out = Vec::new();
        let mut cuts = [
            RunCut {
                run: &mut video,
                count: 5,
                end: 0,
            },
            RunCut {
                run: &mut audio,
                count: 1,
                end: 1_024,
            },
        ];
        write_fragment(&mut out, 1, false, &mut cuts);
        let top = boxes(&out);
        assert_eq!(top[0].0, "moof");
        let trafs = all(top[0].1, "traf");
        assert_eq!(trafs.len(), 1);
        assert_eq!(u32_at(find(trafs[0], "tfhd").unwrap(), 4), 2);
        assert_eq!(top[1].1, [1, 2]);
    }

    #[test]
    fn runs_count_samples_before_a_time() {
        let mut run = SampleRun::new(1);
        for t in [0, 1_024, 2_048] {
            assert!(run.push(t, 0, true, &[0]));
        }
        assert_eq!(run.count_before(1_024), 1);
        assert_eq!(run.count_before(1_025), 2);
        assert_eq!(run.starts_with_sync(), Some(true));
    }
}
