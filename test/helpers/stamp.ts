/**
 * Browser side of the burned-in clock (test/helpers/gst-rtsp-camera.py `--stamp`): every frame
 * carries its capture wall clock (Unix ms) as 48 black/white blocks, 16 per row, in a band at the
 * top: 44 bits of milliseconds, then a 4-bit checksum (sum of the eleven 4-bit groups, mod 16).
 *
 * `STAMP_PAGE_JS` defines `window.watchStamps(video, onStamp)`: on every requestVideoFrameCallback it
 * draws the band of the presented frame to a canvas, reads the blocks back and calls
 * `onStamp({ captured, displayed, g2g })`, where `displayed` is the frame's expected display time on
 * the same wall clock (performance.timeOrigin + metadata.expectedDisplayTime) — the camera and the
 * browser run on one machine, so glass-to-glass = displayed − captured with no clock offset.
 * Frames whose checksum fails (a block blurred by the encoder, a half-drawn frame) are counted in
 * `window.stampErrors` and skipped.
 *
 * A plain string, not a function's toString(): the TypeScript loader would inject helpers.
 */
export const STAMP_PAGE_JS = String.raw`
window.stampErrors = 0;
window.watchStamps = function (video, onStamp) {
  const COLS = 16, BITS = 48, ROWS = BITS / COLS;
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const onFrame = (_now, meta) => {
    const w = video.videoWidth, h = video.videoHeight;
    if (w && h) {
      // the camera's geometry (stamp_geometry in gst-rtsp-camera.py)
      const bw = Math.floor(w / COLS) & ~1, bh = Math.max(8, Math.floor(h / 5 / ROWS) & ~1);
      const bandW = COLS * bw, bandH = ROWS * bh;
      if (canvas.width !== bandW || canvas.height !== bandH) { canvas.width = bandW; canvas.height = bandH; }
      ctx.drawImage(video, 0, 0, bandW, bandH, 0, 0, bandW, bandH);
      const px = ctx.getImageData(0, 0, bandW, bandH).data;
      let hi = 0, lo = 0; // 48 bits do not fit a 32-bit int: two halves
      for (let i = 0; i < BITS; i++) {
        // mean luma of a 4x4 patch at the block centre: robust to a blurred edge
        const cx = (i % COLS) * bw + (bw >> 1), cy = Math.floor(i / COLS) * bh + (bh >> 1);
        let sum = 0;
        for (let dy = -2; dy < 2; dy++) for (let dx = -2; dx < 2; dx++) {
          const o = ((cy + dy) * bandW + (cx + dx)) * 4;
          sum += px[o] + px[o + 1] + px[o + 2];
        }
        const bit = sum / 48 > 128 ? 1 : 0;
        if (i < 24) hi = hi * 2 + bit; else lo = lo * 2 + bit;
      }
      const value = hi * 16777216 + lo; // exact: < 2^53
      const check = value % 16, ms = Math.floor(value / 16);
      let sum = 0;
      for (let k = 0, x = ms; k < 11; k++, x = Math.floor(x / 16)) sum += x % 16;
      const now = Date.now();
      // a valid stamp is within a minute of now (all-black or garbage frames have valid sums too)
      if (sum % 16 === check && Math.abs(now - ms) < 60000) {
        const displayed = performance.timeOrigin + meta.expectedDisplayTime;
        onStamp({ captured: ms, displayed, g2g: displayed - ms });
      } else window.stampErrors++;
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
};
`;
