//! What an HLS player asks for: any file name either names exactly one of a rendition's
//! files (and prints back as itself) or none, and any blocking-reload question
//! (`_HLS_msn`, `_HLS_part`) about a rendition with a few parts gets an answer, never a
//! panic.
#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use moim_egress::cmaf::{AudioTrack, Tracks};
use moim_egress::hls::{AudioFrame, Resource, Segmenter, SegmenterConfig};

fuzz_target!(|data: &[u8]| {
    let name = String::from_utf8_lossy(data);
    if let Some(resource) = Resource::parse(&name) {
        assert_eq!(resource.to_string(), name);
    }
    let Ok(audio) = AudioTrack::new(vec![0x11, 0x90]) else {
        return;
    };
    let tracks = Tracks {
        video: None,
        audio: Some(audio),
    };
    let config = SegmenterConfig::default();
    let Ok(mut segmenter) = Segmenter::new(tracks, config, SystemTime::UNIX_EPOCH) else {
        return;
    };
    let frame = [0x21u8; 8];
    for i in 0..200 {
        let _ = segmenter.push_audio(&AudioFrame {
            pts: i * 1920,
            data: &frame,
        });
    }
    let numbers = |at: usize| {
        data.get(at..at + 8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    };
    let part = data
        .get(16..20)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])));
    let _ = segmenter.availability(numbers(0), part);
    let _ = segmenter.availability(numbers(8) % 64, part.map(|p| p % 32));
    let _ = segmenter.file(&name);
});
