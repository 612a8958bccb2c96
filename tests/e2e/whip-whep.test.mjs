// WHIP and WHEP with the example pages, which use only RTCPeerConnection and fetch (no Moim
// client library): what one page publishes, another plays.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
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

describe('WHIP publishing and WHEP playback', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  const room = uniqueRoom('whip');
  const publisher = 'obs-studio';
  /** @type {import('./harness.mjs').Page} */
  let whipPage;

  before(async () => {
    server = await startServer('whip-whep');
    browser = await launchBrowser();
    const token = await mintToken({ room, identity: publisher, name: 'Studio' });
    const page = await newPage(browser, 'whip-publisher');
    whipPage = page;
    const query = new URLSearchParams({ room, token, autostart: '1' });
    await page.goto(`${server.url}/examples/whip.html?${query}`);
    await page.waitForFunction(() => /** @type {any} */ (window).pc?.connectionState === 'connected', null, {
      timeout: 20_000,
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a WHEP viewer of the room decodes the WHIP publisher’s video and audio', async () => {
    const token = await mintToken({ room, identity: 'viewer-1', role: 'viewer' });
    const page = await newPage(browser, 'whep-room');
    const query = new URLSearchParams({ room, token, autostart: '1' });
    await page.goto(`${server.url}/examples/whep.html?${query}`);
    await waitForFramesDecodedRising(page, '#video');
    await waitForAudioPacketsRising(page, '#video');
  });

  test('a WHEP viewer of one identity plays /whep/{room}/{identity}', async () => {
    const token = await mintToken({ room, identity: 'viewer-2', role: 'viewer' });
    const page = await newPage(browser, 'whep-identity');
    const query = new URLSearchParams({ room, identity: publisher, token, autostart: '1' });
    await page.goto(`${server.url}/examples/whep.html?${query}`);
    assert.equal(await page.inputValue('#endpoint'), `/whep/${room}/${publisher}`);
    await waitForFramesDecodedRising(page, '#video');
  });

  test('someone joining the meeting with the camera off does not take the room’s stream', async () => {
    const token = await mintToken({ room, identity: 'viewer-4', role: 'viewer' });
    const page = await newPage(browser, 'whep-room-stays');
    const query = new URLSearchParams({ room, token, autostart: '1' });
    await page.goto(`${server.url}/examples/whep.html?${query}`);
    await waitForFramesDecodedRising(page, '#video');
    const guest = await newPage(browser, 'whep-room-guest');
    await joinWithApp(guest, server, room, 'Camera Off', { cameraOff: true });
    await guest.waitForFunction(() => /** @type {any} */ (window).moimRoom.publications.every((/** @type {any} */ p) => p.sid));
    // The guest's muted camera is 1280×720 in simulcast, the publisher's 640×480: the
    // picture's height tells whose it is.
    await delay(2_000);
    await waitForFramesDecodedRising(page, '#video');
    // Compared a few times: a loaded browser may change the publisher's resolution.
    let shown = '';
    for (let tries = 0; tries < 20; tries++) {
      const [played, sent] = [await inboundVideoHeights(page), await outboundVideoHeight(whipPage)];
      shown = `played ${played}, the WHIP publisher sends ${sent}`;
      if (played.length === 1 && played[0] === sent) break;
      await delay(500);
    }
    assert.match(shown, /^played (\d+), the WHIP publisher sends \1$/, 'the WHIP publisher is still shown');
    await guest.close();
  });

  test('without a WHIP publisher the room’s stream never shows a muted camera', async () => {
    const meeting = uniqueRoom('stream');
    const ada = await newPage(browser, 'stream-ada');
    await joinWithApp(ada, server, meeting, 'Ada');
    const ben = await newPage(browser, 'stream-ben');
    // Ben comes last: once, the room's stream was whoever published last.
    await joinWithApp(ben, server, meeting, 'Ben', { cameraOff: true });
    await ben.waitForFunction(() => /** @type {any} */ (window).moimRoom.publications.every((/** @type {any} */ p) => p.sid));
    const token = await mintToken({ room: meeting, identity: 'stream-viewer', role: 'viewer' });
    const page = await newPage(browser, 'whep-meeting');
    const query = new URLSearchParams({ room: meeting, token, autostart: '1' });
    await page.goto(`${server.url}/examples/whep.html?${query}`);
    await waitForFramesDecodedRising(page, '#video');
    // Ada's camera (Chromium's fake one draws in green), not Ben's muted one (black).
    await page.waitForFunction(() => {
      const video = /** @type {HTMLVideoElement} */ (document.querySelector('#video'));
      const canvas = document.createElement('canvas');
      canvas.width = 32;
      canvas.height = 18;
      const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
      ctx.drawImage(video, 0, 0, 32, 18);
      const { data } = ctx.getImageData(0, 0, 32, 18);
      let green = 0;
      for (let i = 1; i < data.length; i += 4) green += data[i];
      return green / (data.length / 4) > 60;
    }, null, { timeout: 10_000 });
    for (const p of [ada, ben, page]) await p.close();
  });

  test('stopping the WHEP player ends its session with DELETE', async () => {
    const token = await mintToken({ room, identity: 'viewer-3', role: 'viewer' });
    const page = await newPage(browser, 'whep-stop');
    const query = new URLSearchParams({ room, token, autostart: '1' });
    await page.goto(`${server.url}/examples/whep.html?${query}`);
    await waitForFramesDecodedRising(page, '#video');
    const deleted = page.waitForResponse((res) => res.request().method() === 'DELETE');
    await page.getByRole('button', { name: 'Stop' }).click();
    assert.equal((await deleted).status(), 200);
  });
});

describe('a publisher that offers only H.264', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;

  before(async () => {
    server = await startServer('whip-h264');
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('is forwarded as H.264 and decoded by a WHEP viewer', async () => {
    const room = uniqueRoom('h264');
    const token = await mintToken({ room, identity: 'encoder', name: 'Encoder' });
    const publisher = await newPage(browser, 'whip-h264-publisher');
    const query = new URLSearchParams({ room, token, codec: 'H264', autostart: '1' });
    await publisher.goto(`${server.url}/examples/whip.html?${query}`);

    const viewerToken = await mintToken({ room, identity: 'h264-viewer', role: 'viewer' });
    const viewer = await newPage(browser, 'whep-h264');
    const viewerQuery = new URLSearchParams({ room, token: viewerToken, autostart: '1' });
    await viewer.goto(`${server.url}/examples/whep.html?${viewerQuery}`);
    await waitForFramesDecodedRising(viewer, '#video');

    const codecs = await viewer.evaluate(async () => {
      const stats = await /** @type {any} */ (window).pc.getStats();
      /** @type {string[]} */
      const found = [];
      stats.forEach((/** @type {any} */ s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') found.push(stats.get(s.codecId)?.mimeType);
      });
      return found;
    });
    assert.deepEqual(codecs, ['video/H264']);
  });
});

/**
 * The frame heights of the videos a page's `window.pc` receives.
 * @param {import('./harness.mjs').Page} page
 * @returns {Promise<number[]>}
 */
function inboundVideoHeights(page) {
  return page.evaluate(async () => {
    const stats = await /** @type {any} */ (window).pc.getStats();
    /** @type {number[]} */
    const heights = [];
    stats.forEach((/** @type {any} */ s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') heights.push(s.frameHeight);
    });
    return heights;
  });
}

/**
 * The frame height a page's `window.pc` sends its video at.
 * @param {import('./harness.mjs').Page} page
 * @returns {Promise<number>}
 */
function outboundVideoHeight(page) {
  return page.evaluate(async () => {
    const stats = await /** @type {any} */ (window).pc.getStats();
    let height = 0;
    stats.forEach((/** @type {any} */ s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') height = s.frameHeight;
    });
    return height;
  });
}
