//! Real media for a test peer to send: VP8 and Opus encoded by ffmpeg from a source whose
//! video flashes white exactly when its audio beeps (the first 100 ms of every second).
//! The peer sends frame `i` at media time `i / 30 s` and packet `j` at `j × 20 ms` from
//! one start, and its RTCP sender reports map both to the same clock, so in the source a
//! flash and its beep are simultaneous; a recording shows how far apart it put them.

use std::path::Path;
use std::process::Command;

/// The encoded source, looped by the peer.
pub struct Clip {
    /// VP8 frames at 30 a second, a keyframe every second (the first is one).
    pub video: Vec<Vec<u8>>,
    /// Opus packets of 20 ms.
    pub audio: Vec<Vec<u8>>,
}

/// When the source flashes and beeps, as an ffmpeg expression of `t`.
pub const FLASH: &str = "lt(mod(t,1),0.1)";

impl Clip {
    /// Encodes `seconds` of flashes and beeps into `dir`.
    pub fn flash_and_beep(dir: &Path, seconds: u32) -> Clip {
        std::fs::create_dir_all(dir).unwrap();
        let video = dir.join("flash.ivf");
        let audio = dir.join("beep.ogg");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("color=c=black:s=320x180:r=30:d={seconds}"),
            "-vf",
            &format!("drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{FLASH}'"),
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-lag-in-frames",
            "0",
            "-auto-alt-ref",
            "0",
            "-g",
            "30",
            "-keyint_min",
            "30",
            "-b:v",
            "500k",
            "-f",
            "ivf",
            video.to_str().unwrap(),
        ]);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            // Evaluated per sample: a filter's `enable` would switch on whole frames.
            &format!("aevalsrc='if({FLASH},0.25*sin(2*PI*1000*t),0)':s=48000:d={seconds}"),
            "-ac",
            "2",
            "-c:a",
            "libopus",
            "-frame_duration",
            "20",
            "-b:a",
            "64k",
            "-f",
            "ogg",
            audio.to_str().unwrap(),
        ]);
        // Exactly `seconds` of each, so that the loop keeps its period (the encoder's
        // lookahead adds an Opus packet at the end).
        let mut video = ivf_frames(&std::fs::read(&video).unwrap());
        video.truncate(seconds as usize * 30);
        let mut audio: Vec<_> = ogg_packets(&std::fs::read(&audio).unwrap())
            .into_iter()
            .skip(2) // OpusHead, OpusTags
            .collect();
        audio.truncate(seconds as usize * 50);
        Clip { video, audio }
    }
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The frames of an IVF file: a 32-byte header, then each frame after 12 bytes (its size,
/// little-endian, and its time).
fn ivf_frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut at = 32;
    while at + 12 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 12;
        frames.push(bytes[at..at + size].to_vec());
        at += size;
    }
    frames
}

/// The packets of an Ogg stream (RFC 3533): pages of segments, a packet ending at the
/// first segment shorter than 255 bytes.
fn ogg_packets(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut packet = Vec::new();
    let mut at = 0;
    while at + 27 <= bytes.len() && &bytes[at..at + 4] == b"OggS" {
        let segments = usize::from(bytes[at + 26]);
        let table = &bytes[at + 27..at + 27 + segments];
        let mut body = at + 27 + segments;
        for &len in table {
            packet.extend_from_slice(&bytes[body..body + usize::from(len)]);
            body += usize::from(len);
            if len < 255 {
                packets.push(std::mem::take(&mut packet));
            }
        }
        at = body;
    }
    packets
}
