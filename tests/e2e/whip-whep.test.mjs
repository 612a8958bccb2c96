// WHIP and WHEP with the example pages, which use only RTCPeerConnection and fetch (no Moim
// client library): what one page publishes, another plays.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
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

  before(async () => {
    server = await startServer('whip-whep');
    browser = await launchBrowser();
    const token = await mintToken({ room, identity: publisher, name: 'Studio' });
    const page = await newPage(browser, 'whip-publisher');
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
