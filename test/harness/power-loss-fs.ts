/**
 * A power-loss model of the file system under one folder, for tests that crash at every step.
 *
 * The process runs on the real files; this model only watches. It wraps the `node:fs` functions
 * that change files (and `syncBuiltinESMExports`, so that modules which imported them by name see
 * the wrappers too) and, after every change under the folder, records a crash point: what the
 * folder would hold if the power failed right then. A write that was not fsynced is lost:
 *
 * - a file's content after the crash is what it held at its last fsync/fdatasync (or when the
 *   model started), never what was written since;
 * - a name (create, rename, link, unlink) is uncertain until its directory is fsynced, so every
 *   crash point is looked at twice: with every name change so far kept (the journal committed,
 *   the data did not: the "empty file after rename" case) and with only the names a directory
 *   fsync made durable.
 *
 * The promise API (`node:fs/promises`: `open` and its FileHandle's writes, syncs and truncate,
 * `rm`, `rename`, `unlink`, `writeFile`) is watched too, as durable-replace.ts's off-thread records
 * use it: a step is recorded when its promise settles. An fsync there makes durable what the file
 * held when it was asked for (later writes may not be covered), and only once it has settled.
 * Not watched: the callback API (`fs.write`, `fs.fdatasync`), which no record is written with.
 *
 * Only the calling thread is watched: worker threads have their own `node:fs`, so a test keeps its
 * writes on this thread (a CCKD source makes copies run here; see the power-loss tests).
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { join, relative, resolve, sep } from 'node:path';

/** What the folder holds after a crash: relative path -> content. */
export type CrashView = ReadonlyMap<string, Buffer>;

export interface CrashPoint {
  /** 1-based count of watched operations before the crash. */
  readonly step: number;
  /** The operation just done, e.g. `rename a.json.tmp -> a.json`. */
  readonly after: string;
  /** Every name change kept, contents as last fsynced. */
  readonly namesKept: CrashView;
  /** Only the names made durable by a directory fsync, contents as last fsynced. */
  readonly namesSynced: CrashView;
}

type Fs = typeof fs;
const WATCHED = [
  'openSync',
  'writeSync',
  'writevSync',
  'writeFileSync',
  'ftruncateSync',
  'truncateSync',
  'renameSync',
  'linkSync',
  'unlinkSync',
  'rmSync',
  'copyFileSync',
  'mkdirSync',
  'fsyncSync',
  'fdatasyncSync',
] as const;
type Watched = (typeof WATCHED)[number];
/** The promise API's functions that change files (FileHandle methods are watched per handle). */
const WATCHED_PROMISES = ['open', 'rm', 'rename', 'unlink', 'writeFile'] as const;
type WatchedPromise = (typeof WATCHED_PROMISES)[number];
/** FileHandle methods that change the file, and the ones that make it durable. */
const HANDLE_WRITES = ['write', 'writev', 'writeFile', 'truncate'] as const;
const HANDLE_SYNCS = ['sync', 'datasync'] as const;
type AsyncFn = (...args: unknown[]) => Promise<unknown>;

export class PowerLossFs {
  readonly root: string;
  readonly points: CrashPoint[] = [];
  private readonly original = new Map<Watched, Fs[Watched]>();
  private readonly originalPromises = new Map<WatchedPromise, AsyncFn>();
  /** inode -> its content as of its last fsync (an immutable buffer, shared between crash points). */
  private readonly durable = new Map<number, Buffer>();
  /** directory (relative) -> its durable entries: name -> inode. */
  private readonly durableNames = new Map<string, Map<string, number>>();
  private steps = 0;
  private busy = false;

  private constructor(root: string) {
    this.root = resolve(root);
  }

  /** Starts watching `root`: what it holds now counts as durable. */
  static install(root: string): PowerLossFs {
    const model = new PowerLossFs(root);
    for (const [dir, entries] of model.scan()) {
      model.durableNames.set(dir, new Map(entries));
      for (const ino of entries.values()) if (!model.durable.has(ino)) model.durable.set(ino, model.readInode(dir, entries, ino));
    }
    model.wrap();
    return model;
  }

  uninstall(): void {
    const target = fs as unknown as Record<string, unknown>;
    for (const [name, fn] of this.original) target[name] = fn;
    const promises = fs.promises as unknown as Record<string, unknown>;
    for (const [name, fn] of this.originalPromises) promises[name] = fn;
    syncBuiltinESMExports();
  }

