// An invitation link leads into the meeting it names, or nowhere: a token for another room
// is refused before anything is sent.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { joinWithApp, launchBrowser, mintToken, newPage, screenshots, startServer, uniqueRoom } from './harness.mjs';

describe('invitation links', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;

  before(async () => {
    server = await startServer('invitation');
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a pasted invitation link keeps its token', async () => {
    const room = uniqueRoom('pasted');
    const token = await mintToken({ room, identity: 'pasted', name: 'Pasted Person' });
    const page = await newPage(browser, 'invitation-pasted');
    await page.goto(server.url);
    await page.getByLabel('Have a meeting name or link?').fill(`${server.url}/r/${room}?token=${token}`);
    await page.getByRole('button', { name: 'Open' }).click();
    await page.waitForURL(`**/r/${room}?token=*`);
    assert.equal(await page.locator('#name').inputValue(), 'Pasted Person', 'the token names the person');
  });

  test('a link with a room name no meeting can have says so at once', async () => {
    const page = await newPage(browser, 'invitation-bad-name');
    await page.goto(`${server.url}/r/My%20Room`);
    await page.getByText('This is not a meeting link').waitFor();
    assert.equal(await page.locator('#preview-video').count(), 0, 'no camera opened');
  });

  test('in development mode a guest who reloads comes back as the same person', async () => {
    const room = uniqueRoom('reload');
    const page = await newPage(browser, 'invitation-reload');
    const before = await joinWithApp(page, server, room, 'Reloader');
    const after = await joinWithApp(page, server, room, 'Reloader');
    assert.equal(after, before);
  });

  test('a link to one room with a token for another joins neither', async () => {
    const [shown, real] = [uniqueRoom('shown'), uniqueRoom('real')];
    const token = await mintToken({ room: real, identity: 'lured', name: 'Lured' });
    const page = await newPage(browser, 'invitation-wrong-room');
    await page.goto(`${server.url}/r/${shown}?token=${encodeURIComponent(token)}`);
    await page.getByText(`This invitation is for the meeting “${real}”, not “${shown}”`).waitFor();
    assert.ok(await page.getByRole('button', { name: 'Join', exact: true }).isDisabled());
    assert.equal(await page.evaluate(() => /** @type {any} */ (window).moimRoom), undefined, 'nothing joined');
    await screenshots(page, 'invitation-wrong-room');
  });
});
