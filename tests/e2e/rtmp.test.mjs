// RTMP ingest as a streamer uses it: ffmpeg (standing in for OBS) publishes H.264 and AAC
// to rtmp://HOST:PORT/live/{token}; people in the meeting and WHEP viewers see and hear it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import {
  REMOTE_AUDIO,
  REMOTE_CAMERA_VIDEOS,
  delay,
  joinWithApp,
  launchBrowser,
  mintToken,
  newPage,
  startServer,
  uniqueRoom,
  waitForAudioPacketsRising,
  waitForFramesDecodedRising,
} from './harness.mjs';

/**
 * The loudness the page's received audio has (0..1) once it carries sound, not silence or
 * concealment: the AAC tone came through the transcoder as Opus the browser decodes.
 * @param {import('./harness.mjs').Page} page
 * @returns {Promise<number>}
 */
async function audioLevelHeard(page) {
  let level = 0;
  for (let tries = 0; tries < 40 && level < 0.01; tries++) {
    await delay(250);
    level = await page.evaluate(async () => {
      const w = /** @type {any} */ (window);
      /** @type {RTCPeerConnection} */
      const pc = w.moimRoom?.subscriberPc ?? w.pc;
      let found = 0;
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') found = Math.max(found, s.audioLevel ?? 0);
      });
      return found;
    });
  }
  return level;
}

describe('RTMP ingest', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {import('node:child_process').ChildProcess} */
  let encoder;
  const room = uniqueRoom('rtmp');

  before(async () => {
    server = await startServer('rtmp');
    browser = await launchBrowser();
    const token = await mintToken({ room, identity: 'studio', name: 'Studio' });
    // What OBS sends by default: H.264 high profile with B-frames (which the server encodes
    // again without them for WebRTC), a keyframe every 2 s, AAC.
    encoder = spawn('ffmpeg', [
      '-nostdin', '-v', 'error', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', '120', '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-bf', '3', '-g', '60',
      '-c:a', 'aac', '-b:a', '128k',
      '-f', 'flv', `rtmp://127.0.0.1:${server.rtmpPort}/live/${token}`,
    ], { stdio: 'ignore' });
  });

  after(async () => {
    encoder?.kill('SIGKILL');
    await browser?.close();
    await server?.stop();
  });

  test('someone in the meeting sees and hears the studio', async () => {
    const page = await newPage(browser, 'rtmp-meeting');
    await joinWithApp(page, server, room, 'Viewer', { cameraOff: true, micOff: true });
    await page.locator('.tile', { hasText: 'Studio' }).first().waitFor({ timeout: 20_000 });
    await waitForFramesDecodedRising(page, REMOTE_CAMERA_VIDEOS);
    await waitForAudioPacketsRising(page, REMOTE_AUDIO);
    assert.ok((await audioLevelHeard(page)) >= 0.01, 'the tone is heard');
  });

  test('a WHEP viewer of the room plays the studio', async () => {
    const token = await mintToken({ room, identity: 'whep-viewer', role: 'viewer' });
    const page = await newPage(browser, 'rtmp-whep');
    const query = new URLSearchParams({ room, token, autostart: '1' });
    await page.goto(`${server.url}/examples/whep.html?${query}`);
    await waitForFramesDecodedRising(page, '#video');
    await waitForAudioPacketsRising(page, '#video');
  });
});
