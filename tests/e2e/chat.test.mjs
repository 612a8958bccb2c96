// Chat in the web app: messages to everyone and direct ones, history for a late joiner,
// the host's transcript download, application data through the client library, and the
// data rate limit answered with its error while the others carry on.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import {
  REMOTE_CAMERA_VIDEOS,
  joinAsHost,
  joinWithApp,
  launchBrowser,
  mintToken,
  newPage,
  startServer,
  uniqueRoom,
  waitForFramesDecodedRising,
} from './harness.mjs';

/** @typedef {import('./harness.mjs').Page} Page */

/**
 * Sends a chat message through the app's chat panel, opening it if needed.
 * @param {Page} page
 * @param {string} text
 * @param {string} [toName] a participant's name, for a direct message
 */
async function sendChat(page, text, toName) {
  await openChat(page);
  await page.locator('#chat-to').selectOption(toName ? { label: toName } : { value: '' });
  await page.locator('#chat-input').fill(text);
  await page.locator('#chat-send').click();
  await page.locator('#chat-messages .chat-text', { hasText: text }).waitFor({ timeout: 5_000 });
}

/** @param {Page} page */
async function openChat(page) {
  if (await page.locator('#chat-panel').isHidden()) {
    await page.getByRole('button', { name: 'Chat' }).click();
  }
}

/** @param {Page} page */
function chatTexts(page) {
  return page.locator('#chat-messages .chat-text').allTextContents();
}

