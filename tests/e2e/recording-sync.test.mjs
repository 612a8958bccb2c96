// Audio and video of a participant recording stay in sync: the camera and microphone
// play a synthetic source whose video flashes white exactly when its audio beeps (the
// first 100 ms of every second). Chromium opens its fake camera and microphone some tens
// of milliseconds apart, so the browser itself records the same tracks alongside
// (MediaRecorder, no network) as the baseline. The browser's own recorder drifts as it
// goes (by 10 to 150 ms over 8 s, even on an idle machine), so the baseline is its first
// flash. The server's recording must hold one offset (no drift) that a viewer would accept
// against that baseline: ITU-R BT.1359's acceptability window, sound at most 90 ms ahead
// of the picture or 185 ms behind it. A composite recording of the same meeting is held to
// the same window against the participant recording, while the machine is calm enough that
// the browser's own recorder holds still. crates/server/tests/recording_sync.rs
// measures both exactly against a source that never drifts.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { RESULTS_DIR, delay, joinAsHost, launchBrowser, mintToken, newPage, startServer, uniqueRoom } from './harness.mjs';

const run = promisify(execFile);
const SOURCE_DIR = path.join(RESULTS_DIR, 'sync-source');
const FLASH = 'lt(mod(t,1),0.1)';

/**
 * Thirty seconds of flashing video and beeping audio: long enough that Chromium does not
 * loop them during the test (its video loop adds a frame, which would drift the source).
 */
async function makeSource() {
  fs.mkdirSync(SOURCE_DIR, { recursive: true });
  const video = path.join(SOURCE_DIR, 'flash.y4m');
  const audio = path.join(SOURCE_DIR, 'beep.wav');
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=black:s=320x180:r=30:d=30',
    '-vf', `drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='${FLASH}',format=yuv420p`, video]);
  // Evaluated per sample (a filter's `enable` would switch on whole frames of samples).
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i',
    `aevalsrc='if(${FLASH},0.25*sin(2*PI*1000*t),0)':s=48000:d=30`, '-ac', '1', audio]);
  return { video, audio };
}

/**
 * Times (seconds) at which something turns on, from `[time, value]` samples: the first
 * sample above `threshold` after one below it.
 * @param {[number, number][]} samples
 * @param {number} threshold
 */
function onsets(samples, threshold) {
  const out = [];
  let on = true;
  for (const [t, v] of samples) {
    if (v > threshold && !on) out.push(t);
    on = v > threshold;
  }
  return out;
}

/**
 * `[pts_time, value]` of one metadata key printed by ffmpeg's `metadata`/`ametadata`.
 * @param {string} file
 * @param {string[]} filter `-vf` or `-af` and its graph
 * @param {string} key
 */
async function series(file, filter, key) {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', file, ...filter, '-f', 'null', '-'], { maxBuffer: 64 << 20 });
  /** @type {[number, number][]} */
  const out = [];
  let t = 0;
  for (const line of stdout.split('\n')) {
    const time = /pts_time:([\d.]+)/.exec(line);
    if (time) t = Number(time[1]);
    const value = line.startsWith(`${key}=`) ? Number(line.slice(key.length + 1)) : NaN;
    if (!Number.isNaN(value)) out.push([t, value]);
  }
  return out;
}

/**
 * For each flash in `file`, how many ms it starts after the nearest beep.
 * @param {string} file
 */
async function flashMinusBeep(file) {
  const luma = await series(file, ['-vf', 'signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-'], 'lavfi.signalstats.YAVG');
  const level = await series(file, ['-af', 'asetnsamples=n=240,astats=metadata=1:reset=1,ametadata=print:key=lavfi.astats.Overall.RMS_level:file=-'], 'lavfi.astats.Overall.RMS_level');
  const flashes = onsets(luma, 128);
  const beeps = onsets(level, -30);
  assert.ok(flashes.length >= 5 && beeps.length >= 5, `${file}: flashes ${flashes}, beeps ${beeps}`);
  return flashes.map((f) => {
    const nearest = beeps.reduce((best, b) => (Math.abs(b - f) < Math.abs(best - f) ? b : best));
    return Math.round((f - nearest) * 1000);
  });
}

/** @param {number[]} values */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** ITU-R BT.1359: sound up to 90 ms ahead of the picture or 185 ms behind it is acceptable. */
const AHEAD_MS = 90;
const BEHIND_MS = 185;
/** How far one recording's offsets may spread: a flash shows in whole pictures, two of the composite's 40 ms at most. */
const STEADY_MS = 85;

