use super::*;
use str0m::format::{Codec, CodecSpec, FormatParams};
use str0m::media::Pt;

fn vp8() -> PayloadParams {
    PayloadParams::new(
        Pt::new_with_value(96),
        Some(Pt::new_with_value(97)),
        CodecSpec {
            codec: Codec::Vp8,
            clock_rate: Frequency::NINETY_KHZ,
            channels: None,
            format: FormatParams::default(),
        },
    )
}

fn frame(keyframe: bool, data: &[u8]) -> Frame {
    Frame {
        rid: Some(Rid::from("h")),
        params: vp8(),
        time: MediaTime::new(123_456, Frequency::NINETY_KHZ),
        network_time: Instant::now(),
        contiguous: true,
        keyframe,
        data: Arc::from(data),
    }
}

fn round_trip(messages: &[NodeMessage]) -> Vec<NodeMessage> {
    let mut encoder = Encoder::default();
    let mut bytes = Vec::new();
    for m in messages {
        assert!(encoder.encode(m, &mut bytes));
    }
    let mut got = Vec::new();
    let read = Decoder::default()
        .decode(&bytes, |m| got.push(m))
        .expect("our own bytes decode");
    assert_eq!(read, bytes.len());
    got
}

#[test]
fn every_message_comes_out_as_it_went_in() {
    let track = NodeTrack {
        id: TrackId(0x1234_0000_0001),
        participant: ParticipantId(7),
        kind: TrackKind::Video,
        source: TrackSource::Screen,
        simulcast: true,
        muted: true,
    };
    let heights = vec![180, 720];
    let got = round_trip(&[
        NodeMessage::TrackPublished(track),
        NodeMessage::TrackMuted {
            track: track.id,
            muted: false,
        },
        NodeMessage::KeyframeRequest {
            track: track.id,
            rid: Some(Rid::from("f")),
        },
        NodeMessage::KeyframeRequest {
            track: track.id,
            rid: None,
        },
        NodeMessage::ReceiverHeights {
            track: track.id,
            heights: heights.clone(),
        },
        NodeMessage::TrackUnpublished(track.id),
        NodeMessage::Control(b"{}".to_vec()),
    ]);
    assert!(matches!(got[0], NodeMessage::TrackPublished(t) if t == track));
    assert!(matches!(
        got[1],
        NodeMessage::TrackMuted { muted: false, .. }
    ));
    assert!(matches!(&got[2], NodeMessage::KeyframeRequest { rid: Some(r), .. } if &**r == "f"));
    assert!(matches!(
        got[3],
        NodeMessage::KeyframeRequest { rid: None, .. }
    ));
    assert!(matches!(&got[4], NodeMessage::ReceiverHeights { heights: h, .. } if *h == heights));
    assert!(matches!(got[5], NodeMessage::TrackUnpublished(t) if t == track.id));
    assert!(matches!(&got[6], NodeMessage::Control(c) if c == b"{}"));
}

#[test]
fn a_frame_keeps_its_codec_time_layer_and_bytes_and_describes_its_codec_once() {
    let (first, second) = (frame(true, b"key"), frame(false, b"delta"));
    let mut encoder = Encoder::default();
    let mut once = Vec::new();
    encoder.encode(
        &NodeMessage::Frame {
            track: TrackId(1),
            frame: first.clone(),
        },
        &mut once,
    );
    let mut twice = Vec::new();
    encoder.encode(
        &NodeMessage::Frame {
            track: TrackId(1),
            frame: second.clone(),
        },
        &mut twice,
    );
    assert!(once.len() > twice.len() + 50, "the codec is described once");
    let got = round_trip(&[
        NodeMessage::Frame {
            track: TrackId(1),
            frame: first,
        },
        NodeMessage::Frame {
            track: TrackId(1),
            frame: second,
        },
    ]);
    let NodeMessage::Frame { track, frame } = &got[0] else {
        panic!("a frame");
    };
    assert_eq!(*track, TrackId(1));
    assert_eq!(frame.params, vp8());
    assert_eq!(frame.time, MediaTime::new(123_456, Frequency::NINETY_KHZ));
    assert_eq!(frame.rid.as_deref(), Some("h"));
    assert!(frame.keyframe && frame.contiguous);
    assert_eq!(&*frame.data, b"key");
    assert!(frame.network_time.elapsed() < Duration::from_secs(1));
    let NodeMessage::Frame { frame, .. } = &got[1] else {
        panic!("a frame");
    };
    assert!(!frame.keyframe);
    assert_eq!(&*frame.data, b"delta");
}

#[test]
fn an_unfinished_record_waits_for_the_rest() {
    let mut bytes = Vec::new();
    Encoder::default().encode(&NodeMessage::TrackUnpublished(TrackId(9)), &mut bytes);
    let mut decoder = Decoder::default();
    let mut got = 0;
    assert_eq!(decoder.decode(&bytes[..5], |_| got += 1), Ok(0));
    assert_eq!(decoder.decode(&bytes, |_| got += 1), Ok(bytes.len()));
    assert_eq!(got, 1);
}

#[test]
fn nonsense_is_an_error_and_never_a_panic() {
    let mut decoder = Decoder::default();
    let cases: [&[u8]; 7] = [
        &[0, 0, 0, 1, 99],                                              // unknown kind
        &[0, 0, 0, 2, TRACK_UNPUBLISHED, 1],                            // cut short
        &[0, 0, 0, 3, TRACK_MUTED, 1, 2],                               // cut short
        &[0xff, 0xff, 0xff, 0xff],                                      // too long
        &[0, 0, 0, 11, FRAME, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0],            // codec never described
        &[0, 0, 0, 3, PARAMS, 5, b'{'],                                 // out of order
        &[0, 0, 0, 11, KEYFRAME_REQUEST, 0, 0, 0, 0, 0, 0, 0, 1, 9, 0], // rid too long
    ];
    for case in cases {
        assert!(decoder.decode(case, |_| ()).is_err(), "{case:?}");
    }
    let mut published = vec![0, 0, 0, 20, TRACK_PUBLISHED];
    published.extend_from_slice(&[0; 16]);
    published.extend_from_slice(&[7, 0, 0]);
    assert_eq!(decoder.decode(&published, |_| ()), Err(WireError::Value));
}
