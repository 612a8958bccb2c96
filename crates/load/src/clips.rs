//! The media the simulated publishers send: VP8 in three simulcast layers and Opus, encoded
//! once with ffmpeg (libvpx, libopus) into a cache folder and looped.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::{ivf, ogg};

/// Length of the generated clips; they loop.
const CLIP_SECONDS: &str = "12";
/// Frames between keyframes (3 s at 30 fps).
const KEYFRAME_INTERVAL: &str = "90";

/// One simulcast layer to encode: rid, size and bitrate.
struct LayerSpec {
    rid: &'static str,
    width: u32,
    height: u32,
    kbps: u32,
}

const LAYERS: [LayerSpec; 3] = [
    LayerSpec {
        rid: "q",
        width: 320,
        height: 180,
        kbps: 150,
    },
    LayerSpec {
        rid: "h",
        width: 640,
        height: 360,
        kbps: 400,
    },
    LayerSpec {
        rid: "f",
        width: 1280,
        height: 720,
        kbps: 1700,
    },
];

/// One layer's frames.
#[derive(Debug)]
pub struct VideoLayer {
    pub rid: &'static str,
    pub frames: Vec<Vec<u8>>,
}

/// The looped clips.
#[derive(Debug)]
pub struct Clips {
    /// Lowest layer first; every layer has the same number of frames at 30 fps.
    pub video: Vec<VideoLayer>,
    /// Frame indices at which every layer has a keyframe.
    pub keyframes: Vec<usize>,
    /// 20 ms Opus packets.
    pub audio: Vec<Vec<u8>>,
}

/// Where clips are cached: `$MOIM_CLIPS`, else `$XDG_CACHE_HOME/moim/clips`, else
/// `~/.cache/moim/clips`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MOIM_CLIPS") {
        return dir.into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("moim").join("clips")
}

impl Clips {
    /// Loads the clips from `dir`, encoding the missing ones first.
    pub fn load_or_generate(dir: &Path) -> anyhow::Result<Clips> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut video = Vec::new();
        for spec in &LAYERS {
            let path = dir.join(format!("vp8-{}p.ivf", spec.height));
            if !path.exists() {
                encode_video(spec, &path)?;
            }
            let frames = ivf::frames(&std::fs::read(&path)?)
                .with_context(|| format!("reading {}", path.display()))?;
            video.push(VideoLayer {
                rid: spec.rid,
                frames,
            });
        }
        let frames = video.iter().map(|l| l.frames.len()).min().unwrap_or(0);
        for layer in &mut video {
            layer.frames.truncate(frames);
        }
        let keyframes: Vec<usize> = (0..frames)
            .filter(|&i| video.iter().all(|l| ivf::is_vp8_keyframe(&l.frames[i])))
            .collect();
        if keyframes.first() != Some(&0) {
            bail!(
                "the clips in {} do not start with a keyframe",
                dir.display()
            );
        }
        let audio_path = dir.join("opus-20ms.ogg");
        if !audio_path.exists() {
            encode_audio(&audio_path)?;
        }
        let audio = ogg::opus_packets(&std::fs::read(&audio_path)?)
            .with_context(|| format!("reading {}", audio_path.display()))?;
        Ok(Clips {
            video,
            keyframes,
            audio,
        })
    }

    /// The first keyframe index at or after `index` (wrapping to the start).
    pub fn next_keyframe(&self, index: usize) -> usize {
        self.keyframes
            .iter()
            .copied()
            .find(|&k| k >= index)
            .unwrap_or(0)
    }
}

fn encode_video(spec: &LayerSpec, out: &Path) -> anyhow::Result<()> {
    let size = format!("testsrc2=size={}x{}:rate=30", spec.width, spec.height);
    let rate = format!("{}k", spec.kbps);
    run_ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            &size,
            "-t",
            CLIP_SECONDS,
            "-c:v",
            "libvpx",
            "-b:v",
            &rate,
            "-minrate",
            &rate,
            "-maxrate",
            &rate,
            "-g",
            KEYFRAME_INTERVAL,
            "-keyint_min",
            KEYFRAME_INTERVAL,
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-lag-in-frames",
            "0",
            "-auto-alt-ref",
            "0",
            "-error-resilient",
            "1",
        ],
        out,
    )
}

fn encode_audio(out: &Path) -> anyhow::Result<()> {
    run_ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            CLIP_SECONDS,
            "-c:a",
            "libopus",
            "-b:a",
            "32k",
            "-frame_duration",
            "20",
            "-application",
            "voip",
        ],
        out,
    )
}

fn run_ffmpeg(args: &[&str], out: &Path) -> anyhow::Result<()> {
    eprintln!("encoding {} with ffmpeg…", out.display());
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .context("cannot run ffmpeg; install it (Debian: apt-get install ffmpeg)")?;
    if !status.success() {
        bail!("ffmpeg failed to encode {}", out.display());
    }
    Ok(())
}
