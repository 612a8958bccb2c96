// Someone whose network lets no UDP through still meets: Chromium in a lab network whose
// firewall drops every UDP packet (`lab.mjs`) reaches the media over ICE-TCP, the passive
// TCP candidate every session offers, and sees and hears someone on an open network, who
// sees and hears them.

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
 * The protocol of the local candidate of each of the page's peer connections' selected
 * pairs (publisher, then subscriber), once both have one.
 * @param {Page} page
 */
async function selectedProtocols(page) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const protocols = await protocolsNow(page);
    if (protocols.every((p) => p !== null) || Date.now() > deadline) return protocols;
    await delay(250);
  }
}

/** @param {Page} page */
function protocolsNow(page) {
  return page.evaluate(async () => {
    const room = /** @type {any} */ (window).moimRoom;
    const out = [];
    for (const pc of [room.publisherPc, room.subscriberPc]) {
      const stats = await pc.getStats();
      /** @type {string | null} */
      let protocol = null;
      stats.forEach((/** @type {any} */ s) => {
        if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
        const pair = stats.get(s.selectedCandidatePairId);
        protocol = stats.get(pair.localCandidateId)?.protocol ?? null;
      });
      out.push(protocol);
    }
    return out;
  });
}

describe('a participant whose network blocks UDP', { skip: LAB_UNAVAILABLE ?? false }, () => {
  /** @type {import('./lab.mjs').Lab} */
  let lab;
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let open;
  /** @type {import('./harness.mjs').Browser} */
  let blocked;
  /** @type {Page} */
  let ada;
  /** @type {Page} */
  let tcp;

  before(async () => {
    lab = await createLab(1);
    await lab.iptables('-A', 'OUTPUT', '-p', 'udp', '-j', 'DROP');
    server = await startServer('ice-tcp', { host: lab.hostAddress });
    open = await launchBrowser(trusting(server.url));
    blocked = await lab.launchBrowser(trusting(server.url));
    const room = uniqueRoom('tcp');
    ada = await newPage(open, 'ice-tcp-ada');
    tcp = await newPage(blocked, 'ice-tcp-grace');
    await joinWithApp(ada, server, room, 'Ada');
    await joinWithApp(tcp, server, room, 'Grace');
  });

  after(async () => {
    await open?.close();
    await blocked?.close();
    await server?.stop();
    await lab?.remove();
  });

  test('connects both ways over TCP', async () => {
    assert.deepEqual(await selectedProtocols(tcp), ['tcp', 'tcp']);
    assert.deepEqual(await selectedProtocols(ada), ['udp', 'udp']);
  });

  test('sees and hears the other, who sees and hears them', async () => {
    await Promise.all([
      waitForFramesDecodedRising(tcp, REMOTE_CAMERA_VIDEOS),
      waitForFramesDecodedRising(ada, REMOTE_CAMERA_VIDEOS),
      waitForAudioPacketsRising(tcp, REMOTE_AUDIO),
      waitForAudioPacketsRising(ada, REMOTE_AUDIO),
    ]);
  });
});