  private readInode(dir: string, entries: ReadonlyMap<string, number>, ino: number): Buffer {
    for (const [name, i] of entries) if (i === ino) return fs.readFileSync(join(this.root, dir, name));
    return Buffer.alloc(0);
  }

  /** The real folder now: directory (relative) -> name -> inode, regular files only. */
  private scan(): Map<string, Map<string, number>> {
    const out = new Map<string, Map<string, number>>();
    const walk = (dir: string): void => {
      const entries = new Map<string, number>();
      out.set(dir, entries);
      for (const d of fs.readdirSync(join(this.root, dir), { withFileTypes: true })) {
        const rel = dir === '' ? d.name : join(dir, d.name);
        if (d.isDirectory()) walk(rel);
        else if (d.isFile()) entries.set(d.name, fs.statSync(join(this.root, rel)).ino);
      }
    };
    walk('');
    return out;
  }

  private inside(path: unknown): boolean {
    if (typeof path !== 'string') return false;
    const full = resolve(path);
    return full === this.root || full.startsWith(this.root + sep);
  }

  private fdPath(fd: unknown): string | undefined {
    if (typeof fd !== 'number') return undefined;
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return undefined;
    }
  }

  /** An fsync of `fd`: a file's content, or a directory's names, become durable. */
  private fsynced(fd: number): void {
    const stat = fs.fstatSync(fd);
    const path = this.fdPath(fd);
    if (path === undefined || !this.inside(path)) return;
    if (stat.isDirectory()) {
      const rel = relative(this.root, path);
      const now = this.scan().get(rel);
      if (now) this.durableNames.set(rel, new Map(now));
    } else {
      // Read through /proc: the descriptor may be write-only.
      this.durable.set(stat.ino, fs.readFileSync(`/proc/self/fd/${fd}`));
    }
  }

  private view(names: ReadonlyMap<string, ReadonlyMap<string, number>>): CrashView {
    const out = new Map<string, Buffer>();
    for (const [dir, entries] of names) {
      for (const [name, ino] of entries) out.set(dir === '' ? name : join(dir, name), this.durable.get(ino) ?? Buffer.alloc(0));
    }
    return out;
  }

  private record(after: string): void {
    this.steps++;
    const synced = new Map<string, Map<string, number>>();
    const now = this.scan();
    // A directory never fsynced keeps the names it had when the model started (none if it is new).
    for (const dir of now.keys()) synced.set(dir, this.durableNames.get(dir) ?? new Map());
    this.points.push({ step: this.steps, after, namesKept: this.view(now), namesSynced: this.view(synced) });
  }

  private wrap(): void {
    const target = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of WATCHED) {
      const real = target[name] as (...args: unknown[]) => unknown;
      this.original.set(name, real as Fs[Watched]);
      target[name] = (...args: unknown[]): unknown => {
        const created = this.busy ? undefined : this.createdPath(name, args);
        const result = real.apply(fs, args);
        // A new file may get the inode number of one removed before: it starts with nothing durable.
        if (created !== undefined) this.durable.delete(fs.statSync(created).ino);
        // The model's own reads (scan, fstat) call no watched function; a nested call is not a step.
        if (this.busy) return result;
        this.busy = true;
        try {
          this.observe(name, args, result);
        } finally {
          this.busy = false;
        }
        return result;
      };
    }
    this.wrapPromises();
    syncBuiltinESMExports();
  }

  /** The promise API: each change is a step once it has settled; `open` hands out watched handles. */
  private wrapPromises(): void {
    const promises = fs.promises as unknown as Record<string, AsyncFn>;
    for (const name of WATCHED_PROMISES) {
      const real = promises[name] as AsyncFn;
      this.originalPromises.set(name, real);
      promises[name] = async (...args: unknown[]): Promise<unknown> => {
        const [a, b] = args;
        if (name === 'open') {
          const flags = typeof b === 'string' ? b : 'r';
          const created = /[wa]/.test(flags) && this.inside(a) && !fs.existsSync(a as string) ? (a as string) : undefined;
          const handle = (await real.apply(fs.promises, args)) as FileHandle;
          if (created !== undefined) this.durable.delete(fs.statSync(created).ino);
          this.watchHandle(handle);
          if (this.inside(a) && /[wa]/.test(flags)) this.step(`open ${this.show(a)} ${flags} (promise)`);
          return handle;
        }
        const result = await real.apply(fs.promises, args);
        const second = name === 'rename' ? b : undefined;
        if (this.inside(a) || this.inside(second)) this.step(`${name} ${this.show(a)}${second !== undefined ? ` -> ${this.show(second)}` : ''} (promise)`);
        return result;
      };
    }
  }

  /** A FileHandle's writes are steps; its sync makes durable what the file held when it was asked. */
  private watchHandle(handle: FileHandle): void {
    const methods = handle as unknown as Record<string, AsyncFn>;
    const path = (): string | undefined => this.fdPath(handle.fd);
    for (const name of HANDLE_WRITES) {
      const real = methods[name] as AsyncFn;
      methods[name] = async (...args: unknown[]): Promise<unknown> => {
        const where = path();
        const result = await real.apply(handle, args);
        if (this.inside(where)) this.step(`${name} ${this.show(where)} (promise)`);
        return result;
      };
    }
    for (const name of HANDLE_SYNCS) {
      const real = methods[name] as AsyncFn;
      methods[name] = async (...args: unknown[]): Promise<unknown> => {
        const where = path();
        const inside = this.inside(where);
        const asked = inside ? this.durableAsOf(handle.fd) : undefined;
        const result = await real.apply(handle, args);
        if (inside && asked !== undefined) {
          asked();
          this.step(`${name} ${this.show(where)} (promise)`);
        }
        return result;
      };
    }
  }

  /** What an fsync of `fd` asked for now makes durable; call the result once the fsync has completed. */
  private durableAsOf(fd: number): () => void {
    const stat = fs.fstatSync(fd);
    if (stat.isDirectory()) {
      const rel = relative(this.root, this.fdPath(fd) ?? this.root);
      const names = new Map(this.scan().get(rel) ?? []);
      return () => this.durableNames.set(rel, names);
    }
    const content = fs.readFileSync(`/proc/self/fd/${fd}`);
    return () => this.durable.set(stat.ino, content);
  }

  /** Records a step unless the model itself is at work (its own calls are not steps). */
  private step(after: string): void {
    if (this.busy) return;
    this.busy = true;
    try {
      this.record(after);
    } finally {
      this.busy = false;
    }
  }

  private show(path: unknown): string {
    return typeof path === 'string' ? relative(this.root, resolve(path)) || '.' : String(path);
  }

  /** The path `name(args)` is about to create under the folder, if it does not exist yet. */
  private createdPath(name: Watched, args: unknown[]): string | undefined {
    const [a, b] = args;
    const path =
      name === 'openSync' && typeof b === 'string' && /[wa]/.test(b)
        ? a
        : name === 'writeFileSync' && typeof a === 'string'
          ? a
          : name === 'copyFileSync'
            ? b
            : undefined;
    return typeof path === 'string' && this.inside(path) && !fs.existsSync(path) ? path : undefined;
  }

  private observe(name: Watched, args: unknown[], result: unknown): void {
    const [a, b] = args;
    if (name === 'fsyncSync' || name === 'fdatasyncSync') {
      const path = this.fdPath(a);
      if (path === undefined || !this.inside(path)) return;
      this.fsynced(a as number);
      this.record(`${name} ${relative(this.root, path) || '.'}`);
      return;
    }
    if (name === 'openSync') {
      // Only an open that creates or truncates changes anything.
      const flags = typeof b === 'string' ? b : 'r';
      if (!this.inside(a) || !/[wa]/.test(flags)) return;
      this.record(`open ${relative(this.root, resolve(a as string))} ${flags}`);
      void result;
      return;
    }
    const fdLike = name === 'writeSync' || name === 'writevSync' || name === 'ftruncateSync' || (name === 'writeFileSync' && typeof a === 'number');
    const path = fdLike ? this.fdPath(a) : (a as string);
    const second = name === 'renameSync' || name === 'linkSync' || name === 'copyFileSync' ? b : undefined;
    if (!this.inside(path) && !this.inside(second)) return;
    const show = (p: unknown): string => (typeof p === 'string' ? relative(this.root, resolve(p)) : String(p));
    this.record(`${name} ${show(path)}${second !== undefined ? ` -> ${show(second)}` : ''}`);
  }
}

/** The text of a file in a crash view, or undefined when the crash left no such name. */
export function crashText(view: CrashView, rel: string): string | undefined {
  return view.get(rel)?.toString('utf8');
}
