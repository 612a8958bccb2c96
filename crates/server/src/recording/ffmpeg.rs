//! The one way a recording starts an `ffmpeg` child that it feeds: Moim writes on its
//! standard input, it writes its own files (or its standard output, for a stream Moim
//! reads back), its log goes to Moim's.

use std::process::{Child, ChildStdin, Command, Stdio};

/// Starts an `ffmpeg` that reads what Moim writes on its standard input; its standard
/// output goes to `stdout` (null when it writes files), its log to ours.
pub fn spawn_fed(ffmpeg: &mut Command, stdout: Stdio) -> std::io::Result<(Child, ChildStdin)> {
    let mut child = ffmpeg
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("ffmpeg has no input"))?;
    Ok((child, stdin))
}
