/**
 * Layers: unit, layout and property tests of the mirror technique's pieces.
 * - the link-state table: every transition the table allows, and refusals as SessionErrors;
 * - the .mirror layouts equal native-layout JSON tables, and the page lists every field
 *   (regenerate the JSON with SNAPTAPE_WRITE_LAYOUTS=1);
 * - the track-status table against a shadow model of Sets (seeded; SNAPTAPE_SEED replays);
 * - the state file round-trips, its CLEAN flag included.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { layoutToJson } from '../../src/base/field-table.js';
import { SessionError } from '../../src/errors/snaptape-error.js';
import { LINK_STATES, LINK_TRANSITIONS, LIVE_STATES, linkTransition, type LinkEvent } from '../../src/techniques/mirror/mirror-link-state.js';
import { MirrorStateFile } from '../../src/techniques/mirror/mirror-state-file.js';
import { MIRROR_BITMAP_OFFSET, MIRROR_DESCRIPTOR_LAYOUT, MIRROR_HEADER_LAYOUT } from '../../src/techniques/mirror/mirror-state-layout.js';
import { CHANNEL_WORD, DESCRIPTOR_FIELD } from '../../src/techniques/mirror/link-channel-layout.js';
import { TrackStatusTable } from '../../src/techniques/mirror/track-status-table.js';
import { parseTarget, remoteAddress } from '../../src/techniques/mirror/mirror-targets.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { Prng, seedFromEnv } from './mirror-fixtures.js';

const LAYOUT_DIR = fileURLToPath(new URL('../../native-layout/', import.meta.url));
const EVENTS: readonly LinkEvent[] = ['copied', 'split', 'rejoin', 'rejoinDown', 'linkLost', 'linkUp', 'restart', 'secondarySplit'];

describe('link states', () => {
  it('moves exactly as the table says and refuses the rest', () => {
    for (const state of LINK_STATES) {
      for (const event of EVENTS) {
        const next = LINK_TRANSITIONS[state][event];
        if (next !== undefined) expect(linkTransition(state, event, { volume: 'v', mirror: 'M2' })).toBe(next);
        else expect(() => linkTransition(state, event, { volume: 'v', mirror: 'M2' })).toThrow(SessionError);
      }
    }
  });

  it('follows the issue: ONGOING → BACKUP → BACKUP RETURN → ONGOING, and a restart never resumes live', () => {
    const where = { volume: 'v', mirror: 'M2' };
    expect(linkTransition(linkTransition(linkTransition('ONGOING', 'split', where), 'rejoin', where), 'copied', where)).toBe('ONGOING');
    for (const state of LIVE_STATES) expect(LIVE_STATES.has(linkTransition(state, 'restart', where))).toBe(false);
    expect(linkTransition('BACKUP', 'restart', where)).toBe('BACKUP');
    expect(() => linkTransition('BACKUP RETURN', 'split', where)).toThrow(/Cannot split mirror M2 of v: it is BACKUP RETURN/);
  });
});

describe('mirror native-layout tables', () => {
  for (const layout of [MIRROR_HEADER_LAYOUT, MIRROR_DESCRIPTOR_LAYOUT]) {
    it(`${layout.name}.json equals the code's layout, and the page lists every field`, () => {
      const path = `${LAYOUT_DIR}${layout.name}.json`;
      if (process.env['SNAPTAPE_WRITE_LAYOUTS'] === '1') writeFileSync(path, `${JSON.stringify(layoutToJson(layout), null, 2)}\n`);
      expect(existsSync(path)).toBe(true);
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(layoutToJson(layout));
      const page = readFileSync(`${LAYOUT_DIR}mirror-state-file.md`, 'utf8');
      for (const f of layout.fields) expect(page).toContain(`| ${f.offset} | ${f.length} | ${f.name} | ${f.kind} |`);
      expect(page).toMatch(/Byte order: .*big-endian/);
      expect(page).toMatch(/Reserved bytes/);
      expect(page).toContain(`${layout.name}.json`);
      expect(page).toContain(`| ${MIRROR_BITMAP_OFFSET} | trackCount |`);
    });
  }

  it('the link channel page names every control word at its index', () => {
    const page = readFileSync(`${LAYOUT_DIR}mirror-link-channel.md`, 'utf8');
    for (const [name, index] of Object.entries(CHANNEL_WORD)) if (name !== 'DESCRIPTORS') expect(page).toContain(`| ${index} | ${name} |`);
    expect(page).toContain(`| ${CHANNEL_WORD.DESCRIPTORS} + 4i | descriptor i |`);
    expect(Object.keys(DESCRIPTOR_FIELD).join(', ')).toBe('UNIT, DATA_OFFSET, DATA_LENGTH, ZERO_TAIL');
  });
});

describe('track-status table', () => {
  it('agrees with a shadow model of invalid-track sets', () => {
    const prng = new Prng(seedFromEnv('track-status property'));
    const units = 300;
    const table = TrackStatusTable.primaryOnly(units);
    const invalid = new Map<number, Set<number>>([
      [2, new Set()],
      [3, new Set()],
      [4, new Set()],
    ]);
    for (const [m, set] of invalid) {
      table.invalidateAll(m);
      for (let u = 0; u < units; u++) set.add(u);
    }
    for (let i = 0; i < 5_000; i++) {
      const m = 2 + prng.below(3);
      const u = prng.below(units);
      const set = invalid.get(m) as Set<number>;
      const op = prng.below(3);
      if (op === 0) {
        table.setValid(u, m);
        set.delete(u);
      } else if (op === 1) {
        // A batch of the background copy: a run of units set valid in one call.
        const run = Array.from({ length: Math.min(units - u, 1 + prng.below(20)) }, (_, k) => u + k);
        table.setValidAll(run, m);
        for (const r of run) set.delete(r);
      } else {
        expect(table.clearValid(u, m)).toBe(!set.has(u));
        set.add(u);
      }
    }
    for (const [m, set] of invalid) {
      expect(table.invalidCount(m)).toBe(set.size);
      const first = Math.min(...set);
      expect(table.nextInvalid(m, 0)).toBe(set.size ? first : -1);
      expect(Array.from(table.invalidUnits(m))).toEqual([...set].sort((a, b) => a - b));
    }
    expect(() => table.setValidAll([0, units], 2)).toThrow(/unit 300 in range/);
    for (let u = 0; u < units; u++) expect(table.patternProblem(u, 0x0f)).toBeUndefined();
  });

  it('reports impossible patterns: M1 invalid, or a bit of an unconfigured mirror', () => {
    const table = new TrackStatusTable(Uint8Array.from([0x01, 0x00, 0x03, 0x05]));
    expect(table.patternProblem(0, 0x03)).toBeUndefined();
    expect(table.patternProblem(1, 0x03)).toMatch(/M1 \(the primary\) invalid/);
    expect(table.patternProblem(2, 0x03)).toBeUndefined();
    expect(table.patternProblem(3, 0x03)).toMatch(/not configured/);
  });
});

describe('state file', () => {
  it('round-trips targets, states, bits and the CLEAN flag', () => {
    const dir = makeTempDir('snaptape-mirror-file-');
    try {
      const path = join(dir.path, 'p.ckd.mirror');
      const table = TrackStatusTable.primaryOnly(40);
      table.setValid(7, 2);
      const mirrors = [
        { kind: 'local' as const, target: '/data/m2.ckd', linkState: 'ONGOING' as const, splitCount: 0 },
        { kind: 'remote' as const, target: '127.0.0.1:10809/sec', linkState: 'BACKUP' as const, splitCount: 3 },
      ];
      const file = MirrorStateFile.create(path, { slotBytes: 56_832, mirrors, table });
      expect(() => MirrorStateFile.create(path, { slotBytes: 56_832, mirrors, table })).toThrow(/exists/);
      table.clearValid(9, 3);
      file.persistCleared(table, 9, 1);
      file.close();
      const { file: again, state } = MirrorStateFile.open(path);
      expect(state.clean).toBe(false);
      expect(state.mirrors).toEqual(mirrors);
      expect(state.table.isValid(7, 2)).toBe(true);
      expect(state.table.isValid(8, 2)).toBe(false);
      again.writeAll({ ...state, clean: true });
      again.close();
      const reread = MirrorStateFile.open(path);
      expect(reread.state.clean).toBe(true);
      reread.file.remove();
      expect(existsSync(path)).toBe(false);
    } finally {
      dir.cleanup();
    }
  });

  it('parses targets: host:port[/export] is remote, anything else a local path', () => {
    expect(parseTarget('127.0.0.1:10809/sec')).toEqual({ kind: 'remote', target: '127.0.0.1:10809/sec' });
    expect(parseTarget('localhost:9000')).toEqual({ kind: 'remote', target: 'localhost:9000/' });
    expect(parseTarget('m2.ckd').kind).toBe('local');
  });

  it('parses nbd+unix:// and nbds:// targets to absolute paths; the key stays in its file', () => {
    const unix = parseTarget('nbd+unix:///sec?socket=sec.nbd.sock');
    expect(unix).toEqual({ kind: 'remote', target: `nbd+unix:///sec?socket=${resolve('sec.nbd.sock')}` });
    expect(remoteAddress(unix.target)).toEqual({ kind: 'unix', socketPath: resolve('sec.nbd.sock'), exportName: 'sec' });
    const tls = parseTarget('nbds://alice@127.0.0.1:10809/sec?tls-psk-file=keys.psk');
    expect(tls.target).toBe(`nbds://alice@127.0.0.1:10809/sec?tls-psk-file=${resolve('keys.psk')}`);
    expect(remoteAddress(tls.target)).toEqual({
      kind: 'tcp',
      host: '127.0.0.1',
      port: 10809,
      exportName: 'sec',
      tls: { pskFile: resolve('keys.psk'), username: 'alice' },
    });
    expect(remoteAddress('nbds://h:1/e?tls-psk-file=/k&tls-username=bob')).toMatchObject({ tls: { pskFile: '/k', username: 'bob' } });
    expect(() => parseTarget('nbds://127.0.0.1:10809/sec')).toThrow(/expected nbds:\/\/user@host:port\/export\?tls-psk-file=FILE/);
    expect(() => parseTarget('nbd+unix:///sec')).toThrow(/expected nbd\+unix:\/\/\/export\?socket=PATH/);
  });
});
