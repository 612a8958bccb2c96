//! The init segment: `ftyp` and a `moov` with one `trak` per track and empty sample tables
//! (the samples come in fragments), plus the `mvex` that announces them.

use super::boxes::{self, full, plain};
use super::{AudioTrack, Tracks, VIDEO_TIMESCALE, VideoTrack};

/// The movie header's clock; nothing is timed with it (durations are zero: a live stream).
const MOVIE_TIMESCALE: u32 = 1000;

/// `tkhd` flags: enabled, in the movie, in the preview.
const TRACK_ENABLED: u32 = 0x7;

/// Appends the init segment of `tracks` to `out`.
pub fn init_segment(tracks: &Tracks, out: &mut Vec<u8>) {
    plain(out, b"ftyp", |b| {
        b.extend_from_slice(b"iso6");
        boxes::u32(b, 0);
        for brand in [b"iso6", b"cmfc", b"mp41", b"isom"] {
            b.extend_from_slice(brand);
        }
    });
    plain(out, b"moov", |b| {
        let next_track = tracks.audio_id() + u32::from(tracks.audio.is_some());
        mvhd(b, next_track);
        if let Some(video) = &tracks.video {
            trak(b, Tracks::VIDEO_ID, VIDEO_TIMESCALE, Media::Video(video));
        }
        if let Some(audio) = &tracks.audio {
            trak(
                b,
                tracks.audio_id(),
                audio.sample_rate(),
                Media::Audio(audio),
            );
        }
        plain(b, b"mvex", |b| {
            let ids = [
                tracks.video.as_ref().map(|_| Tracks::VIDEO_ID),
                tracks.audio.as_ref().map(|_| tracks.audio_id()),
            ];
            for id in ids.into_iter().flatten() {
                full(b, b"trex", 0, 0, |b| {
                    boxes::u32(b, id);
                    // Sample description 1; no defaults (every fragment says its own).
                    boxes::u32(b, 1);
                    boxes::zeros(b, 12);
                });
            }
        });
    });
}

