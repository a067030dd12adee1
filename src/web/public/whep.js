// WHEP client (RFC 9725): one recvonly RTCPeerConnection per viewer, the offer POSTed as
// application/sdp, the answer in the 201 response, the session resource at its Location.

export class WhepError extends Error {
  /** @param {number} status HTTP status (0: network error) */
  constructor(message, status) {
    super(message);
    this.name = 'WhepError';
    this.status = status;
  }
}

/** With STUN/TURN servers: longest wait for candidates before sending the offer with what we have. */
const GATHER_TIMEOUT_MS = 1000;
/** After the first candidate, how long to collect its siblings. */
const GATHER_SETTLE_MS = 50;

/**
 * When to send the offer. Without ICE servers (a LAN, the usual wall): at once, with no candidates.
 * The browser is the controlling agent and checks the server's candidates from the answer; the
 * server learns the browser's address from those checks as a peer-reflexive candidate (RFC 8445
 * §7.3.1.3). Waiting for gathering costs 100–500 ms per tile when a wall opens 16 connections at
 * once. With STUN/TURN servers the srflx/relay candidates matter, so wait for the first ones (at
 * most GATHER_TIMEOUT_MS). Candidates found later are sent with a PATCH (trickle, RFC 8840).
 */
function gathered(pc, wait) {
  if (!wait || pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    let settle = null;
    const done = () => {
      clearTimeout(timer);
      clearTimeout(settle);
      pc.removeEventListener('icegatheringstatechange', onState);
      pc.removeEventListener('icecandidate', onCandidate);
      resolve();
    };
    const onState = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const onCandidate = (e) => {
      if (!e.candidate) return done();
      settle ??= setTimeout(done, GATHER_SETTLE_MS);
    };
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', onState);
    pc.addEventListener('icecandidate', onCandidate);
  });
}

/** An `a=` attribute's value in an SDP (first occurrence), or null. */
function sdpAttr(sdp, name) {
  const m = new RegExp(`^a=${name}:(.*)$`, 'm').exec(sdp);
  return m ? m[1].trim() : null;
}

/**
 * Sends the candidates the offer did not carry to the session resource in one
 * application/trickle-ice-sdpfrag PATCH (RFC 8840, RFC 9725 §4.3) when gathering completes (or after
 * GATHER_TIMEOUT_MS). Best effort: if the server refuses it, ICE still works through the
 * peer-reflexive candidates.
 *
 * `lazy` (no ICE servers, i.e. a LAN): the browser's own checks already give the server its address
 * as a peer-reflexive candidate, so the PATCH is sent only if ICE has not connected after
 * GATHER_TIMEOUT_MS. A wall opening 16 sessions otherwise queued 16 PATCHes behind the 16 POSTs on
 * Chromium's 6 HTTP/1.1 connections, delaying the later tiles' answers.
 * @param {RTCIceCandidate[]} early candidates gathered while the POST was in flight
 */
