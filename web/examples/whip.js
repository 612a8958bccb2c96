// WHIP publisher (RFC 9725): sends the camera and microphone on send-only transceivers.
// `?codec=H264` (or VP8, VP9, AV1) offers only that video codec, as hardware encoders and
// many streaming tools do.

import { runExamplePage } from './session.js';

const params = new URLSearchParams(location.search);
const room = params.get('room') ?? 'demo';
const codec = params.get('codec');

runExamplePage({
  defaultEndpoint: `/whip/${room}`,
  connectingText: 'Publishing; waiting for the connection…',
  async prepare(pc, video) {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    video.srcObject = stream;
    for (const track of stream.getTracks()) {
      const transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      if (codec && track.kind === 'video') {
        const wanted = `video/${codec}`.toLowerCase();
        const codecs = RTCRtpReceiver.getCapabilities('video')?.codecs ?? [];
        transceiver.setCodecPreferences(codecs.filter((c) => c.mimeType.toLowerCase() === wanted));
      }
    }
    return () => {
      for (const track of stream.getTracks()) track.stop();
    };
  },
});
