/**
 * Layer: scenario, with real processes. The write lock is exclusive even when many processes find
 * the same stale lock at once: each round leaves a lock of a dead process, then twelve child
 * processes try to take it over at the same instant. A holder keeps its lock until every child has
 * answered, so two holders in a round are two processes that believed they owned the image at the
 * same time. Also: `release()` never deletes a lock that is not its own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordReliability } from '../harness/crash-child.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { lockImage, processStartTime } from '../../src/image/image-lock.js';

const IMAGE_LOCK_URL = pathToFileURL(fileURLToPath(new URL('../../dist/image/image-lock.js', import.meta.url))).href;
const PROCESSES = 12;
const ROUNDS = 50;

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.cleanup());

/** One child process that answers `go ROUND` with `held ROUND`/`locked ROUND` and `release` with `released`. */
interface Contender {
  readonly child: ChildProcess;
  next(): Promise<string>;
  send(line: string): void;
}

function startContender(script: string, image: string): Contender {
  const child = spawn(process.execPath, [script, image], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  return {
    child,
    next: () =>
      new Promise((resolve) => {
        const line = lines.shift();
        if (line !== undefined) resolve(line);
        else waiting.push(resolve);
      }),
    send: (line) => {
      child.stdin?.write(`${line}\n`);
    },
  };
}

/** A pid that no process has now: one that has just exited. */
function deadPid(): number {
  const pid = spawnSync('true').pid;
  if (pid === undefined) throw new Error('cannot start `true`');
  return pid;
}

describe('the write lock under contention', () => {
  it(`${ROUNDS} rounds of ${PROCESSES} processes taking over one stale lock: exactly one holder each round`, async () => {
    const image = join(dir.path, 'raced.ckd');
    writeFileSync(image, '');
    const script = join(dir.path, 'contender.mjs');
    writeFileSync(
      script,
      [
        `const { lockImage } = await import(${JSON.stringify(IMAGE_LOCK_URL)});`,
        "const { createInterface } = await import('node:readline');",
        'let lock;',
        "createInterface({ input: process.stdin }).on('line', (line) => {",
        "  const [command, round] = line.split(' ');",
        "  if (command === 'go') {",
        '    try { lock = lockImage(process.argv[2]); process.stdout.write(`held ${round}\\n`); }',
        "    catch (error) { process.stdout.write(error.code === 'LOCKED' ? `locked ${round}\\n` : `error ${round} ${error.message}\\n`); }",
        "  } else if (command === 'release') {",
        '    lock?.release(); lock = undefined; process.stdout.write(`released ${round}\\n`);',
        '  }',
        '});',
        "process.stdout.write('ready\\n');",
      ].join('\n'),
    );
    const contenders = Array.from({ length: PROCESSES }, () => startContender(script, image));
    try {
      for (const c of contenders) expect(await c.next()).toBe('ready');
      const pid = deadPid();
      const holdersByRound: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // What a holder killed with SIGKILL leaves: a whole lock naming a process that is gone.
        writeFileSync(`${image}.lock`, `${pid}\n${hostname()}\n424242\n`);
        for (const c of contenders) c.send(`go ${round}`);
        const answers = await Promise.all(contenders.map((c) => c.next()));
        for (const a of answers) expect(a, 'every contender either holds the lock or is refused with LOCKED').toMatch(/^(held|locked) /);
        const holders = contenders.filter((_, i) => answers[i]?.startsWith('held'));
        holdersByRound.push(holders.length);
        for (const h of holders) h.send(`release ${round}`);
        for (const h of holders) expect(await h.next()).toBe(`released ${round}`);
        expect(existsSync(`${image}.lock`), `round ${round}: the holder released its lock`).toBe(false);
      }
      recordReliability({
        kind: 'lock-race',
        rounds: holdersByRound.length,
        processes: PROCESSES,
        roundsWithOneHolder: holdersByRound.filter((h) => h === 1).length,
        mostHolders: holdersByRound.reduce((m, h) => Math.max(m, h), 0),
      });
      expect(holdersByRound, 'holders in each round').toEqual(Array.from({ length: ROUNDS }, () => 1));
    } finally {
      for (const c of contenders) c.child.kill('SIGKILL');
    }
  }, 120_000);

  it('release() leaves a lock that is not its own', () => {
    const image = join(dir.path, 'released.ckd');
    writeFileSync(image, '');
    const lock = lockImage(image);
    // Another process's live lock now stands where ours was (ours was removed behind our back).
    const other = spawn('sleep', ['30']);
    try {
      const otherPid = other.pid as number;
      const otherLock = `${otherPid}\n${hostname()}\n${processStartTime(otherPid)}\n`;
      unlinkSync(lock.lockPath);
      writeFileSync(lock.lockPath, otherLock);
      lock.release();
      expect(readFileSync(lock.lockPath, 'utf8'), 'the other process still holds its lock').toBe(otherLock);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('release() removes its own lock', () => {
    const image = join(dir.path, 'own.ckd');
    writeFileSync(image, '');
    const lock = lockImage(image);
    expect(readFileSync(lock.lockPath, 'utf8').split('\n')[0]).toBe(String(process.pid));
    lock.release();
    expect(existsSync(lock.lockPath)).toBe(false);
  });
});
