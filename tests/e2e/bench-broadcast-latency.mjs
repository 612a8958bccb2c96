// Benchmark: glass-to-glass delay of a broadcast, over WebRTC (the watch page's WHEP) and
// over LL-HLS (the watch page with hls.js), in Chromium.
//
// The source burns the wall clock into its picture: ffmpeg's test picture with 24 boxes
// in its top row, box i white when bit i of the time in hundredths of a second (at the
// moment ffmpeg draws the picture) is set. It is encoded with libx264 (no B-frames,
// `zerolatency`, keyframes every 2 s) and AAC and published over RTMP; a host makes the
// room live. A viewer page reads the boxes of every picture it presents
// (requestVideoFrameCallback, the picture drawn into a canvas) and subtracts the time
// they show from its own clock (the same machine's). Loopback only.
//
//   node tests/e2e/bench-broadcast-latency.mjs [--seconds 20] [--bframes]
//
// --bframes: the encoder uses B-frames (OBS's default), which the server encodes away
// for WebRTC viewers.

import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { delay, launchBrowser, mintToken, newPage, startServer, uniqueRoom } from './harness.mjs';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '20' }, bframes: { type: 'boolean', default: false } },
});
const seconds = Number(values.seconds);

/** Bits of the burned-in clock, in hundredths of a second. */
const BITS = 24;

/** ffmpeg's filter drawing the clock's boxes over the test picture (640×360). */
function clockFilter() {
  let filter = 'testsrc2=size=640x360:rate=30,drawbox=x=0:y=0:w=600:h=40:color=black:t=fill';
  for (let i = 0; i < BITS; i++) {
    filter += `,drawbox=x=${10 + 24 * i}:y=10:w=20:h=20:color=white:t=fill`
      + `:enable='mod(floor(time(0)*100/pow(2\\,${i}))\\,2)'`;
  }
  return filter;
}

/**
 * In the page: reads the clock from every presented picture of the page's video for
 * `ms`, and returns the delays in ms.
 * @param {{ms: number, bits: number}} args
 */
async function measure({ ms, bits }) {
  const video = /** @type {HTMLVideoElement} */ (document.querySelector('video'));
  const canvas = document.createElement('canvas');
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d', { willReadFrequently: true }));
  /** @type {number[]} */
  const delays = [];
  const until = performance.now() + ms;
  await new Promise((resolve) => {
    /** @type {VideoFrameRequestCallback} */
    const onFrame = () => {
      const now = Date.now();
      const w = video.videoWidth;
      const h = video.videoHeight;
      if (w > 0 && h > 0) {
        canvas.width = w;
        canvas.height = h;
        ctx.drawImage(video, 0, 0, w, h);
        const scale = w / 640;
        let shown = 0;
        for (let i = 0; i < bits; i++) {
          const px = ctx.getImageData(Math.round((20 + 24 * i) * scale), Math.round(20 * scale), 1, 1).data;
          if (px[0] + px[1] + px[2] > 3 * 128) shown += 2 ** i;
        }
        const wrap = 2 ** bits;
        const nowHundredths = Math.floor(now / 10) % wrap;
        delays.push((((nowHundredths - shown) % wrap) + wrap) % wrap * 10);
      }
      if (performance.now() < until) video.requestVideoFrameCallback(onFrame);
      else resolve(undefined);
    };
    video.requestVideoFrameCallback(onFrame);
  });
  return delays;
}

/** @param {number[]} values @param {number} q */
function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const server = await startServer('bench-broadcast-latency');
const browser = await launchBrowser(['--autoplay-policy=no-user-gesture-required']);
const room = uniqueRoom('latency');
const key = await mintToken({ room, identity: 'studio', name: 'Studio' });
const host = await mintToken({ room, identity: 'host', name: 'Host', role: 'host' });
const encoder = spawn('ffmpeg', [
  '-nostdin', '-v', 'error', '-re', '-f', 'lavfi', '-i', clockFilter(),
  '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
  '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '60',
  ...(values.bframes ? ['-bf', '3'] : ['-bf', '0']),
  '-c:a', 'aac', '-b:a', '96k', '-f', 'flv', `rtmp://127.0.0.1:${server.rtmpPort}/live/${key}`,
], { stdio: 'ignore' });
try {
  let started = null;
  for (let i = 0; i < 40 && !started; i++) {
    await delay(500);
    const response = await fetch(`${server.url}/api/rooms/${room}/broadcasts`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${host}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ source: 'studio', public: true }),
    });
    if (response.status === 201) started = await response.json();
  }
  if (!started) throw new Error('the encoder never joined its room');
  /** @type {Record<string, object>} */
  const results = {};
  for (const [mode, query] of [['webrtc', ''], ['hls', '?mode=hls']]) {
    const page = await newPage(browser, `bench-latency-${mode}`);
    await page.goto(`${server.url}/watch/${room}${query}`);
    await page.waitForFunction(() => {
      const video = document.querySelector('video');
      return video !== null && video.currentTime > 1 && !video.paused;
    }, null, { timeout: 30_000 });
    // Players settle (hls.js moves to its target distance from the live edge).
    await delay(5_000);
    const delays = await page.evaluate(measure, { ms: seconds * 1000, bits: BITS });
    results[mode] = {
      pictures: delays.length,
      p50_ms: quantile(delays, 0.5),
      p95_ms: quantile(delays, 0.95),
      min_ms: Math.min(...delays),
      max_ms: Math.max(...delays),
    };
    console.error(`${mode}: ${JSON.stringify(results[mode])}`);
    await page.close();
  }
  console.log(JSON.stringify({ bframes: values.bframes, seconds, results }, null, 2));
} finally {
  encoder.kill('SIGINT');
  await browser.close();
  await server.stop();
}
