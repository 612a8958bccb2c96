// Host moderation in the web app: muting someone's microphone (locked), stopping a camera,
// removing and banning a participant, ending the meeting for everyone.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { joinAsHost, joinWithApp, launchBrowser, newPage, screenshots, startServer, uniqueRoom } from './harness.mjs';

describe('moderation in the web app', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {import('./harness.mjs').Page} */
  let ada;
  /** @type {import('./harness.mjs').Page} */
  let grace;
  /** @type {import('./harness.mjs').Page} */
  let linus;
  let graceIdentity = '';

  before(async () => {
    server = await startServer('moderation');
    browser = await launchBrowser();
    const room = uniqueRoom('mod');
    ada = await newPage(browser, 'mod-ada');
    ada.on('dialog', (dialog) => dialog.accept());
    await joinAsHost(ada, server, room, 'ada', 'Ada');
    grace = await newPage(browser, 'mod-grace');
    graceIdentity = await joinWithApp(grace, server, room, 'Grace');
    linus = await newPage(browser, 'mod-linus');
    await joinWithApp(linus, server, room, 'Linus');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the host mutes a microphone; its owner cannot turn it back on until the host allows it', async () => {
    await ada.getByRole('button', { name: 'Participants' }).click();
    const row = ada.locator(`.person[data-identity="${graceIdentity}"]`);
    await row.locator('[data-action="mute"]').click();
    await grace.getByRole('button', { name: 'Unmute microphone' }).waitFor({ timeout: 5_000 });
    await grace.locator('.toast', { hasText: 'A host turned off your microphone' }).waitFor({ timeout: 5_000 });
    const tile = `.tile[data-source="camera"][data-identity="${graceIdentity}"] .mic-state`;
    await linus.locator(tile).waitFor({ state: 'visible', timeout: 5_000 });

    await grace.getByRole('button', { name: 'Unmute microphone' }).click();
    await grace.locator('.toast', { hasText: 'once the host allows it' }).waitFor({ timeout: 5_000 });
    assert.equal(await grace.getByRole('button', { name: 'Unmute microphone' }).count(), 1, 'still muted');
    assert.equal(await grace.locator('[data-action="mute"]').count(), 0, 'guests have no moderation buttons');

    // The host lets her speak again; she unmutes herself.
    await row.locator('[data-action="allow-mic"]').click();
    await grace.locator('.toast', { hasText: 'A host allows you to turn your microphone on again' }).waitFor({ timeout: 5_000 });
    await grace.getByRole('button', { name: 'Unmute microphone' }).click();
    await grace.getByRole('button', { name: 'Mute microphone' }).waitFor({ timeout: 5_000 });
    await linus.locator(tile).waitFor({ state: 'hidden', timeout: 5_000 });
  });

  test('the host stops a camera from the participant list', async () => {
    const linusIdentity = await linus.evaluate(() => /** @type {any} */ (window).moimRoom.localParticipant.identity);
    await ada.locator(`.person[data-identity="${linusIdentity}"] [data-action="stop-video"]`).click();
    await linus.getByRole('button', { name: 'Turn on camera' }).waitFor({ timeout: 5_000 });
    await linus.locator('.toast', { hasText: 'A host turned off your camera' }).waitFor({ timeout: 5_000 });
  });

  test('the only host who leaves is asked whether to end the meeting for everyone', async () => {
    await ada.getByRole('button', { name: 'Leave' }).click();
    const dialog = ada.locator('#leave-dialog');
    await dialog.getByText('You are the only host').waitFor({ timeout: 5_000 });
    await screenshots(ada, 'last-host-leaving');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await ada.locator('#connection-state[data-state="connected"]').waitFor();
  });

  test('the host removes a participant, who is not offered to rejoin', async () => {
    await ada.locator(`.person[data-identity="${graceIdentity}"] [data-action="remove"]`).click();
    await grace.getByText(/A host removed you from this meeting; you cannot join it again/).waitFor({ timeout: 5_000 });
    await ada.locator(`.person[data-identity="${graceIdentity}"]`).waitFor({ state: 'detached', timeout: 5_000 });
    assert.equal(await grace.getByRole('button', { name: 'Rejoin' }).count(), 0, 'no Rejoin for a ban');
    await grace.getByRole('link', { name: 'Back to home' }).waitFor();
    await screenshots(grace, 'removed-with-ban');
  });

  test('the host ends the meeting for everyone, and nobody is offered to rejoin it', async () => {
    await ada.locator('#end-meeting').click();
    await linus.getByText('A host ended the meeting for everyone.').waitFor({ timeout: 5_000 });
    assert.equal(await linus.getByRole('button', { name: 'Rejoin' }).count(), 0);
    await screenshots(linus, 'meeting-ended');
  });
});
