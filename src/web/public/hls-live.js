// hls.js settings and a latency keeper for watching a live camera over LL-HLS at the edge.
// Used by the wall's player (player.js) and measured by `npm run bench:hls` (which loads this file).

/**
 * hls.js options for a live camera.
 * - No liveSyncDuration/liveSyncDurationCount: either makes hls.js ignore the playlist's
 *   PART-HOLD-BACK and aim at N × TARGETDURATION instead (2 s behind with a 2 s GOP).
 * - maxLiveSyncPlaybackRate stays 1: hls.js's own catch-up only acts while more than 1 s is buffered
 *   ahead and resets the rate to 1 otherwise, which would fight keepLive() below.
 */
export const HLS_LIVE_CONFIG = {
  lowLatencyMode: true,
  maxLiveSyncPlaybackRate: 1,
  // Live: keep little behind the playhead and little ahead of it.
  backBufferLength: 4,
  maxBufferLength: 4,
};

/** Playing further than this beyond the target latency: jump (within the buffer) instead of speeding up. */
const JUMP_S = 1.5;
/** Within this of the target: normal speed (hysteresis against rate flapping). */
const SLACK_S = 0.1;
/** Never speed up or jump so far that less than this stays buffered ahead (a stall costs more). */
const MIN_AHEAD_S = 0.3;
const TICK_MS = 250;
/** During the first seconds of playback any lag beyond SLACK_S is jumped over, not played fast. */
const START_PHASE_MS = 3000;

/**
 * Holds playback at hls.js's target latency (PART-HOLD-BACK of the playlist: the closest a client may
 * play to the live edge, RFC 8216bis §4.4.3.8). hls.js can only start at an independent part, up to
 * one GOP before that point, and by the time the first frame shows the edge has moved on; its own
 * catch-up stops once ≤ 1 s is buffered ahead, so it settles well behind the target. Here: at the
 * start, or when far behind later, jump forward inside the buffered range (the decoder already has
 * the keyframe); a little behind, play 1.1–1.5× until within SLACK_S.
 * Returns a function that stops it.
 */
export function keepLive(hls, video) {
  let playingSince = 0;
  const tick = () => {
    const target = hls.targetLatency;
    // hls.latency is refreshed on timeupdate only; compute it now from the playlist's edge and age
    // (what hls.js does), so a 'playing' right after hls.js's own start seek sees the new position.
    const d = hls.latestLevelDetails;
    const latency = d ? d.edge + d.age - video.currentTime : hls.latency;
    if (!target || !latency || video.paused || video.seeking || video.readyState < 3) return;
    const b = video.buffered;
    const last = b.length - 1;
    if (last < 0 || b.start(last) > video.currentTime) return;
    playingSince ||= performance.now();
    const over = latency - target;
    // What would stay buffered ahead at the target position. Too little (hls.js is still fetching
    // the parts up to the edge): neither jump nor speed up, that would only run into a stall.
    const spare = b.end(last) - video.currentTime - over;
    let rate = 1;
    if (spare > MIN_AHEAD_S) {
      // Right after the start the first frames come from the keyframe hls.js had to start at: jump.
      const jumpAbove = performance.now() - playingSince < START_PHASE_MS ? SLACK_S : JUMP_S;
      if (over > jumpAbove) {
        video.currentTime += over;
        return;
      }
      if (over > SLACK_S) rate = Math.min(1.5, 1 + over);
    }
    if (video.playbackRate !== rate) video.playbackRate = rate;
  };
  const timer = setInterval(tick, TICK_MS);
  // Correct the start position as soon as playback starts, not up to a tick later.
  video.addEventListener('playing', tick);
  return () => {
    clearInterval(timer);
    video.removeEventListener('playing', tick);
  };
}
