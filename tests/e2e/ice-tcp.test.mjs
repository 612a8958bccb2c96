// Someone whose network lets no UDP through still meets: Chromium in a lab network whose
// firewall drops every UDP packet (`lab.mjs`) reaches the media over ICE-TCP, the passive
// TCP candidate every session offers, and sees and hears someone on an open network, who
// sees and hears them.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startServer } from './harness.mjs';
import { LAB_UNAVAILABLE, createLab, meetAcrossTheLab, seeAndHearEachOther, selectedCandidates } from './lab.mjs';

/**
 * The protocol of the local candidate of each of the page's selected pairs, once both are
 * `expected` (or after 20 s).
 * @param {import('./harness.mjs').Page} page
 * @param {string} expected
 */
async function selectedProtocols(page, expected) {
  const candidates = await selectedCandidates(page, (all) => all.every((c) => c.protocol === expected));
  return candidates.map((c) => c?.protocol ?? null);
}

describe('a participant whose network blocks UDP', { skip: LAB_UNAVAILABLE ?? false }, () => {
  /** @type {import('./lab.mjs').Lab} */
  let lab;
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./lab.mjs').Meeting} */
  let meeting;

  before(async () => {
    lab = await createLab(1);
    await lab.iptables('-A', 'OUTPUT', '-p', 'udp', '-j', 'DROP');
    // ICE-TCP on its own: with TURN offered too, Chromium may keep a relayed pair over
    // TURN/TCP instead (turn.test.mjs covers that path).
    server = await startServer('ice-tcp', { host: lab.hostAddress, env: { MOIM_TURN: '0' } });
    meeting = await meetAcrossTheLab(lab, server, 'ice-tcp');
  });

  after(async () => {
    await meeting?.close();
    await server?.stop();
    await lab?.remove();
  });

  test('connects both ways over TCP', async () => {
    assert.deepEqual(await selectedProtocols(meeting.grace, 'tcp'), ['tcp', 'tcp']);
    assert.deepEqual(await selectedProtocols(meeting.ada, 'udp'), ['udp', 'udp']);
  });

  test('sees and hears the other, who sees and hears them', async () => {
    await seeAndHearEachOther(meeting);
  });
});
