// Someone behind a firewall that lets nothing through but the web server and one TLS port
// still meets: Chromium in a lab network (`lab.mjs`) whose firewall drops all UDP and every
// TCP port but those two gets a relayed address from Moim's own TURN server over TLS (the
// credentials came in `joined`), and sees and hears someone on an open network, who sees
// and hears them. One certificate serves both ports: the app and its signaling come over
// HTTPS and WSS from the server itself, with no proxy in front.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RESULTS_DIR, freeTcpPort, selfSignedCertificate, startServer } from './harness.mjs';
import { LAB_UNAVAILABLE, createLab, iceReport, meetAcrossTheLab, seeAndHearEachOther, selectedCandidates } from './lab.mjs';

/**
 * The TURN server's lines of the server's log.
 * @param {import('./harness.mjs').Server} server
 */
function turnLog(server) {
  return fs.readFileSync(server.logFile, 'utf8').split('\n').filter((l) => l.includes('TURN')).slice(-20).join(' | ');
}

describe('a participant whose firewall leaves only the web and TURN/TLS ports open', { skip: LAB_UNAVAILABLE ?? false }, () => {
  /** @type {import('./lab.mjs').Lab} */
  let lab;
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./lab.mjs').Meeting} */
  let meeting;

  before(async () => {
    lab = await createLab(3);
    const { cert, key } = selfSignedCertificate(path.join(RESULTS_DIR, 'turn-tls'), lab.hostAddress);
    const tlsPort = await freeTcpPort();
    server = await startServer('turn', {
      host: lab.hostAddress,
      env: {
        // The TURN server's handshakes and allocations, for a run that cannot connect.
        MOIM_LOG: 'info,str0m=warn,moim_turn=debug',
        MOIM_TLS_CERT: cert,
        MOIM_TLS_KEY: key,
        MOIM_TURN_TLS_ADDR: `${lab.hostAddress}:${tlsPort}`,
      },
    });
    const httpPort = new URL(server.url).port;
    await lab.iptables('-A', 'OUTPUT', '-o', 'lo', '-j', 'ACCEPT');
    await lab.iptables('-A', 'OUTPUT', '-p', 'tcp', '--dport', httpPort, '-j', 'ACCEPT');
    await lab.iptables('-A', 'OUTPUT', '-p', 'tcp', '--dport', String(tlsPort), '-j', 'ACCEPT');
    await lab.iptables('-A', 'OUTPUT', '-j', 'DROP');
    // The lab's certificate is self-signed; an operator's comes from a public CA.
    meeting = await meetAcrossTheLab(lab, server, 'turn', ['--ignore-certificate-errors']);
  });

  after(async () => {
    await meeting?.close();
    await server?.stop();
    await lab?.remove();
  });

  test('connects both ways through a relayed address reached over TLS', async () => {
    const candidates = await selectedCandidates(meeting.grace, (all) => all.every((c) => c.relayProtocol === 'tls'));
    const report = candidates.every((c) => c?.relayProtocol === 'tls')
      ? ''
      : `${await iceReport(meeting.grace)} TURN: ${turnLog(server)}`;
    for (const c of candidates) {
      assert.equal(c?.candidateType, 'relay', `${JSON.stringify(candidates)} ${report}`);
      assert.equal(c?.relayProtocol, 'tls', `${JSON.stringify(candidates)} ${report}`);
    }
  });

  test('gets the app over HTTPS and signals over WSS from the server itself', async () => {
    assert.match(server.url, /^https:/);
    assert.equal(await meeting.grace.evaluate(() => location.protocol), 'https:');
    assert.equal(await meeting.ada.evaluate(() => location.protocol), 'https:');
  });

  test('sees and hears the other, who sees and hears them', async () => {
    await seeAndHearEachOther(meeting);
  });
});
