/**
 * Programmer-error checks. A failed assertion is a bug in snaptape, never a user's bad input
 * (that is a typed SnaptapeError), so it throws a plain AssertionError and the CLI treats it as a crash.
 */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function assertInteger(value: number, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new AssertionError(`${name} = ${value} is not an integer in [${min}, ${max}]`);
  }
}

export function unreachable(value: never, what: string): never {
  throw new AssertionError(`unreachable ${what}: ${String(value)}`);
}
