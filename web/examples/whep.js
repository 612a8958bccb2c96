// WHEP player: receive-only audio and video transceivers, played in the page's video element.

import { runExamplePage } from './session.js';

const params = new URLSearchParams(location.search);
const room = params.get('room') ?? 'demo';
const identity = params.get('identity');

runExamplePage({
  defaultEndpoint: identity ? `/whep/${room}/${encodeURIComponent(identity)}` : `/whep/${room}`,
  connectingText: 'Waiting for media…',
  async prepare(pc, video) {
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
    const stream = new MediaStream();
    video.srcObject = stream;
    pc.addEventListener('track', (ev) => {
      stream.addTrack(ev.track);
      video.play().catch(() => {});
    });
    return () => {};
  },
});
