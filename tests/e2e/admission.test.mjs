// Who gets into a meeting in the web app: the host's waiting room (admit, reject) and the
// lock.

import { after, before, describe, test } from 'node:test';
import { joinAsHost, launchBrowser, newPage, screenshots, startServer, uniqueRoom } from './harness.mjs';

/** @typedef {import('./harness.mjs').Page} Page */

describe('waiting room and lock in the web app', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {Page} */
  let ada;
  const room = uniqueRoom('lobby');

  /**
   * Opens the meeting link, types a name and clicks "Join" without waiting for the result.
   * @param {string} label
   * @param {string} name
   */
  async function knock(label, name) {
    const page = await newPage(browser, label);
    await page.goto(`${server.url}/r/${room}`);
    await page.getByLabel('Your name').fill(name);
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    return page;
  }

  before(async () => {
    server = await startServer('admission');
    browser = await launchBrowser();
    ada = await newPage(browser, 'lobby-ada');
    await joinAsHost(ada, server, room, 'ada', 'Ada');
    await ada.getByRole('button', { name: 'Participants' }).click();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a newcomer waits until the host admits them', async () => {
    await ada.getByLabel('Waiting room').check();
    const grace = await knock('lobby-grace', 'Grace');
    await grace.locator('#waiting-notice').waitFor({ timeout: 10_000 });
    const waiting = ada.locator('#waiting-room .person', { hasText: 'Grace' });
    await waiting.waitFor({ timeout: 10_000 });
    await waiting.locator('[data-action="admit"]').click();
    await grace.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 20_000 });
    await ada.locator('.people .person', { hasText: 'Grace' }).waitFor({ timeout: 10_000 });
    await ada.locator('#waiting-room').waitFor({ state: 'hidden', timeout: 5_000 });
  });

  test('the host rejects a newcomer, who is told so', async () => {
    const linus = await knock('lobby-linus', 'Linus');
    await linus.locator('#waiting-notice').waitFor({ timeout: 10_000 });
    await ada.locator('#waiting-room .person', { hasText: 'Linus' }).locator('[data-action="reject"]').click();
    await linus.getByText('A host did not let you into the meeting.').waitFor({ timeout: 10_000 });
    await ada.locator('.people .person', { hasText: 'Linus' }).waitFor({ state: 'detached', timeout: 2_000 });
  });

  test('a host whose participant list is closed is told someone waits, and admits them', async () => {
    await ada.getByRole('button', { name: 'Participants' }).click();
    const mia = await knock('lobby-mia', 'Mia');
    const alert = ada.locator('#waiting-alert', { hasText: 'Mia wants to join.' });
    await alert.waitFor({ timeout: 10_000 });
    await screenshots(ada, 'waiting-alert');
    await alert.getByRole('button', { name: 'Admit' }).click();
    await mia.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 20_000 });
    await ada.locator('#waiting-alert').waitFor({ state: 'hidden', timeout: 5_000 });
    await ada.getByRole('button', { name: 'Participants' }).click();
  });

  test('a locked meeting turns newcomers away', async () => {
    await ada.getByLabel('Lock meeting').check();
    const zed = await knock('lobby-zed', 'Zed');
    await zed.getByText('The meeting is locked. Ask a host to unlock it.').waitFor({ timeout: 10_000 });
  });
});
