/**
 * The fault plan parser and the fault-injecting backend do what their spec says: the Nth read or
 * write fails with the typed error of its errno, a unit rule fails every operation on that unit,
 * latency delays, a tear writes the first K bytes and fails, a crash point kills the process.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { FaultInjector, parseFaultPlan } from '../../src/image/fault-plan.js';
import { FaultyBackend } from '../../src/image/faulty-backend.js';
import type { ImageBackend } from '../../src/image/image-backend.js';
import { openImage } from '../../src/image/open-image.js';
import { IoError, NoSpaceError, UsageError } from '../../src/errors/snaptape-error.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let inner: ImageBackend;

beforeEach(() => {
  dir = makeTempDir();
  const path = join(dir.path, 'vol.ckd');
  createVolume(path, { type: '3390', cylinders: 1, volser: 'FLT001' }).close();
  inner = openImage(path);
});
afterEach(() => {
  inner.close();
  dir.cleanup();
});

const ones = (n: number): Buffer => Buffer.alloc(n, 0x5a);

describe('parseFaultPlan', () => {
  it('parses every rule kind', () => {
    const plan = parseFaultPlan('write:3:EIO, read:unit=42:ENOSPC,latency:write:5ms,tear:write:2:100,crash:write:10');
    expect(plan.rules).toEqual([
      { kind: 'fail', op: 'write', nth: 3, errno: 'EIO' },
      { kind: 'fail-unit', op: 'read', unit: 42, errno: 'ENOSPC' },
      { kind: 'latency', op: 'write', ms: 5 },
      { kind: 'tear', op: 'write', nth: 2, bytes: 100 },
      { kind: 'crash', op: 'write', nth: 10 },
    ]);
  });

  it.each(['', 'write:0:EIO', 'write:3:EPERM', 'seek:1:EIO', 'latency:read:5', 'tear:read:1:10', 'read:unit=x:EIO', 'write:3'])(
    'rejects "%s" with a usage error naming the option',
    (spec) => {
      expect(() => parseFaultPlan(spec, '--inject-tape')).toThrow(UsageError);
      expect(() => parseFaultPlan(spec, '--inject-tape')).toThrow(/--inject-tape/);
    },
  );
});

describe('FaultyBackend', () => {
  it('fails exactly the Nth write with EIO (an IoError) and lets the others through', () => {
    const backend = new FaultyBackend(inner, parseFaultPlan('write:3:EIO'));
    backend.writeUnit(1, ones(10));
    backend.writeUnit(2, ones(10));
    let caught: unknown;
    try {
      backend.writeUnit(3, ones(10));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(IoError);
    expect((caught as IoError).details).toMatchObject({ errno: 'EIO', unit: 3, injected: true });
    expect((caught as IoError).message).toMatch(/^Cannot write unit 3: .*vol\.ckd: EIO/);
    expect(backend.readUnit(3, 10).equals(ones(10))).toBe(false);
    backend.writeUnit(4, ones(10));
    expect(backend.readUnit(4, 10).equals(ones(10))).toBe(true);
    expect(backend.injector.writes).toBe(4);
    expect(backend.injector.injected).toBe(1);
  });

  it('fails the Nth read with ENOSPC as a NoSpaceError', () => {
    const backend = new FaultyBackend(inner, parseFaultPlan('read:2:ENOSPC'));
    backend.readUnit(0, 10);
    expect(() => backend.readUnits(0, 2)).toThrow(NoSpaceError);
    backend.readUnit(0, 10);
  });

  it('fails every read touching unit U, single or multi-unit, and no other', () => {
    const backend = new FaultyBackend(inner, parseFaultPlan('read:unit=5:EIO'));
    expect(() => backend.readUnit(5, 10)).toThrow(IoError);
    expect(() => backend.readUnit(5, 10)).toThrow(IoError);
    expect(() => backend.readUnits(4, 3)).toThrow(IoError);
    expect(backend.readUnit(6, 10)).toHaveLength(10);
    expect(backend.readUnits(0, 5)).toHaveLength(5 * backend.slotBytes);
    backend.writeUnit(5, ones(10));
  });

  it('adds latency to writes only when asked for writes', () => {
    const backend = new FaultyBackend(inner, parseFaultPlan('latency:write:30ms'));
    let t = performance.now();
    backend.readUnit(0, 10);
    expect(performance.now() - t).toBeLessThan(25);
    t = performance.now();
    backend.writeUnit(1, ones(10));
    expect(performance.now() - t).toBeGreaterThanOrEqual(29);
  });

  it('tears a write: the first K bytes land, the rest keep the old bytes, and the write fails', () => {
    const backend = new FaultyBackend(inner, parseFaultPlan('tear:write:1:100'));
    const before = backend.readUnit(2, 300);
    expect(() => backend.writeUnit(2, ones(300), 0)).toThrow(IoError);
    const after = backend.readUnit(2, 300);
    expect(after.subarray(0, 100).equals(ones(100))).toBe(true);
    expect(after.subarray(100).equals(before.subarray(100))).toBe(true);
  });

  it('sends workers to the main thread only when reads are faulted', () => {
    expect(new FaultyBackend(inner, parseFaultPlan('write:1:EIO')).location().kind).toBe('file');
    expect(new FaultyBackend(inner, parseFaultPlan('latency:read:0ms')).location().kind).toBe('main-thread');
  });

  it('kills the process at the crash point (crash:write:2), before that write', () => {
    const module = pathToFileURL(join(process.cwd(), 'dist/image/fault-plan.js')).href;
    const script = `
      const { FaultInjector, parseFaultPlan } = await import(${JSON.stringify(module)});
      const injector = new FaultInjector(parseFaultPlan('crash:write:2'), 'x');
      injector.write(0, 1, () => process.stdout.write('first\\n'));
      injector.write(0, 1, () => process.stdout.write('second\\n'));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.signal).toBe('SIGKILL');
    expect(child.stdout).toBe('first\n');
    expect(FaultInjector).toBeTypeOf('function');
  });
});