describe('chat in the web app', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  const room = uniqueRoom('chat');
  /** @type {Page} */
  let ada;
  /** @type {Page} */
  let grace;

  before(async () => {
    server = await startServer('chat');
    browser = await launchBrowser();
    ada = await newPage(browser, 'chat-ada');
    await joinAsHost(ada, server, room, 'ada', 'Ada');
    grace = await newPage(browser, 'chat-grace');
    await joinWithApp(grace, server, room, 'Grace');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a message to everyone arrives, counted as unread until the chat is opened', async () => {
    await sendChat(ada, 'Hello everyone');
    await grace.locator('#chat-unread', { hasText: '1' }).waitFor({ timeout: 5_000 });
    await openChat(grace);
    const message = grace.locator('#chat-messages .chat-message').last();
    assert.equal(await message.locator('.chat-from').textContent(), 'Ada');
    assert.equal(await message.locator('.chat-text').textContent(), 'Hello everyone');
    assert.equal(await grace.locator('#chat-unread').isHidden(), true);
  });

  test('chat travels on the data channel relayed by the server', async () => {
    for (const page of [ada, grace]) {
      await page.waitForFunction(() => /** @type {any} */ (window).moimRoom.dataChannelOpen, null, { timeout: 10_000 });
    }
    /** @param {Page} page */
    const channelStats = (page) =>
      page.evaluate(async () => {
        const stats = await /** @type {any} */ (window).moimRoom.subscriberPc.getStats();
        /** @type {{ sent: number, received: number }} */
        const total = { sent: 0, received: 0 };
        stats.forEach((/** @type {any} */ s) => {
          if (s.type === 'data-channel' && s.label === 'moim') {
            total.sent += s.messagesSent;
            total.received += s.messagesReceived;
          }
        });
        return total;
      });
    const [adaBefore, graceBefore] = [await channelStats(ada), await channelStats(grace)];
    await sendChat(ada, 'over the channel');
    await grace.locator('#chat-messages .chat-text', { hasText: 'over the channel' }).waitFor({ timeout: 5_000 });
    const [adaAfter, graceAfter] = [await channelStats(ada), await channelStats(grace)];
    assert.ok(adaAfter.sent > adaBefore.sent, 'Ada sent on her data channel');
    assert.ok(adaAfter.received > adaBefore.received, 'the reply came back on it');
    assert.ok(graceAfter.received > graceBefore.received, 'Grace received on hers');
  });

  test('a direct message reaches only its recipient and a late joiner gets the history without it', async () => {
    await sendChat(grace, 'just for you', 'Ada');
    const direct = ada.locator('#chat-messages .chat-message.direct', { hasText: 'just for you' });
    await direct.waitFor({ timeout: 5_000 });

    const linus = await newPage(browser, 'chat-linus');
    await joinWithApp(linus, server, room, 'Linus');
    await openChat(linus);
    await linus.locator('#chat-messages .chat-text', { hasText: 'Hello everyone' }).waitFor({ timeout: 5_000 });
    assert.deepEqual(await chatTexts(linus), ['Hello everyone', 'over the channel']);
    await linus.close();
  });

  test('the host downloads the transcript; a guest has no such button', async () => {
    await openChat(ada);
    const [download] = await Promise.all([
      ada.waitForEvent('download', { timeout: 10_000 }),
      ada.locator('#chat-download-txt').click(),
    ]);
    const file = await download.path();
    const text = await readFile(/** @type {string} */ (file), 'utf8');
    assert.match(text, /UTC\] Ada: Hello everyone/);
    assert.doesNotMatch(text, /just for you/, 'direct messages stay out of the transcript');
    assert.equal(await grace.locator('#chat-download-txt').isVisible(), false);
  });

  test('the host asks a poll, a guest votes once, both see the count, the transcript has it', async () => {
    await openChat(ada);
    await ada.locator('#poll-new').click();
    await ada.locator('#poll-question').fill('Lunch?');
    await ada.locator('#poll-options').fill('Pizza\nSushi');
    await ada.locator('#poll-ask').click();
    await openChat(grace);
    const sushi = grace.locator('.chat-poll', { hasText: 'Lunch?' }).locator('.poll-option[data-option="1"]');
    await sushi.click();
    await ada.locator('.chat-poll', { hasText: 'Lunch?' }).locator('.poll-option[data-option="1"] .poll-votes', { hasText: '1' })
      .waitFor({ timeout: 5_000 });
    await grace.locator('.chat-poll .poll-option.chosen[data-option="1"]').waitFor({ timeout: 5_000 });
    assert.equal(await sushi.isDisabled(), true, 'one vote per person');
    assert.equal(await grace.locator('.poll-close').count(), 0, 'guests cannot close polls');
    await ada.locator('.chat-poll', { hasText: 'Lunch?' }).locator('.poll-close').click();
    await grace.locator('.chat-poll', { hasText: 'Lunch?' }).locator('.badge', { hasText: 'Closed' }).waitFor({ timeout: 5_000 });
    const [download] = await Promise.all([
      ada.waitForEvent('download', { timeout: 10_000 }),
      ada.locator('#chat-download-txt').click(),
    ]);
    const text = await readFile(/** @type {string} */ (await download.path()), 'utf8');
    assert.match(text, /Poll by Ada: Lunch\? \(Pizza: 0, Sushi: 1\), closed/);
  });

  test('application data arrives with its topic; a burst over the limit is refused while others carry on', async () => {
    await ada.evaluate(() => {
      const w = /** @type {any} */ (window);
      w.received = [];
      w.moimRoom.on('data', (/** @type {string} */ payload, /** @type {any} */ info) =>
        w.received.push({ payload, topic: info.topic, from: info.from?.identity }));
    });
    const codes = await grace.evaluate(async () => {
      const room = /** @type {any} */ (window).moimRoom;
      /** @type {string[]} */
      const errors = [];
      room.on('error', (/** @type {any} */ e) => errors.push(e.code));
      room.sendData(JSON.stringify({ move: 'e4' }), { topic: 'game' });
      for (let i = 0; i < 150; i++) room.sendData(`tick ${i}`, { topic: 'ticker' });
      const deadline = Date.now() + 5_000;
      while (!errors.includes('rate_limited') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      return errors;
    });
    assert.ok(codes.includes('rate_limited'), `errors: ${codes}`);
    await ada.waitForFunction(() => /** @type {any} */ (window).received.length >= 100, null, { timeout: 5_000 });
    const first = await ada.evaluate(() => /** @type {any} */ (window).received[0]);
    assert.deepEqual(first, { payload: '{"move":"e4"}', topic: 'game', from: await grace.evaluate(() => /** @type {any} */ (window).moimRoom.localParticipant.identity) });

    await sendChat(ada, 'still here');
    await grace.locator('#chat-messages .chat-text', { hasText: 'still here' }).waitFor({ timeout: 5_000 });
  });

  test('a viewer without the data grant watches and reads the chat, with no data channels', async () => {
    const token = await mintToken({ room, identity: 'vic', name: 'Vic', role: 'viewer' });
    const vic = await newPage(browser, 'chat-vic');
    await vic.goto(`${server.url}/r/${room}?token=${encodeURIComponent(token)}`);
    await vic.getByRole('button', { name: 'Join', exact: true }).click();
    await vic.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 20_000 });
    await waitForFramesDecodedRising(vic, REMOTE_CAMERA_VIDEOS, { count: 2 });
    await sendChat(ada, 'For the audience too');
    await openChat(vic);
    await vic.locator('#chat-messages .chat-text', { hasText: 'For the audience too' }).waitFor({ timeout: 5_000 });
    const channels = await vic.evaluate(async () => {
      const stats = await /** @type {any} */ (window).moimRoom.subscriberPc.getStats();
      return [...stats.values()].filter((s) => s.type === 'data-channel').length;
    });
    assert.equal(channels, 0, 'a viewer\'s connection has no data channels');
  });
});