function trickle(pc, offerSdp, early, location, headers, etag, lazy) {
  const sentInOffer = new Set(offerSdp.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:')).map((l) => l.slice(2)));
  const late = [...early];
  let sent = false;
  const send = () => {
    if (sent) return;
    sent = true;
    clearTimeout(timer);
    pc.removeEventListener('icecandidate', onCandidate);
    if (lazy && (pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed')) return;
    const fresh = late.filter((c) => !sentInOffer.has(c.candidate));
    if (!fresh.length || pc.signalingState === 'closed') return;
    // BUNDLE: all candidates belong to the first m-section.
    const lines = [
      `a=ice-ufrag:${sdpAttr(offerSdp, 'ice-ufrag')}`,
      `a=ice-pwd:${sdpAttr(offerSdp, 'ice-pwd')}`,
      'm=video 9 UDP/TLS/RTP/SAVPF 0',
      `a=mid:${fresh[0].sdpMid ?? '0'}`,
      ...fresh.map((c) => `a=${c.candidate}`),
      'a=end-of-candidates',
    ];
    const h = { ...headers, 'Content-Type': 'application/trickle-ice-sdpfrag' };
    if (etag) h['If-Match'] = etag;
    fetch(location, { method: 'PATCH', headers: h, body: `${lines.join('\r\n')}\r\n` }).catch(() => undefined);
  };
  const onCandidate = (e) => {
    if (!e.candidate) {
      if (!lazy) send();
    } else if (e.candidate.candidate) late.push(e.candidate);
  };
  const timer = setTimeout(send, GATHER_TIMEOUT_MS);
  pc.addEventListener('icecandidate', onCandidate);
  if (!lazy && pc.iceGatheringState === 'complete') send();
}

/**
 * Starts a WHEP session.
 * @param {object} o
 * @param {string} o.url the WHEP endpoint, e.g. `/whep/lobby/sub`
 * @param {string | null} o.authorization the Authorization header value, or null
 * @param {boolean} o.audio whether to receive audio too
 * @param {RTCIceServer[]} o.iceServers
 * @param {AbortSignal} [o.signal]
 * @param {() => void} [o.onOffer] called when the offer is sent (timing)
 * @param {number} [o.videos] video sections to offer (more than one: camgate's bundled session, `POST /whep?streams=…`)
 * @returns {Promise<{pc: RTCPeerConnection, stream: MediaStream, streams: MediaStream[], headers: Headers | null, location: string | null, close(): void}>}
 *   `streams[i]` holds what the i-th section receives; `stream` all of it.
 */
export async function whepConnect({ url, authorization, audio, iceServers, signal, onOffer, videos = 1 }) {
  const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
  const stream = new MediaStream();
  const streams = [];
  for (let i = 0; i < videos; i++) {
    pc.addTransceiver('video', { direction: 'recvonly' });
    streams.push(new MediaStream());
  }
  if (audio) pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addEventListener('track', (e) => {
    stream.addTrack(e.track);
    const i = pc.getTransceivers().indexOf(e.transceiver);
    if (i >= 0 && i < videos) streams[i].addTrack(e.track);
  });
  let location = null;
  const headers = authorization ? { Authorization: authorization } : {};
  const close = () => {
    pc.close();
    // Free the server's session at once instead of letting it time out (keepalive: also on unload).
    if (location) fetch(location, { method: 'DELETE', headers, keepalive: true }).catch(() => undefined);
    location = null;
  };
  // Candidates gathered before the answer arrives are trickled after it (the resource exists then).
  const early = [];
  const collect = (e) => {
    if (e.candidate?.candidate) early.push(e.candidate);
  };
  pc.addEventListener('icecandidate', collect);
  try {
    const waiting = gathered(pc, iceServers.length > 0);
    await pc.setLocalDescription(await pc.createOffer());
    await waiting;
    const offerSdp = pc.localDescription.sdp;
    onOffer?.();
    let res;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { ...headers, 'Content-Type': 'application/sdp' },
        body: offerSdp,
        signal,
      });
    } catch (e) {
      throw new WhepError(`WHEP request failed: ${e.message}`, 0);
    }
    if (res.status !== 201) {
      let detail = '';
      try {
        const text = (await res.text()).slice(0, 300);
        detail = JSON.parse(text).message ?? text;
      } catch {
        // Body not JSON (or none): the status says enough.
      }
      throw new WhepError(`WHEP ${res.status}${detail ? `: ${detail}` : ''}`, res.status);
    }
    const loc = res.headers.get('Location');
    if (loc) location = new URL(loc, new URL(url, window.location.href)).href;
    const answer = await res.text();
    if (!answer.startsWith('v=')) throw new WhepError('WHEP answer is not SDP', res.status);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    pc.removeEventListener('icecandidate', collect);
    if (location) trickle(pc, offerSdp, early, location, headers, res.headers.get('ETag'), iceServers.length === 0);
    return { pc, stream, streams, headers: res.headers, location, close };
  } catch (e) {
    pc.removeEventListener('icecandidate', collect);
    close();
    throw e;
  }
}
