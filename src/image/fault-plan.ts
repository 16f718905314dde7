/**
 * Fault plans: what an injected fault does, parsed from the `--inject` / `--inject-tape` spec, and
 * the `FaultInjector` that applies a plan to a stream of reads and writes (the image backend in
 * faulty-backend.ts, the tape writes of a backup session in tape-backup/tape-faults.ts).
 *
 * Spec syntax: rules separated by commas; counts N are 1-based and count every read (or write)
 * that goes through the injector; a unit U is a track or block number (on a tape target: the data
 * block number within its tape file, which is the track number for a whole-volume CKD backup).
 *
 *   read:N:EIO | write:N:ENOSPC      fail the Nth read / write with EIO or ENOSPC
 *   read:unit=U:EIO                  fail every read (write:unit=U:… every write) touching unit U
 *   latency:read:5ms                 add 5 ms to every read (latency:write:… every write)
 *   tear:write:N:K                   the Nth write writes only its first K bytes, then fails (EIO)
 *   crash:write:N                    SIGKILL the process just before the Nth write (crash:read:N)
 *
 * e.g. `write:3:EIO,latency:read:2ms`. The errors are the typed errors `translateIoError` gives for
 * that errno (IoError, NoSpaceError), with `details.injected = true`.
 *
 * Invariant: an injector counts an operation exactly once, whether it fails or not.
 */
import { translateIoError } from '../errors/io-error.js';
import { UsageError, type SnaptapeError } from '../errors/snaptape-error.js';

export type FaultOp = 'read' | 'write';
export type FaultErrno = 'EIO' | 'ENOSPC';

export type FaultRule =
  | { readonly kind: 'fail'; readonly op: FaultOp; readonly nth: number; readonly errno: FaultErrno }
  | { readonly kind: 'fail-unit'; readonly op: FaultOp; readonly unit: number; readonly errno: FaultErrno }
  | { readonly kind: 'latency'; readonly op: FaultOp; readonly ms: number }
  | { readonly kind: 'tear'; readonly op: 'write'; readonly nth: number; readonly bytes: number }
  | { readonly kind: 'crash'; readonly op: FaultOp; readonly nth: number };

export interface FaultPlan {
  readonly rules: readonly FaultRule[];
}

function parseOp(text: string | undefined, rule: string, option: string): FaultOp {
  if (text === 'read' || text === 'write') return text;
  throw new UsageError(`Cannot parse ${option} rule "${rule}": expected read or write, got "${text ?? ''}"`);
}

function parseErrno(text: string | undefined, rule: string, option: string): FaultErrno {
  if (text === 'EIO' || text === 'ENOSPC') return text;
  throw new UsageError(`Cannot parse ${option} rule "${rule}": expected EIO or ENOSPC, got "${text ?? ''}"`);
}

function parseWhole(text: string | undefined, rule: string, option: string, min: number): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < min) {
    throw new UsageError(`Cannot parse ${option} rule "${rule}": "${text ?? ''}" is not a whole number ≥ ${min}`);
  }
  return Number(text);
}

function parseRule(rule: string, option: string): FaultRule {
  const parts = rule.split(':');
  const [head, a, b, c] = parts;
  const expectParts = (n: number): void => {
    if (parts.length !== n) throw new UsageError(`Cannot parse ${option} rule "${rule}": expected ${n} fields separated by ":"`);
  };
  if (head === 'latency') {
    expectParts(3);
    const match = /^(\d+)ms$/.exec(b ?? '');
    if (!match) throw new UsageError(`Cannot parse ${option} rule "${rule}": expected a latency such as 5ms`);
    return { kind: 'latency', op: parseOp(a, rule, option), ms: Number(match[1]) };
  }
  if (head === 'tear') {
    expectParts(4);
    if (a !== 'write') throw new UsageError(`Cannot parse ${option} rule "${rule}": only writes can be torn`);
    return { kind: 'tear', op: 'write', nth: parseWhole(b, rule, option, 1), bytes: parseWhole(c, rule, option, 0) };
  }
  if (head === 'crash') {
    expectParts(3);
    return { kind: 'crash', op: parseOp(a, rule, option), nth: parseWhole(b, rule, option, 1) };
  }
  expectParts(3);
  const op = parseOp(head, rule, option);
  const errno = parseErrno(b, rule, option);
  const unit = /^unit=(.*)$/.exec(a ?? '');
  if (unit) return { kind: 'fail-unit', op, unit: parseWhole(unit[1], rule, option, 0), errno };
  return { kind: 'fail', op, nth: parseWhole(a, rule, option, 1), errno };
}

