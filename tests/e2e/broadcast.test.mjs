// Live broadcasts as viewers and hosts meet them: the watch page plays an RTMP studio's
// broadcast over WebRTC, over HLS with hls.js (switching quality when the network slows),
// and a private broadcast only from its keyed link; in the meeting app a host goes live and
// everyone sees that the room is live.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  REPO_ROOT,
  delay,
  joinAsHost,
  joinWithApp,
  launchBrowser,
  mintToken,
  newPage,
  screenshots,
  startServer,
  uniqueRoom,
} from './harness.mjs';

/** @typedef {import('./harness.mjs').Page} Page */

/**
 * A broadcast as `POST /api/rooms/{room}/broadcasts` answers.
 * @typedef {{ id: string, public: boolean, state: string,
 *   playback: { hls: string, watch: string, whep: string, expires_at?: number } }} Broadcast
 */

/**
 * Polls `check` until it returns something truthy, at most `timeout` ms.
 * @template T
 * @param {() => Promise<T>} check
 * @param {number} timeout
 * @param {string} what said when it never happens
 * @returns {Promise<NonNullable<T>>}
 */
async function waitUntil(check, timeout, what) {
  const deadline = Date.now() + timeout;
  /** @type {T} */
  let last;
  do {
    last = await check();
    if (last) return /** @type {NonNullable<T>} */ (last);
    await delay(250);
  } while (Date.now() < deadline);
  throw new Error(`${what} within ${timeout} ms (last: ${JSON.stringify(last)})`);
}

/**
 * What the watch page's peer connection has received so far.
 * @param {Page} page
 */
function received(page) {
  return page.evaluate(async () => {
    /** @type {RTCPeerConnection | null} */
    const pc = /** @type {any} */ (window).moimWatch.pc;
    const out = { framesDecoded: 0, samples: 0, audioLevel: 0 };
    if (!pc) return out;
    (await pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') out.framesDecoded = s.framesDecoded ?? 0;
      else {
        out.samples = s.totalSamplesReceived ?? 0;
        out.audioLevel = s.audioLevel ?? 0;
      }
    });
    return out;
  });
}

/**
 * The watch page's picture keeps moving: its playback time moves on by a second (a live
 * stream may stall a moment on a loaded machine, so within a generous bound).
 * @param {Page} page
 */
async function waitForPlaying(page) {
  const video = () => page.evaluate(() => {
    const v = /** @type {HTMLVideoElement} */ (document.getElementById('video'));
    return { time: v.currentTime, width: v.videoWidth };
  });
  const start = (await video()).time;
  await waitUntil(async () => {
    const now = await video();
    return now.time > start + 1 && now.width > 0;
  }, 15_000, `the video played on from ${start} s`);
}

/**
 * The average brightness (0 to 255, each pixel's brightest colour) of the left and right
 * halves of the middle rows of the watch page's picture now.
 * @param {Page} page
 * @returns {Promise<[number, number]>}
 */
function halvesBrightness(page) {
  return page.evaluate(() => {
    const video = /** @type {HTMLVideoElement} */ (document.getElementById('video'));
    const canvas = document.createElement('canvas');
    [canvas.width, canvas.height] = [video.videoWidth, video.videoHeight];
    const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    context.drawImage(video, 0, 0);
    const rows = Math.floor(canvas.height / 6);
    const mean = (/** @type {number} */ x) => {
      const { data } = context.getImageData(x, canvas.height / 2 - rows / 2, canvas.width / 2, rows);
      let sum = 0;
      for (let i = 0; i < data.length; i += 4) sum += Math.max(data[i], data[i + 1], data[i + 2]);
      return sum / (data.length / 4);
    };
    return /** @type {[number, number]} */ ([mean(0), mean(canvas.width / 2)]);
  });
}

/**
 * Starts a broadcast of the studio once it is in the room (the encoder takes a moment to
 * connect).
 * @param {string} url the server
 * @param {string} room
 * @param {string} token a host token
 * @param {boolean} isPublic
 * @returns {Promise<Broadcast>}
 */
