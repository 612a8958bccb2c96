// WHIP publisher (RFC 9725): sends the camera and microphone on send-only transceivers.

import { runExamplePage } from './session.js';

const room = new URLSearchParams(location.search).get('room') ?? 'demo';

runExamplePage({
  defaultEndpoint: `/whip/${room}`,
  connectingText: 'Publishing; waiting for the connection…',
  async prepare(pc, video) {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    video.srcObject = stream;
    for (const track of stream.getTracks()) {
      pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    }
    return () => {
      for (const track of stream.getTracks()) track.stop();
    };
  },
});
