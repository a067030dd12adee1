/**
 * A tolerant MSB-first bit reader for RBSP data (ITU-T H.264 / H.265 syntax: u(n), ue(v), se(v)).
 *
 * Reading past the end never throws and never indexes out of range: it returns zero bits and sets
 * `overrun`. Callers check `overrun` once after reading the fields they need, which is what lets us
 * accept parameter sets with stray trailing bytes or a truncated, unused tail (Reolink, QUIRKS Q35).
 */
export class BitReader {
  private readonly buf: Uint8Array;
  private pos = 0; // in bits
  /** Set once any read went past the end of the data. */
  overrun = false;

  constructor(buf: Uint8Array, startByte = 0) {
    this.buf = buf;
    this.pos = startByte * 8;
  }

  get bitsLeft(): number {
    return Math.max(0, this.buf.length * 8 - this.pos);
  }

  /** One bit. */
  bit(): number {
    if (this.pos >= this.buf.length * 8) {
      this.overrun = true;
      return 0;
    }
    const b = (this.buf[this.pos >> 3] >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return b;
  }

  flag(): boolean {
    return this.bit() === 1;
  }

  /** u(n), n <= 32. */
  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  skip(n: number): void {
    if (n > this.bitsLeft) {
      this.pos = this.buf.length * 8;
      this.overrun = true;
      return;
    }
    this.pos += n;
  }

  /**
   * ue(v). Values need at most 32 leading zeros in conforming streams; more means garbage, so we stop
   * and flag an overrun rather than building an absurd number.
   */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (this.overrun || zeros >= 32) {
        this.overrun = true;
        return 0;
      }
      zeros++;
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }

  /** se(v). */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

/**
 * Removes emulation prevention bytes (the 0x03 in 00 00 03) to turn a NAL unit payload into its RBSP
 * (H.264 7.4.1 / H.265 7.4.2).
 */
export function unescapeRbsp(nal: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(nal.length);
  let o = 0;
  let zeros = 0;
  for (let i = 0; i < nal.length; i++) {
    const b = nal[i];
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, o);
}
