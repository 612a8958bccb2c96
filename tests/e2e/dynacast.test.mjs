// Dynacast: a publisher's browser encodes and sends no simulcast layer taller than
// someone receives. Alone in a room, a camera sends nothing; a small tile elsewhere turns
// on the smaller layers; a large one the full picture too; when the last receiver leaves,
// the camera stops sending again.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  REMOTE_CAMERA_VIDEOS,
  delay,
  joinWithApp,
  launchBrowser,
  newPage,
  startServer,
  uniqueRoom,
  waitForFramesDecodedRising,
} from './harness.mjs';

/** @typedef {import('./harness.mjs').Page} Page */

/** @typedef {Record<string, { active: boolean, sending: boolean, kbps: number }>} Layers */

/**
 * The camera's simulcast layers as the publishing browser reports them: whether each
 * encoding is active and whether its bytes sent still grow.
 * @param {Page} page
 * @returns {Promise<Layers>}
 */
async function sentLayers(page) {
  const sample = () =>
    page.evaluate(async () => {
      const pc = /** @type {any} */ (window).moimRoom.publisherPc;
      const stats = await pc.getStats();
      /** @type {Record<string, { active: boolean, bytes: number }>} */
      const out = {};
      stats.forEach((/** @type {any} */ s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid) {
          out[s.rid] = { active: s.active !== false, bytes: s.bytesSent ?? 0 };
        }
      });
      return out;
    });
  const first = await sample();
  await delay(1_000);
  const second = await sample();
  /** @type {Layers} */
  const layers = {};
  for (const [rid, s] of Object.entries(second)) {
    const bytes = s.bytes - (first[rid]?.bytes ?? 0);
    layers[rid] = { active: s.active, sending: bytes > 0, kbps: Math.round((bytes * 8) / 1000) };
  }
  return layers;
}

/**
 * What the camera sends in all, in kbit/s.
 * @param {Layers} layers
 */
function total(layers) {
  return Object.values(layers).reduce((sum, l) => sum + l.kbps, 0);
}

/**
 * Waits until the camera sends exactly the layers `rids` (by rid) and no others.
 * @param {Page} page
 * @param {string[]} rids
 * @param {string} what
 */
async function waitForLayers(page, rids, what) {
  const deadline = Date.now() + 20_000;
  let last = await sentLayers(page);
  const matches = (/** @type {Layers} */ l) =>
    Object.keys(l).length === 3 &&
    Object.entries(l).every(([rid, s]) => s.active === rids.includes(rid) && s.sending === rids.includes(rid));
  while (!matches(last)) {
    assert.ok(Date.now() < deadline, `${what}: the camera sends ${JSON.stringify(last)}`);
    last = await sentLayers(page);
  }
  return last;
}

describe('a camera sends only the layers someone receives', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {Page} */
  let ada;
  /** @type {Page} */
  let grace;
  const room = uniqueRoom('dynacast');

  before(async () => {
    server = await startServer('dynacast');
    browser = await launchBrowser();
    ada = await newPage(browser, 'dynacast-ada');
    await joinWithApp(ada, server, room, 'Ada');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('alone in the room, the camera sends nothing', async () => {
    await waitForLayers(ada, [], 'alone');
  });

  test('a small tile elsewhere turns on the smaller layers only', async () => {
    grace = await newPage(browser, 'dynacast-grace');
    await joinWithApp(grace, server, room, 'Grace', { cameraOff: true });
    await waitForFramesDecodedRising(grace, REMOTE_CAMERA_VIDEOS);
    await waitForLayers(ada, ['q', 'h'], 'one small tile');
    await delay(2_000);
    console.log(`one small tile: the camera sends ${total(await sentLayers(ada))} kbit/s`);
  });

  test('pinned large, the full picture is sent too', async () => {
    await grace.getByRole('button', { name: 'Pin Ada' }).click();
    await waitForLayers(ada, ['q', 'h', 'f'], 'pinned');
    await waitForFramesDecodedRising(grace, REMOTE_CAMERA_VIDEOS);
    console.log(`pinned: the camera sends ${total(await sentLayers(ada))} kbit/s`);
  });

  test('when the last receiver leaves, the camera stops sending', async () => {
    await grace.close();
    await waitForLayers(ada, [], 'after the last receiver left');
  });
});
