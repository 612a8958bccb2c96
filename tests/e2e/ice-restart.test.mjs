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
 * What the page's subscriber connection took in so far: video frames decoded and audio
 * packets received.
 * @param {import('./harness.mjs').Page} page
 */
function received(page) {
  return page.evaluate(async () => {
    const room = /** @type {any} */ (window).moimRoom;
    const stats = await room.subscriberPc.getStats();
    let video = 0;
    let audio = 0;
    stats.forEach((/** @type {any} */ s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') video += s.framesDecoded ?? 0;
      if (s.type === 'inbound-rtp' && s.kind === 'audio') audio += s.packetsReceived ?? 0;
    });
    return { video, audio };
  });
}

/**
 * One stream's counter after the cut: when it stalled last and when it flows again (it
 * rose in each of the last few samples, by at least `flowing` since the stall ended).
 */
class Flow {
  last = -1;
  lastRise = 0;
  since = 0;
  /** Seconds after the cut when it came back (0: it never stalled). */
  back = 0;

  /** @param {number} flowing */
  constructor(flowing) {
    this.flowing = flowing;
  }

  /**
   * @param {number} value
   * @param {number} t seconds since the cut
   * @returns {boolean} whether it flows (again)
   */
  sample(value, t) {
    if (this.last >= 0 && value > this.last) {
      if (t - this.lastRise > 0.4) {
        this.back = t;
        this.since = value;
      }
      this.lastRise = t;
    } else if (this.last < 0) {
      this.since = value;
    }
    this.last = value;
    return t > 1.5 && t - this.lastRise < 0.4 && value >= this.since + this.flowing;
  }
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
    await meeting.grace.evaluate(() => {
      const w = /** @type {any} */ (window);
      /** @type {[string, number][]} */
      w.moimSteps = [];
      w.moimRoom.on('connectionState', (/** @type {string} */ s) => w.moimSteps.push([s, Date.now()]));
      for (const [name, pc] of [['publisher', w.moimRoom.publisherPc], ['subscriber', w.moimRoom.subscriberPc]]) {
        pc.addEventListener('connectionstatechange', () => w.moimSteps.push([`${name} ${pc.connectionState}`, Date.now()]));
      }
    });
  });

  after(async () => {
    await meeting?.close();
    await server?.stop();
    await lab?.remove();
  });

  test('restarts ICE, and media flows again over the new network without a rejoin', async () => {
    const cutAt = Date.now();
    const second = await lab.changeAddress();
    const { ada, grace } = meeting;
    // Sound and picture flow again both ways after the stall the cut causes.
    const flows = { adaSees: new Flow(15), adaHears: new Flow(25), graceSees: new Flow(15), graceHears: new Flow(25) };
    let allBack = false;
    while (!allBack && Date.now() - cutAt < 40_000) {
      const [a, g] = await Promise.all([received(ada), received(grace)]);
      const t = (Date.now() - cutAt) / 1000;
      allBack = [
        flows.adaSees.sample(a.video, t),
        flows.adaHears.sample(a.audio, t),
        flows.graceSees.sample(g.video, t),
        flows.graceHears.sample(g.audio, t),
      ].every(Boolean);
      await delay(100);
    }
    const back = Object.entries(flows).map(([name, f]) => `${name} ${f.back.toFixed(1)} s`).join(', ');
    assert.ok(allBack, `media did not come back both ways: ${back}`);
    await waitForFramesDecodedRising(grace, REMOTE_CAMERA_VIDEOS);
    await waitForAudioPacketsRising(grace, REMOTE_AUDIO);
    await waitForAudioPacketsRising(ada, REMOTE_AUDIO);
    const restarts = await grace.evaluate(() => /** @type {any} */ (window).moimRoom.iceRestarts);
    const candidates = await selectedCandidates(grace);
    const steps = await grace.evaluate(() => /** @type {any} */ (window).moimSteps);
    const timeline = steps.map((/** @type {[string, number]} */ [s, t]) => `${s} ${((t - cutAt) / 1000).toFixed(1)} s`);
    console.log(`# back after the address change (${second}): ${back}; ${restarts} ICE restart(s); ${timeline.join(', ')}`);
    assert.ok(restarts >= 1, 'an ICE restart');
    assert.equal(await ada.evaluate(() => /** @type {any} */ (window).moimLeft), 0, 'nobody saw Grace leave');
    assert.equal(await grace.evaluate(() => /** @type {any} */ (window).moimRoom.state), 'connected');
    assert.ok(candidates.every((c) => c !== null), JSON.stringify(candidates));
  });
});
