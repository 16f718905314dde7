/**
 * A small seeded PRNG (mulberry32) for deterministic test data, fills and randomised tests: the
 * same seed gives the same sequence on every machine, so a failure replays from its seed.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Integer in [0, bound). */
  below(bound: number): number {
    return Math.floor((this.nextUint32() / 0x1_0000_0000) * bound);
  }

  fill(buffer: Uint8Array): void {
    let i = 0;
    for (; i + 4 <= buffer.length; i += 4) {
      const v = this.nextUint32();
      buffer[i] = v & 0xff;
      buffer[i + 1] = (v >>> 8) & 0xff;
      buffer[i + 2] = (v >>> 16) & 0xff;
      buffer[i + 3] = v >>> 24;
    }
    for (; i < buffer.length; i++) buffer[i] = this.nextUint32() & 0xff;
  }
}