/// What one track carries.
enum Media<'a> {
    Video(&'a VideoTrack),
    Audio(&'a AudioTrack),
}

fn mvhd(out: &mut Vec<u8>, next_track: u32) {
    full(out, b"mvhd", 0, 0, |b| {
        boxes::zeros(b, 8); // creation and modification times
        boxes::u32(b, MOVIE_TIMESCALE);
        boxes::u32(b, 0); // duration: unknown, live
        boxes::u32(b, 0x0001_0000); // rate 1.0
        boxes::u16(b, 0x0100); // volume 1.0
        boxes::zeros(b, 10);
        boxes::unity_matrix(b);
        boxes::zeros(b, 24); // pre_defined
        boxes::u32(b, next_track);
    });
}

fn trak(out: &mut Vec<u8>, id: u32, timescale: u32, media: Media) {
    plain(out, b"trak", |b| {
        full(b, b"tkhd", 0, TRACK_ENABLED, |b| {
            boxes::zeros(b, 8); // creation and modification times
            boxes::u32(b, id);
            boxes::zeros(b, 4); // reserved
            boxes::u32(b, 0); // duration
            boxes::zeros(b, 8); // reserved
            boxes::u16(b, 0); // layer
            boxes::u16(b, 0); // alternate group
            boxes::u16(
                b,
                if matches!(media, Media::Audio(_)) {
                    0x0100
                } else {
                    0
                },
            );
            boxes::u16(b, 0);
            boxes::unity_matrix(b);
            let (w, h) = match media {
                Media::Video(v) => (v.width(), v.height()),
                Media::Audio(_) => (0, 0),
            };
            boxes::u32(b, w << 16);
            boxes::u32(b, h << 16);
        });
        plain(b, b"mdia", |b| {
            full(b, b"mdhd", 0, 0, |b| {
                boxes::zeros(b, 8);
                boxes::u32(b, timescale);
                boxes::u32(b, 0);
                boxes::u16(b, 0x55C4); // "und", packed ISO 639-2
                boxes::u16(b, 0);
            });
            let (handler, name): (&[u8; 4], &[u8]) = match media {
                Media::Video(_) => (b"vide", b"VideoHandler\0"),
                Media::Audio(_) => (b"soun", b"SoundHandler\0"),
            };
            full(b, b"hdlr", 0, 0, |b| {
                boxes::u32(b, 0);
                b.extend_from_slice(handler);
                boxes::zeros(b, 12);
                b.extend_from_slice(name);
            });
            plain(b, b"minf", |b| {
                match media {
                    Media::Video(_) => full(b, b"vmhd", 0, 1, |b| boxes::zeros(b, 8)),
                    Media::Audio(_) => full(b, b"smhd", 0, 0, |b| boxes::zeros(b, 4)),
                }
                plain(b, b"dinf", |b| {
                    full(b, b"dref", 0, 0, |b| {
                        boxes::u32(b, 1);
                        // The samples are in this file.
                        full(b, b"url ", 0, 1, |_| {});
                    });
                });
                stbl(b, &media);
            });
        });
    });
}

/// The sample table: the one sample description, and empty tables of samples.
fn stbl(out: &mut Vec<u8>, media: &Media) {
    plain(out, b"stbl", |b| {
        full(b, b"stsd", 0, 0, |b| {
            boxes::u32(b, 1);
            match media {
                Media::Video(v) => avc1(b, v),
                Media::Audio(a) => mp4a(b, a),
            }
        });
        for kind in [b"stts", b"stsc", b"stco"] {
            full(b, kind, 0, 0, |b| boxes::u32(b, 0));
        }
        full(b, b"stsz", 0, 0, |b| boxes::zeros(b, 8));
    });
}

fn avc1(out: &mut Vec<u8>, video: &VideoTrack) {
    plain(out, b"avc1", |b| {
        boxes::zeros(b, 6);
        boxes::u16(b, 1); // data reference index
        boxes::zeros(b, 16); // pre_defined, reserved
        boxes::u16(b, video.width() as u16);
        boxes::u16(b, video.height() as u16);
        boxes::u32(b, 0x0048_0000); // 72 dpi
        boxes::u32(b, 0x0048_0000);
        boxes::u32(b, 0);
        boxes::u16(b, 1); // frames per sample
        boxes::zeros(b, 32); // compressor name
        boxes::u16(b, 0x0018); // depth: colour, no alpha
        boxes::u16(b, 0xFFFF); // pre_defined -1
        plain(b, b"avcC", |b| b.extend_from_slice(video.avcc()));
    });
}

fn mp4a(out: &mut Vec<u8>, audio: &AudioTrack) {
    plain(out, b"mp4a", |b| {
        boxes::zeros(b, 6);
        boxes::u16(b, 1); // data reference index
        boxes::zeros(b, 8);
        boxes::u16(b, audio.channels());
        boxes::u16(b, 16); // sample size
        boxes::zeros(b, 4);
        // 16.16 fixed point; rates beyond 16 bits leave it to the timescale and the config.
        let rate = u16::try_from(audio.sample_rate()).unwrap_or(0);
        boxes::u16(b, rate);
        boxes::u16(b, 0);
        full(b, b"esds", 0, 0, |b| esds(b, audio.config()));
    });
}

/// The MPEG-4 elementary stream descriptor (ISO 14496-1 §7.2.6.5): AAC (object type 0x40),
/// an audio stream, its AudioSpecificConfig.
fn esds(out: &mut Vec<u8>, config: &[u8]) {
    let config_len = config.len();
    let decoder_len = 13 + descriptor_len(config_len) + config_len;
    let es_len = 3 + descriptor_len(decoder_len) + decoder_len + 3;
    descriptor(out, 0x03, es_len);
    boxes::u16(out, 0); // ES id
    out.push(0); // no dependency, URL or OCR stream
    descriptor(out, 0x04, decoder_len);
    out.push(0x40); // MPEG-4 audio
    out.push(0x15); // audio stream (5 << 2), reserved bit set
    out.extend_from_slice(&[0, 0, 0]); // buffer size
    boxes::u32(out, 0); // maximum bit rate: unknown
    boxes::u32(out, 0); // average bit rate: unknown
    descriptor(out, 0x05, config_len);
    out.extend_from_slice(config);
    descriptor(out, 0x06, 1);
    out.push(0x02); // SL: predefined for MP4 files
}

/// A descriptor's tag and length, the length in 7-bit groups.
fn descriptor(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    let n = descriptor_len(len) - 1;
    for i in (0..n).rev() {
        let group = (len >> (7 * i)) as u8 & 0x7F;
        out.push(if i > 0 { group | 0x80 } else { group });
    }
}

/// Bytes a descriptor's tag and length take.
fn descriptor_len(len: usize) -> usize {
    let mut groups = 1;
    while groups < 4 && len >> (7 * groups) > 0 {
        groups += 1;
    }
    1 + groups
}

#[cfg(test)]
mod tests {
    use super::super::test_boxes::{ASC, AVCC, all, boxes, find, u16_at, u32_at};
    use super::*;

    fn tracks(video: bool, audio: bool) -> Tracks {
        Tracks {
            video: video.then(|| VideoTrack::new(AVCC.to_vec(), 640, 360).unwrap()),
            audio: audio.then(|| AudioTrack::new(ASC.to_vec()).unwrap()),
        }
    }

    #[test]
    fn the_init_segment_describes_both_tracks() {
        let mut out = Vec::new();
        init_segment(&tracks(true, true), &mut out);
        let ftyp = find(&out, "ftyp").unwrap();
        assert_eq!(&ftyp[..4], b"iso6");
        let moov = find(&out, "moov").unwrap();
        assert_eq!(u32_at(find(moov, "mvhd").unwrap(), 96), 3, "next track id");
        let traks = all(moov, "trak");
        assert_eq!(traks.len(), 2);

        let video = traks[0];
        let tkhd = find(video, "tkhd").unwrap();
        assert_eq!(u32_at(tkhd, 12), 1, "track id");
        assert_eq!((u32_at(tkhd, 76), u32_at(tkhd, 80)), (640 << 16, 360 << 16));
        assert_eq!(u32_at(find(video, "mdia/mdhd").unwrap(), 12), 90_000);
        assert_eq!(&find(video, "mdia/hdlr").unwrap()[8..12], b"vide");
        let avc1 = find(video, "mdia/minf/stbl/stsd/avc1").unwrap();
        assert_eq!(find(avc1, "avcC").unwrap(), AVCC);

        let audio = traks[1];
        assert_eq!(u32_at(find(audio, "tkhd").unwrap(), 12), 2);
        assert_eq!(u32_at(find(audio, "mdia/mdhd").unwrap(), 12), 48_000);
        assert_eq!(&find(audio, "mdia/hdlr").unwrap()[8..12], b"soun");
        let stsd = find(audio, "mdia/minf/stbl/stsd").unwrap();
        let entry = boxes(stsd)[0].1;
        assert_eq!(u16_at(entry, 16), 2, "channels");
        assert_eq!(u16_at(entry, 24), 48_000);
        let esds = find(stsd, "mp4a/esds").unwrap();
        // Version and flags, then the ES descriptor ending in the config and the SL one.
        assert_eq!(esds[4], 0x03);
        assert_eq!(&esds[esds.len() - 5..], &[0x11, 0x90, 0x06, 0x01, 0x02]);
        assert_eq!(usize::from(esds[5]), esds.len() - 6, "ES descriptor length");

        let trex = all(find(moov, "mvex").unwrap(), "trex");
        assert_eq!(trex.len(), 2);
        assert_eq!((u32_at(trex[0], 4), u32_at(trex[1], 4)), (1, 2));
    }

    #[test]
    fn an_audio_only_rendition_has_track_one() {
        let mut out = Vec::new();
        init_segment(&tracks(false, true), &mut out);
        let moov = find(&out, "moov").unwrap();
        let traks = all(moov, "trak");
        assert_eq!(traks.len(), 1);
        assert_eq!(u32_at(find(traks[0], "tkhd").unwrap(), 12), 1);
        assert_eq!(u32_at(find(moov, "mvhd").unwrap(), 96), 2);
    }

    #[test]
    fn descriptor_lengths_grow_in_seven_bit_groups() {
        let mut out = Vec::new();
        descriptor(&mut out, 5, 127);
        descriptor(&mut out, 5, 128);
        assert_eq!(out, [5, 127, 5, 0x81, 0x00]);
    }
}
