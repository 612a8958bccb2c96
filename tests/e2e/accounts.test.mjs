// Accounts in the app, on a server outside development mode: the first admin (added on
// the command line) signs in, invites someone who makes an account, pictures and
// passwords, and a room of one's own whose link lets the owner in as host and a guest
// into its waiting room.

import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { MOIM_BIN, RESULTS_DIR, delay, launchBrowser, newPage, screenshots, startServer, uniqueRoom } from './harness.mjs';

/** @typedef {import('./harness.mjs').Page} Page */

/** The first bytes of a PNG: what the server checks a picture by. */
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');

describe('accounts and owned rooms in the app', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {Page} */
  let ada;
  /** @type {Page} */
  let bob;
  const room = uniqueRoom('standup');

  /**
   * Signs in on the account page.
   * @param {Page} page
   * @param {string} email
   * @param {string} password
   */
  async function signIn(page, email, password) {
    await page.goto(`${server.url}/account`);
    await page.locator('#signin-email').fill(email);
    await page.locator('#signin-password').fill(password);
    await page.locator('#signin').click();
  }

  before(async () => {
    server = await startServer('accounts', {
      env: { MOIM_API_SECRET: 'a'.repeat(64), MOIM_SIGNUP: 'invite' },
    });
    // The first admin, as the README says, on the server's own database.
    const child = execFile(MOIM_BIN, ['user', 'add', '--email', 'ada@example.org', '--name', 'Ada', '--admin'], {
      env: { ...process.env, MOIM_DATA_DIR: path.join(RESULTS_DIR, 'accounts-data') },
    });
    child.stdin?.end('ada password 1\n');
    await new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve(undefined) : reject(new Error(`moim user add: ${code}`)))));
    browser = await launchBrowser();
    ada = await newPage(browser, 'accounts-ada');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a wrong password is refused and the right one signs in', async () => {
    await signIn(ada, 'ada@example.org', 'not the password');
    await ada.locator('#signin-error', { hasText: 'The email or password is wrong.' }).waitFor({ timeout: 10_000 });
    await signIn(ada, 'Ada@Example.org', 'ada password 1');
    await ada.locator('#signed-in-as', { hasText: 'Ada' }).waitFor({ timeout: 10_000 });
    await ada.locator('#my-rooms', { hasText: 'No rooms yet' }).waitFor();
    await screenshots(ada, 'account');
  });

  test('an invited person makes an account, sets a picture and changes the password', async () => {
    await ada.locator('#invite-email').fill('bob@example.org');
    await ada.locator('#invite').click();
    const link = ada.locator('#invite-link');
    await link.waitFor({ state: 'visible', timeout: 10_000 });
    const url = await link.inputValue();
    assert.match(url, /\/account\?invite=[0-9a-f]{64}$/);

    bob = await newPage(browser, 'accounts-bob');
    await bob.goto(url);
    await bob.locator('#signup-name').fill('Bob');
    await bob.locator('#signup-password').fill('bob password 1');
    await bob.locator('#signup').click();
    await bob.locator('#signed-in-as', { hasText: 'Bob' }).waitFor({ timeout: 10_000 });
    await ada.reload();
    await ada.locator('#users li[data-email="bob@example.org"]').waitFor({ timeout: 10_000 });

    // A picture: a text file is refused, a PNG taken and shown.
    await bob.locator('#avatar-file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await bob.locator('#profile-error', { hasText: 'A profile picture is a PNG, JPEG or WebP image.' }).waitFor({ timeout: 10_000 });
    await bob.locator('#avatar-file').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: PNG });
    await bob.locator('#profile-status', { hasText: 'Picture saved.' }).waitFor({ timeout: 10_000 });

    // Bob's phone is signed in too; the password change ends that session.
    const phone = await newPage(browser, 'accounts-bob-phone');
    await signIn(phone, 'bob@example.org', 'bob password 1');
    await phone.locator('#signed-in-as', { hasText: 'Bob' }).waitFor({ timeout: 10_000 });
    await bob.locator('#password-current').fill('bob password 1');
    await bob.locator('#password-new').fill('bob password 2');
    await bob.locator('#change-password').click();
    await bob.locator('#password-status', { hasText: 'Password changed.' }).waitFor({ timeout: 10_000 });
    await bob.reload();
    await bob.locator('#signed-in-as', { hasText: 'Bob' }).waitFor({ timeout: 10_000 });
    await phone.reload();
    await phone.locator('#signin').waitFor({ timeout: 10_000 });
    await signIn(phone, 'bob@example.org', 'bob password 1');
    await phone.locator('#signin-error', { hasText: 'The email or password is wrong.' }).waitFor({ timeout: 10_000 });
  });

  test('the owner joins its room as host and admits a guest from the waiting room', async () => {
    await ada.locator('#room-name').fill(room);
    await ada.locator('#room-waiting').check();
    await ada.locator('#create-room').click();
    const item = ada.locator(`#my-rooms li[data-room="${room}"]`);
    await item.waitFor({ timeout: 10_000 });
    await item.getByRole('link', { name: room }).click();
    await ada.locator('#joining-as-host').waitFor({ timeout: 10_000 });
    assert.equal(await ada.locator('#name').inputValue(), 'Ada');
    await ada.getByRole('button', { name: 'Join', exact: true }).click();
    await ada.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 20_000 });

    const guest = await newPage(browser, 'accounts-guest');
    await guest.goto(`${server.url}/r/${room}`);
    await guest.getByLabel('Your name').fill('Gus');
    await guest.getByRole('button', { name: 'Join', exact: true }).click();
    await guest.locator('#waiting-notice').waitFor({ timeout: 10_000 });
    const alert = ada.locator('#waiting-alert', { hasText: 'Gus wants to join.' });
    await alert.waitFor({ timeout: 10_000 });
    await alert.getByRole('button', { name: 'Admit' }).click();
    await guest.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 20_000 });
    await screenshots(guest, 'owned-room-guest');

    // "My rooms" shows who is in it now.
    const other = await newPage(browser, 'accounts-ada-list');
    await signIn(other, 'ada@example.org', 'ada password 1');
    await other.locator(`#my-rooms li[data-room="${room}"]`, { hasText: '2 in it now' }).waitFor({ timeout: 10_000 });
    await other.close();
  });

  test('a recording of the room appears in the owner library, plays, is refused to others and deleted with its files', async () => {
    // The owner, host in the meeting, records everyone in one video for a few seconds.
    await ada.locator('#record').click();
    await ada.locator('#record-server-composite').click();
    await ada.locator('#recording-indicator').waitFor({ timeout: 10_000 });
    await delay(3_000);
    await ada.locator('#record').click();
    await ada.locator('#recording-indicator').waitFor({ state: 'hidden', timeout: 15_000 });

    const library = await newPage(browser, 'accounts-ada-library');
    await signIn(library, 'ada@example.org', 'ada password 1');
    const item = library.locator(`#my-rooms li[data-room="${room}"]`);
    await item.locator('[data-action="recordings"]').click();
    const entry = item.locator('li[data-recording]').first();
    await entry.waitFor({ timeout: 15_000 });
    const id = /** @type {string} */ (await entry.getAttribute('data-recording'));
    await entry.locator('[data-action="play"]').first().click();
    // It plays: the browser read its length and a picture.
    await library.waitForFunction(
      () => {
        const video = document.querySelector('.library video');
        return video instanceof HTMLVideoElement && video.readyState >= 2 && video.videoWidth > 0;
      },
      null,
      { timeout: 15_000 },
    );
    await screenshots(library, 'library');

    // Bob, signed in but not a host of the room, is refused its files.
    const file = await entry.locator('a[download]').first().getAttribute('href');
    const refused = await bob.evaluate(async (url) => (await fetch(url)).status, /** @type {string} */ (file));
    assert.equal(refused, 403);

    const folder = path.join(server.recordingsDir, room, id);
    assert.ok(fs.existsSync(folder));
    await entry.locator('[data-action="delete"]').click();
    await item.locator(`li[data-recording="${id}"]`).waitFor({ state: 'detached', timeout: 10_000 });
    assert.ok(!fs.existsSync(folder), 'the files are gone');
  });
});