async function startBroadcast(url, room, token, isPublic) {
  return waitUntil(async () => {
    const res = await fetch(`${url}/api/rooms/${room}/broadcasts`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ source: 'studio', public: isPublic }),
    });
    if (res.status === 201) return /** @type {Broadcast} */ (await res.json());
    assert.equal(res.status, 404, `the broadcast starts: ${res.status} ${await res.text()}`);
    return null;
  }, 30_000, 'the studio joined the room');
}

test('the vendored hls.js is the one npm installed', async () => {
  for (const [vendored, installed] of [
    ['web/app/vendor/hls.light.min.js', 'node_modules/hls.js/dist/hls.light.min.js'],
    ['web/app/vendor/hls.js.LICENSE', 'node_modules/hls.js/LICENSE'],
  ]) {
    const [a, b] = await Promise.all([readFile(path.join(REPO_ROOT, vendored)), readFile(path.join(REPO_ROOT, installed))]);
    assert.ok(a.equals(b), `${vendored} differs from ${installed}: run \`npm run vendor\``);
  }
});

describe('watching an RTMP studio’s broadcast', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {import('node:child_process').ChildProcess} */
  let encoder;
  const room = uniqueRoom('live');
  let hostToken = '';
  /** @type {Broadcast} */
  let broadcast;
  let studioToken = '';

  /**
   * What OBS sends: H.264 high profile (with B-frames unless told), a keyframe every 2 s,
   * AAC.
   * @param {boolean} bframes
   */
  const studio = (bframes) => spawn('ffmpeg', [
    '-nostdin', '-v', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '300', '-c:v', 'libx264', '-preset', 'superfast', '-profile:v', 'high', '-bf', bframes ? '3' : '0',
    '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', '128k',
    '-f', 'flv', `rtmp://127.0.0.1:${server.rtmpPort}/live/${studioToken}`,
  ], { stdio: 'ignore' });

  before(async () => {
    server = await startServer('broadcast');
    browser = await launchBrowser();
    hostToken = await mintToken({ room, identity: 'host', role: 'host' });
    studioToken = await mintToken({ room, identity: 'studio', name: 'Studio' });
    encoder = studio(true);
    broadcast = await startBroadcast(server.url, room, hostToken, true);
    assert.equal(broadcast.playback.hls, `/hls/${room}/index.m3u8`);
  });

  after(async () => {
    encoder?.kill('SIGKILL');
    await browser?.close();
    await server?.stop();
  });

  test('a viewer of the watch page plays it over WebRTC without a camera prompt', { timeout: 60_000 }, async (t) => {
    const page = await newPage(browser, 'broadcast-webrtc');
    t.after(() => page.close());
    await page.addInitScript(() => {
      const w = /** @type {any} */ (window);
      w.mediaRequests = 0;
      const devices = navigator.mediaDevices;
      const ask = devices.getUserMedia.bind(devices);
      devices.getUserMedia = (constraints) => {
        w.mediaRequests++;
        return ask(constraints);
      };
    });
    await page.goto(`${server.url}/watch/${room}`);
    await waitUntil(() => page.evaluate(() => /** @type {any} */ (window).moimWatch.mode === 'WebRTC'), 30_000,
      'the page played over WebRTC');
    const first = await received(page);
    await delay(1_500);
    const second = await received(page);
    assert.ok(second.framesDecoded > first.framesDecoded, `pictures decode (${first.framesDecoded} → ${second.framesDecoded})`);
    assert.ok(second.samples > first.samples, `sound arrives (${first.samples} → ${second.samples} samples)`);
    await page.locator('#unmute').click();
    await waitUntil(async () => (await received(page)).audioLevel > 0.01, 10_000, 'the tone was heard');
    await waitForPlaying(page);
    assert.ok(await page.locator('#live-badge').isVisible(), 'the LIVE badge shows');
    assert.equal(await page.locator('#watch-mode').textContent(), 'WebRTC');
    assert.match(/** @type {string} */ (await page.locator('#watch-quality').textContent()), /^\d+p$/);
    await waitUntil(async () => Number(await page.locator('#viewer-count').textContent()) >= 1, 15_000,
      'the viewer count shows this viewer');
    assert.equal(await page.evaluate(() => /** @type {any} */ (window).mediaRequests), 0, 'no camera or microphone asked for');
    await screenshots(page, 'broadcast-watch');
  });

  test('with mode=hls, hls.js plays the ladder and drops to 480p when the network slows', { timeout: 90_000 }, async (t) => {
    // The studio reconnects without B-frames (the broadcast goes on): re-encoding them
    // for WebRTC would take the CPU this two-core test machine needs for the ladder and
    // the player.
    encoder.kill('SIGKILL');
    encoder = studio(false);
    const page = await newPage(browser, 'broadcast-hls');
    t.after(() => page.close());
    await page.goto(`${server.url}/watch/${room}?mode=hls`);
    const heights = await waitUntil(() => page.evaluate(() => {
      const hls = /** @type {any} */ (window).moimWatch.hls;
      return hls?.levels?.length ? hls.levels.map((/** @type {{ height: number }} */ l) => l.height) : null;
    }), 20_000, 'hls.js read the multivariant playlist');
    assert.deepEqual(heights, [480, 720]);
    assert.equal(await page.locator('#watch-mode').textContent(), 'HLS');
    await waitUntil(() => page.evaluate(() => /** @type {HTMLVideoElement} */ (document.getElementById('video')).currentTime > 0),
      20_000, 'the video started');
    await waitForPlaying(page);
    // Unthrottled on loopback, hls.js climbs to 720p; slowed to 1.5 Mbit/s, less than the
    // 720p rung's 2.8 Mbit/s, it has to come down to 480p.
    await waitUntil(() => page.evaluate(() => /** @type {any} */ (window).moimWatch.hls.currentLevel === 1), 30_000,
      'hls.js climbed to 720p');
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 20,
      downloadThroughput: 1_500_000 / 8,
      uploadThroughput: 1_500_000 / 8,
    });
    await waitUntil(() => page.evaluate(() => {
      const hls = /** @type {any} */ (window).moimWatch.hls;
      return hls.currentLevel === 0 || hls.loadLevel === 0;
    }), 40_000, 'hls.js switched down to 480p');
  });

  test('a private broadcast plays only from its keyed link', { timeout: 60_000 }, async (t) => {
    const stopped = await fetch(`${server.url}/api/rooms/${room}/broadcasts/${broadcast.id}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${hostToken}` },
    });
    assert.equal(stopped.status, 200);
    const secret = await startBroadcast(server.url, room, hostToken, false);
    assert.match(secret.playback.watch, new RegExp(`^/watch/${room}\\?key=`));

    const stranger = await newPage(browser, 'broadcast-private-no-key');
    t.after(() => stranger.close());
    await stranger.goto(`${server.url}/watch/${room}`);
    await stranger.locator('#watch-message', { hasText: 'private' }).waitFor({ timeout: 10_000 });
    const nothing = await stranger.evaluate(() => ({
      mode: /** @type {any} */ (window).moimWatch.mode,
      ready: /** @type {HTMLVideoElement} */ (document.getElementById('video')).readyState,
    }));
    assert.deepEqual(nothing, { mode: '', ready: 0 }, 'no video plays without the key');

    const invited = await newPage(browser, 'broadcast-private-key');
    t.after(() => invited.close());
    await invited.goto(`${server.url}${secret.playback.watch}`);
    await waitUntil(() => invited.evaluate(() => /** @type {any} */ (window).moimWatch.mode !== ''), 30_000,
      'the keyed link played');
    await waitForPlaying(invited);
  });
});

