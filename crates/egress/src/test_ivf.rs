//! The tests' encoded video: the first frame of a short `testsrc2` stream ffmpeg encodes,
//! read from IVF.

use std::process::Command;

/// The first frame of a stream ffmpeg encodes at `size` with `encoder` (`-c:v` and its
/// options).
pub(crate) fn first_frame(size: &str, encoder: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={size}:rate=30"))
        .args(["-frames:v", "2", "-c:v"])
        .args(encoder)
        .args(["-f", "ivf", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ivf = out.stdout;
    // 32-byte file header, then a 12-byte frame header with the frame's size.
    let len = u32::from_le_bytes(ivf[32..36].try_into().unwrap()) as usize;
    ivf[44..44 + len].to_vec()
}
