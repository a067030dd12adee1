/**
 * MSB-first bit reader over a Buffer. Reads past the end never throw: they set `overrun` and return 0,
 * so a parser can read a whole structure and check `overrun` once (camera bytes are untrusted).
 */
export class BitReader {
  private pos = 0; // in bits
  overrun = false;

  constructor(
    private readonly buf: Buffer,
    startByte = 0,
  ) {
    this.pos = startByte * 8;
  }

  get bitPos(): number {
    return this.pos;
  }

  get bitsLeft(): number {
    return Math.max(0, this.buf.length * 8 - this.pos);
  }

  /** Reads up to 32 bits as an unsigned number. */
  read(n: number): number {
    if (n === 0) return 0;
    if (n < 0 || n > 32 || this.pos + n > this.buf.length * 8) {
      this.overrun = true;
      this.pos = this.buf.length * 8;
      return 0;
    }
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.buf[(this.pos >> 3)]!;
      v = v * 2 + ((byte >> (7 - (this.pos & 7))) & 1);
      this.pos++;
    }
    return v;
  }

  /** The next `n` bits without consuming them (0 if fewer remain). */
  peek(n: number): number {
    if (this.pos + n > this.buf.length * 8) return 0;
    const save = this.pos;
    const v = this.read(n);
    this.pos = save;
    return v;
  }

  skip(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length * 8) {
      this.overrun = true;
      this.pos = this.buf.length * 8;
      return;
    }
    this.pos += n;
  }

  alignToByte(): void {
    this.pos = (this.pos + 7) & ~7;
    if (this.pos > this.buf.length * 8) {
      this.overrun = true;
      this.pos = this.buf.length * 8;
    }
  }

  /** Copies `n` bytes starting at the current (possibly unaligned) bit position. */
  readBytes(n: number): Buffer | undefined {
    if (n < 0 || this.pos + n * 8 > this.buf.length * 8) {
      this.overrun = true;
      this.pos = this.buf.length * 8;
      return undefined;
    }
    if ((this.pos & 7) === 0) {
      const start = this.pos >> 3;
      this.pos += n * 8;
      return Buffer.from(this.buf.subarray(start, start + n));
    }
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.read(8);
    return out;
  }
}

/** MSB-first bit writer, used to serialise small structures (AudioSpecificConfig, ADTS headers). */
export class BitWriter {
  private readonly bytes: number[] = [];
  private cur = 0;
  private nbits = 0;

  write(value: number, n: number): void {
    for (let i = n - 1; i >= 0; i--) {
      this.cur = (this.cur << 1) | (Math.floor(value / 2 ** i) & 1);
      this.nbits++;
      if (this.nbits === 8) {
        this.bytes.push(this.cur);
        this.cur = 0;
        this.nbits = 0;
      }
    }
  }

  /** Pads with zero bits to a byte boundary and returns the bytes. */
  finish(): Buffer {
    if (this.nbits > 0) this.write(0, 8 - this.nbits);
    return Buffer.from(this.bytes);
  }
}