/** Parses a spec such as `write:3:EIO,latency:read:5ms`; `option` names the flag in errors. */
export function parseFaultPlan(spec: string, option = '--inject'): FaultPlan {
  const rules = spec
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  if (rules.length === 0) throw new UsageError(`Cannot parse ${option} "${spec}": no rules`);
  return { rules: rules.map((r) => parseRule(r, option)) };
}

/** Blocks this thread for `ms` milliseconds (backends are synchronous, so latency must be too). */
export function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Applies one plan to the operations of one target; `path` names the target in error messages. */
export class FaultInjector {
  readonly plan: FaultPlan;
  readonly path: string;
  // Main thread only.
  private counts: Record<FaultOp, number> = { read: 0, write: 0 };
  /** Faults raised so far (errors and tears; not latency). */
  injected = 0;

  constructor(plan: FaultPlan, path: string) {
    this.plan = plan;
    this.path = path;
  }

  get reads(): number {
    return this.counts.read;
  }

  get writes(): number {
    return this.counts.write;
  }

  private error(op: FaultOp, errno: FaultErrno, firstUnit: number): SnaptapeError {
    this.injected++;
    const cause = { code: errno, message: `${errno} (injected fault)` };
    const error = translateIoError(cause, `${op} unit ${firstUnit}`, this.path);
    Object.assign(error, { details: { ...error.details, unit: firstUnit, injected: true } });
    return error;
  }

  /**
   * Counts one operation on units firstUnit..firstUnit+unitCount-1 and applies latency, crash and
   * error rules. Returns the bytes a torn write may write, or undefined to do the whole operation.
   */
  private before(op: FaultOp, firstUnit: number, unitCount: number): number | undefined {
    const n = ++this.counts[op];
    let tear: number | undefined;
    for (const rule of this.plan.rules) {
      if (rule.op !== op) continue;
      if (rule.kind === 'latency') sleepSync(rule.ms);
      else if (rule.kind === 'crash' && rule.nth === n) process.kill(process.pid, 'SIGKILL');
      else if (rule.kind === 'fail' && rule.nth === n) throw this.error(op, rule.errno, firstUnit);
      else if (rule.kind === 'fail-unit' && rule.unit >= firstUnit && rule.unit < firstUnit + unitCount) throw this.error(op, rule.errno, firstUnit);
      else if (rule.kind === 'tear' && rule.nth === n) tear = rule.bytes;
    }
    return tear;
  }

  /** Runs a read of `unitCount` units from `firstUnit` through the plan. */
  read<T>(firstUnit: number, unitCount: number, read: () => T): T {
    this.before('read', firstUnit, unitCount);
    return read();
  }

  /**
   * Runs a write of `lengthBytes` bytes to `unit` through the plan: `write(k)` must write the first
   * k bytes. A torn write writes its first K bytes and then throws EIO.
   */
  write(unit: number, lengthBytes: number, write: (bytes: number) => void): void {
    const tear = this.before('write', unit, 1);
    if (tear === undefined) return write(lengthBytes);
    write(Math.min(tear, lengthBytes));
    throw this.error('write', 'EIO', unit);
  }

  /** `write` for a write that lands off this thread: the plan is applied here, the bytes land later. */
  async writeAsync(unit: number, lengthBytes: number, write: (bytes: number) => Promise<void>): Promise<void> {
    const tear = this.before('write', unit, 1);
    if (tear === undefined) return write(lengthBytes);
    await write(Math.min(tear, lengthBytes));
    throw this.error('write', 'EIO', unit);
  }
}
