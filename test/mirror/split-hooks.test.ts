/**
 * Layer: unit, with real processes. The quiesce hooks around a split (split-hooks.ts): a hook is
 * `/bin/sh -c CMD` with the SNAPTAPE_* variables; a failure (status, signal, timeout) is a
 * HookError that carries the tail of its output; `splitBetweenHooks` never splits after a failed
 * pre-split hook and always runs the post-split hook once the pre-split one succeeded.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HookError } from '../../src/errors/snaptape-error.js';
import { HOOK_OUTPUT_SHOWN, runSplitHook, splitBetweenHooks } from '../../src/techniques/mirror/split-hooks.js';
import { makeTempDir } from '../harness/temp-dir.js';

const context = { volume: 'sec', mirror: 'M3', side: 'secondary' as const };

describe('split hooks', () => {
  it('runs the command through the shell with the volume, mirror, side and phase in its environment', async () => {
    const result = await runSplitHook('pre-split', 'echo "$SNAPTAPE_HOOK $SNAPTAPE_VOLUME $SNAPTAPE_MIRROR $SNAPTAPE_SIDE" | tr a-z A-Z', context);
    expect(result.output).toBe('PRE-SPLIT SEC M3 SECONDARY\n');
    expect(result.phase).toBe('pre-split');
  });

  it('fails with its exit status and the tail of its output', async () => {
    const failure = await runSplitHook(
      'pre-split',
      `exec 1>&2; echo starting; head -c ${HOOK_OUTPUT_SHOWN * 3} /dev/zero | tr '\\0' x; echo; echo "lock wait timeout" >&2; exit 4`,
      context,
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HookError);
    const message = (failure as HookError).message;
    expect(message).toMatch(/^Cannot run the pre-split hook of sec M3 \(.*\): it exited with status 4; its output: …x+\nlock wait timeout$/s);
    expect(message.slice(message.indexOf('its output: '))).not.toContain('starting');
    expect((failure as HookError).details['status']).toBe(4);
  });

  it('kills a hook that outlives its timeout, with its children', async () => {
    const started = Date.now();
    const failure = await runSplitHook('post-split', 'echo waiting; sleep 30 & wait', { ...context, timeoutMs: 300 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HookError);
    expect((failure as HookError).message).toMatch(/did not end within 300 ms and was killed; its output: waiting/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('refuses an empty command', async () => {
    await expect(runSplitHook('pre-split', '  ', context)).rejects.toThrow(/the command is empty/);
  });

  it('never splits after a failed pre-split hook; runs post-split after a failed split, which is the error thrown', async () => {
    const dir = makeTempDir('snaptape-split-hooks-');
    try {
      const log = join(dir.path, 'log');
      let splits = 0;
      const split = (): Promise<string> => {
        splits += 1;
        return Promise.resolve('split');
      };
      await expect(splitBetweenHooks({ preSplit: 'exit 1', postSplit: `echo post >> ${log}` }, context, split)).rejects.toBeInstanceOf(HookError);
      expect(splits).toBe(0);

      const failing = (): Promise<string> => Promise.reject(new Error('the server refused the split'));
      await expect(splitBetweenHooks({ preSplit: `echo pre >> ${log}`, postSplit: `echo post >> ${log}` }, context, failing)).rejects.toThrow(
        'the server refused the split',
      );
      expect(readFileSync(log, 'utf8')).toBe('pre\npost\n');

      const done = await splitBetweenHooks({ preSplit: 'true', postSplit: 'echo unblocked' }, context, split);
      expect(done.result).toBe('split');
      expect(splits).toBe(1);
      expect(done.hooks.map((h) => [h.phase, h.output])).toEqual([
        ['pre-split', ''],
        ['post-split', 'unblocked\n'],
      ]);
    } finally {
      dir.cleanup();
    }
  });
});
