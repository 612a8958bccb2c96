// A participant whose network path changes mid-meeting keeps meeting without rejoining:
// Chromium in a lab network (`lab.mjs`) loses its media path (its address is cut off from
// everything but the web server) while a second network comes up; the client library
// restarts ICE on both connections, media flows again over the new network, and the
// others never see the participant leave.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  REMOTE_CAMERA_VIDEOS,
  delay,
  startServer,
  waitForAudioPacketsRising,
  waitForFramesDecodedRising,
  REMOTE_AUDIO,
} from './harness.mjs';
import { LAB_UNAVAILABLE, createLab, meetAcrossTheLab, seeAndHearEachOther, selectedCandidates } from './lab.mjs';

/**
 * Frames decoded so far by the page's remote camera videos.
 * @param {import('./harness.mjs').Page} page
 */
function framesDecoded(page) {
  return page.evaluate(async () => {
    const room = /** @type {any} */ (window).moimRoom;
    const stats = await room.subscriberPc.getStats();
    let frames = 0;
    stats.forEach((/** @type {any} */ s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
    });
    return frames;
  });
}

describe('a participant whose network changes mid-meeting', { skip: LAB_UNAVAILABLE ?? false }, () => {
  /** @type {import('./lab.mjs').Lab} */
  let lab;
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./lab.mjs').Meeting} */
  let meeting;

  before(async () => {
    lab = await createLab(4);
    server = await startServer('ice-restart', { host: lab.hostAddress, env: { MOIM_TURN: '0' } });
    meeting = await meetAcrossTheLab(lab, server, 'ice-restart');
    await seeAndHearEachOther(meeting);
    await meeting.ada.evaluate(() => {
      const w = /** @type {any} */ (window);
      w.moimLeft = 0;
      w.moimRoom.on('participantLeft', () => w.moimLeft++);
    });
  });

  after(async () => {
    await meeting?.close();
    await server?.stop();
    await lab?.remove();
  });

  test('restarts ICE, and media flows again over the new network without a rejoin', async () => {
    const second = await lab.plugInSecondNetwork();
    const httpPort = new URL(server.url).port;
    const cutAt = Date.now();
    // The old address keeps reaching the web server (signaling goes on) and nothing else.
    await lab.iptables('-A', 'OUTPUT', '-s', lab.clientAddress, '-p', 'tcp', '--dport', httpPort, '-j', 'ACCEPT');
    await lab.iptables('-A', 'OUTPUT', '-s', lab.clientAddress, '!', '-o', 'lo', '-j', 'DROP');
    const { ada, grace } = meeting;
    const adaBefore = await framesDecoded(ada);
    // Grace's camera reaches Ada again: frames decoded rise past what they were at the cut
    // by a second's worth, after the gap.
    let resumedAfter = 0;
    for (let last = adaBefore; Date.now() - cutAt < 40_000; await delay(200)) {
      const now = await framesDecoded(ada);
      if (now > last + 25) {
        resumedAfter = (Date.now() - cutAt) / 1000;
        break;
      }
      if (Date.now() - cutAt < 1000) last = now;
    }
    assert.ok(resumedAfter > 0, 'Grace\'s camera never came back to Ada');
    await waitForFramesDecodedRising(grace, REMOTE_CAMERA_VIDEOS);
    await waitForAudioPacketsRising(grace, REMOTE_AUDIO);
    await waitForAudioPacketsRising(ada, REMOTE_AUDIO);
    const restarts = await grace.evaluate(() => /** @type {any} */ (window).moimRoom.iceRestarts);
    const candidates = await selectedCandidates(grace);
    console.log(`# media back ${resumedAfter.toFixed(1)} s after the cut, over ${second}; ${restarts} ICE restart(s)`);
    assert.ok(restarts >= 1, 'an ICE restart');
    assert.equal(await ada.evaluate(() => /** @type {any} */ (window).moimLeft), 0, 'nobody saw Grace leave');
    assert.equal(await grace.evaluate(() => /** @type {any} */ (window).moimRoom.state), 'connected');
    assert.ok(candidates.every((c) => c !== null), JSON.stringify(candidates));
  });
});
