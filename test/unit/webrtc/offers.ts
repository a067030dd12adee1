/** Chrome-shaped WHEP offers for tests that need no browser (the fingerprint is never verified: no ICE peer). */
export function chromeOffer(o: { video?: string[]; audio?: string[]; ufrag?: string; bundle?: boolean; /** video sections (a bundled wall offer) */ videos?: number } = {}): string {
  const video = o.video ?? ['H264-42e01f-1', 'H264-42e01f-0', 'H264-640c1f-1', 'VP8'];
  const audio = o.audio ?? ['opus', 'PCMU', 'PCMA'];
  const vpts: number[] = [];
  const vlines: string[] = [];
  let pt = 96;
  for (const v of video) {
    const p = pt++;
    vpts.push(p);
    if (v === 'VP8') vlines.push(`a=rtpmap:${p} VP8/90000`);
    else if (v.startsWith('H265')) vlines.push(`a=rtpmap:${p} H265/90000`, `a=fmtp:${p} level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST`);
    else {
      const [, pli, mode] = v.split('-');
      vlines.push(`a=rtpmap:${p} H264/90000`, `a=fmtp:${p} level-asymmetry-allowed=1;packetization-mode=${mode};profile-level-id=${pli}`);
    }
    vlines.push(`a=rtcp-fb:${p} nack`, `a=rtcp-fb:${p} nack pli`, `a=rtcp-fb:${p} ccm fir`);
  }
  const apts: number[] = [];
  const alines: string[] = [];
  for (const a of audio) {
    if (a === 'opus') {
      apts.push(111);
      alines.push('a=rtpmap:111 opus/48000/2', 'a=fmtp:111 minptime=10;useinbandfec=1');
    } else if (a === 'PCMU') {
      apts.push(0);
      alines.push('a=rtpmap:0 PCMU/8000');
    } else if (a === 'PCMA') {
      apts.push(8);
      alines.push('a=rtpmap:8 PCMA/8000');
    }
  }
  const ufrag = o.ufrag ?? 'abcd';
  const common = [
    'c=IN IP4 0.0.0.0',
    'a=rtcp:9 IN IP4 0.0.0.0',
    `a=ice-ufrag:${ufrag}`,
    'a=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa',
    'a=ice-options:trickle',
    'a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3B:4A:AD:B9:B1:3F:82:18:3B:54:02:12',
    'a=setup:actpass',
  ];
  const videos = o.videos ?? 1;
  const mids = Array.from({ length: videos + (audio.length ? 1 : 0) }, (_, i) => String(i));
  const lines = ['v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', `a=group:BUNDLE ${mids.join(' ')}`, 'a=msid-semantic: WMS'];
  for (let i = 0; i < videos; i++) lines.push(`m=video 9 UDP/TLS/RTP/SAVPF ${vpts.join(' ')}`, ...common, `a=mid:${i}`, 'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid', 'a=recvonly', 'a=rtcp-mux', 'a=rtcp-rsize', ...vlines);
  if (audio.length) lines.push(`m=audio 9 UDP/TLS/RTP/SAVPF ${apts.join(' ')}`, ...common, `a=mid:${videos}`, 'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid', 'a=recvonly', 'a=rtcp-mux', ...alines);
  return lines.join('\r\n') + '\r\n';
}