/**
 * Whether every flash-minus-beep offset is acceptable against `reference`: a larger offset
 * means the sound comes earlier relative to the picture.
 * @param {number[]} offsets
 * @param {number} reference
 */
function acceptable(offsets, reference) {
  return offsets.every((o) => o - reference <= AHEAD_MS && reference - o <= BEHIND_MS);
}

/** @param {number[]} offsets */
function spread(offsets) {
  return Math.max(...offsets) - Math.min(...offsets);
}

describe('participant recording keeps audio and video in sync', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;

  before(async () => {
    const source = await makeSource();
    server = await startServer('recording-sync');
    browser = await launchBrowser([
      `--use-file-for-fake-video-capture=${source.video}`,
      `--use-file-for-fake-audio-capture=${source.audio}`,
    ]);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('every flash keeps one offset from its beep, acceptable against the browser\'s own recording', async () => {
    const room = uniqueRoom('sync');
    const ada = await newPage(browser, 'sync-ada');
    await joinAsHost(ada, server, room, 'ada', 'Ada');
    await delay(2_000);
    // The baseline: the browser records the very tracks it publishes.
    await ada.evaluate(() => {
      const w = /** @type {any} */ (window);
      const tracks = w.moimRoom.publications.map((/** @type {any} */ p) => p.track);
      w.baseline = new MediaRecorder(new MediaStream(tracks), { mimeType: 'video/webm;codecs=vp8,opus' });
      w.baselineChunks = [];
      w.baseline.ondataavailable = (/** @type {BlobEvent} */ e) => w.baselineChunks.push(e.data);
      w.baseline.start(1000);
    });
    const auth = { Authorization: `Bearer ${await mintToken({ room, identity: 'sync-app', role: 'host' })}` };
    /** Records the room for 8 s; the manifest. @param {string} kind */
    const record = async (kind) => {
      const started = await fetch(`${server.url}/api/rooms/${room}/recordings`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ kind }),
      }).then((r) => r.json());
      await delay(8_000);
      return fetch(`${server.url}/api/rooms/${room}/recordings/${started.id}`, { method: 'DELETE', headers: auth })
        .then((r) => r.json());
    };
    const manifest = await record('participant');
    const baselineFile = path.join(server.recordingsDir, 'baseline.webm');
    const baseline = await ada.evaluate(async () => {
      const w = /** @type {any} */ (window);
      await new Promise((resolve) => {
        w.baseline.onstop = resolve;
        w.baseline.stop();
      });
      const bytes = new Uint8Array(await new Blob(w.baselineChunks).arrayBuffer());
      let text = '';
      for (const b of bytes) text += String.fromCharCode(b);
      return btoa(text);
    });
    fs.writeFileSync(baselineFile, Buffer.from(baseline, 'base64'));
    assert.equal(manifest.files.length, 1, JSON.stringify(manifest));
    assert.equal(manifest.files[0].codec, 'vp8+opus');
    const file = path.join(server.recordingsDir, room, manifest.id, manifest.files[0].file);

    const server_ = await flashMinusBeep(file);
    const browser_ = await flashMinusBeep(baselineFile);
    console.log(`flash minus beep, ms: server recording ${server_.join(', ')}; the browser's own ${browser_.join(', ')}`);
    const why = `server ${server_}, browser ${browser_}`;
    assert.ok(spread(server_) <= STEADY_MS, `the server's recording drifts: ${why}`);
    assert.ok(acceptable(server_, browser_[0]), why);

    // The composite of the same meeting, recorded afterwards: its picture comes through a
    // decoder and goes out at 25 frames a second, its sound through the mixer.
    const done = await record('composite');
    const mixed = await flashMinusBeep(path.join(server.recordingsDir, room, done.id, 'composite.webm'));
    console.log(`flash minus beep, ms: composite recording ${mixed.join(', ')}`);
    // The mix runs in real time: on a machine starved of CPU, where even the browser's own
    // recorder drifts by more than 60 ms, it is only logged.
    if (spread(browser_) > 60) return;
    const against = `composite ${mixed}, participant recording ${server_}`;
    assert.ok(spread(mixed) <= STEADY_MS, `the composite drifts: ${against}`);
    assert.ok(acceptable(mixed, median(server_)), against);
  });
});