describe('going live from the meeting app', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  const room = uniqueRoom('golive');

  before(async () => {
    server = await startServer('broadcast-app');
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a host goes live with their camera, everyone sees LIVE, the host gets the links', { timeout: 60_000 }, async () => {
    const host = await newPage(browser, 'broadcast-app-host');
    await joinAsHost(host, server, room, 'ada', 'Ada');
    const guest = await newPage(browser, 'broadcast-app-guest');
    await joinWithApp(guest, server, room, 'Grace', { cameraOff: true, micOff: true });
    assert.ok(await guest.locator('#go-live').isHidden(), 'guests do not go live');

    await host.locator('#go-live').click();
    assert.equal(await host.locator('#live-source').inputValue(), 'ada', 'the host is the default source');
    await host.locator('#live-public').check();
    await screenshots(host, 'broadcast-app-go-live');
    await host.locator('#live-start').click();
    await guest.locator('#live-indicator').waitFor({ timeout: 10_000 });
    await host.locator('#live-indicator').waitFor({ timeout: 10_000 });

    const origin = await host.evaluate(() => location.origin);
    const hlsUrl = await waitUntil(() => host.locator('#live-hls-url').inputValue(), 10_000, 'the HLS URL showed');
    assert.ok(hlsUrl.startsWith(`${origin}/hls/${room}/`), `${hlsUrl} is on ${origin}`);
    const watchUrl = await host.locator('#live-watch-url').inputValue();
    assert.equal(watchUrl, `${origin}/watch/${room}`);
    assert.equal(await host.locator('#live-embed').inputValue(),
      `<iframe src="${watchUrl}" allow="autoplay; fullscreen" width="960" height="540"></iframe>`);
    await screenshots(host, 'broadcast-app-links');

    // The playlist is held until the camera's first picture reaches the ladder.
    const playlist = await waitUntil(async () => {
      const res = await fetch(hlsUrl);
      return res.status === 200 ? res.text() : null;
    }, 30_000, 'the multivariant playlist was served');
    assert.match(playlist, /#EXT-X-STREAM-INF/);

    await host.locator('#stop-live').click();
    await guest.locator('#live-indicator').waitFor({ state: 'hidden', timeout: 10_000 });
    // The host's dialog closes on the server's answer, which may come after the guest heard.
    await host.locator('#live-dialog').waitFor({ state: 'hidden', timeout: 5_000 });
  });

  test('a host broadcasts everyone in a grid, and a viewer watches it over HLS', { timeout: 90_000 }, async (t) => {
    const gridRoom = uniqueRoom('grid');
    const host = await newPage(browser, 'broadcast-grid-host');
    t.after(() => host.close());
    await joinAsHost(host, server, gridRoom, 'ada', 'Ada');
    const guest = await newPage(browser, 'broadcast-grid-guest');
    t.after(() => guest.close());
    await joinWithApp(guest, server, gridRoom, 'Grace');

    await host.locator('#go-live').click();
    await host.locator('#live-source').selectOption('composite');
    await host.locator('#live-public').check();
    await host.locator('#live-start').click();
    await guest.locator('#live-indicator').waitFor({ timeout: 10_000 });

    // The grid has no WebRTC picture: the watch page goes straight to HLS.
    const viewer = await newPage(browser, 'broadcast-grid-viewer');
    t.after(() => viewer.close());
    await viewer.goto(`${server.url}/watch/${gridRoom}`);
    await waitUntil(() => viewer.evaluate(() => /** @type {any} */ (window).moimWatch.mode === 'HLS'), 30_000,
      'the page played over HLS');
    await waitForPlaying(viewer);
    const width = await viewer.evaluate(() => /** @type {HTMLVideoElement} */ (document.getElementById('video')).videoWidth);
    assert.ok(width === 854 || width === 1280, `a rung of the 1280×720 grid plays (${width} wide)`);
    // Both cameras show, side by side: neither half of the picture is black.
    await waitUntil(async () => {
      const [left, right] = await halvesBrightness(viewer);
      return left > 30 && right > 30;
    }, 20_000, 'both cameras showed in the grid');
    await screenshots(viewer, 'broadcast-grid-watch');
  });
});
