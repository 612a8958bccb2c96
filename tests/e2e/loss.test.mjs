// Someone on a lossy network keeps the meeting: Chromium in a lab network (`lab.mjs`) whose
// firewall drops 5 % of the packets both ways, at random, meets someone on an open network.
// Retransmissions (NACK/RTX) and keyframes on request keep both pictures decoding, Opus's
// in-band FEC and concealment keep the sound going; the freezes and the concealed sound
// are measured over 15 s and printed.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  REMOTE_AUDIO,
  REMOTE_CAMERA_VIDEOS,
  delay,
  joinWithApp,
  launchBrowser,
  newPage,
  startServer,
  uniqueRoom,
  waitForAudioPacketsRising,
  waitForFramesDecodedRising,
} from './harness.mjs';
import { LAB_UNAVAILABLE, createLab, trusting } from './lab.mjs';

/** @typedef {import('./harness.mjs').Page} Page */

/**
 * @typedef {object} Received
 * @property {number} decoded video frames decoded
 * @property {number} freezes video freezes Chromium counted
 * @property {number} frozen seconds frozen in all
 * @property {number} samples audio samples played
 * @property {number} concealed audio samples made up for lost packets
 */

/**
 * What the page's subscriber connection received so far.
 * @param {Page} page
 * @returns {Promise<Received>}
 */
function received(page) {
  return page.evaluate(async () => {
    const stats = await /** @type {any} */ (window).moimRoom.subscriberPc.getStats();
    const out = { decoded: 0, freezes: 0, frozen: 0, samples: 0, concealed: 0 };
    stats.forEach((/** @type {any} */ s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') {
        out.decoded += s.framesDecoded ?? 0;
        out.freezes += s.freezeCount ?? 0;
        out.frozen += s.totalFreezesDuration ?? 0;
      } else {
        out.samples += s.totalSamplesReceived ?? 0;
        out.concealed += s.concealedSamples ?? 0;
      }
    });
    return out;
  });
}

/**
 * What changed between two samples, for the log.
 * @param {string} who
 * @param {Received} a
 * @param {Received} b
 */
function describeWindow(who, a, b) {
  const concealed = (100 * (b.concealed - a.concealed)) / Math.max(1, b.samples - a.samples);
  return {
    text: `${who}: ${b.decoded - a.decoded} frames decoded, ${b.freezes - a.freezes} freezes ` +
      `(${(b.frozen - a.frozen).toFixed(2)} s), ${concealed.toFixed(1)} % of the sound concealed`,
    decoded: b.decoded - a.decoded,
    frozen: b.frozen - a.frozen,
    concealed,
  };
}

const WINDOW_S = 15;

describe('a participant on a network that loses 5 % of packets both ways', { skip: LAB_UNAVAILABLE ?? false }, () => {
  /** @type {import('./lab.mjs').Lab} */
  let lab;
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let open;
  /** @type {import('./harness.mjs').Browser} */
  let lossy;
  /** @type {Page} */
  let ada;
  /** @type {Page} */
  let grace;

  before(async () => {
    lab = await createLab(3);
    server = await startServer('loss', { host: lab.hostAddress });
    open = await launchBrowser(trusting(server.url));
    lossy = await lab.launchBrowser(trusting(server.url));
    const room = uniqueRoom('lossy');
    ada = await newPage(open, 'loss-ada');
    grace = await newPage(lossy, 'loss-grace');
    await joinWithApp(ada, server, room, 'Ada');
    await joinWithApp(grace, server, room, 'Grace');
    await Promise.all([
      waitForFramesDecodedRising(grace, REMOTE_CAMERA_VIDEOS),
      waitForFramesDecodedRising(ada, REMOTE_CAMERA_VIDEOS),
    ]);
    for (const chain of ['INPUT', 'OUTPUT']) {
      await lab.iptables('-A', chain, '-m', 'statistic', '--mode', 'random', '--probability', '0.05', '-j', 'DROP');
    }
  });

  after(async () => {
    await open?.close();
    await lossy?.close();
    await server?.stop();
    await lab?.remove();
  });

  test('both pictures keep decoding and both sounds keep playing', async () => {
    const start = await Promise.all([received(grace), received(ada)]);
    await delay(WINDOW_S * 1000);
    const end = await Promise.all([received(grace), received(ada)]);
    const down = describeWindow('the lossy side receiving', start[0], end[0]);
    const up = describeWindow('the open side receiving from the lossy side', start[1], end[1]);
    console.log(`5 % loss both ways, ${WINDOW_S} s: ${down.text}; ${up.text}`);
    for (const w of [down, up]) {
      // Decoding most of the time: at least 10 frames a second, frozen under a third of it.
      assert.ok(w.decoded >= 10 * WINDOW_S && w.frozen < WINDOW_S / 3, w.text);
      assert.ok(w.concealed < 15, w.text);
    }
    await Promise.all([
      waitForFramesDecodedRising(grace, REMOTE_CAMERA_VIDEOS),
      waitForFramesDecodedRising(ada, REMOTE_CAMERA_VIDEOS),
      waitForAudioPacketsRising(grace, REMOTE_AUDIO),
      waitForAudioPacketsRising(ada, REMOTE_AUDIO),
    ]);
  });
});
