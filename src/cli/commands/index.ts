/**
 * Every CLI command, in the order `snaptape --help` lists them, and the module that registers it.
 * Modules are imported only when their command runs: each one imports the whole library through
 * the public face, so `snaptape --help` and `--version` would otherwise load every module of it.
 * The usage and description listed here are what `snaptape --help` shows before the module is
 * loaded; test/cli/lazy-commands.test.ts checks them against what the modules register.
 */
import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

/** One top-level command as the top-level help lists it. */
export interface CommandSummary {
  readonly name: string;
  /** Name, `[options]` and arguments, as commander shows a registered command. */
  readonly term: string;
  readonly description: string;
}

/** One or more command files that register the top-level commands in `commands`. */
export interface CommandModule {
  readonly commands: readonly CommandSummary[];
  readonly load: () => Promise<readonly RegisterCommand[]>;
}

function command(term: string, description: string): CommandSummary {
  return { name: term.split(' ')[0] ?? term, term, description };
}

export const COMMAND_MODULES: readonly CommandModule[] = [
  {
    commands: [command('init [options] <image>', 'create a new sparse volume image (Hercules CKD or FBA)')],
    load: async () => [(await import('./init-command.js')).registerInit],
  },
  {
    commands: [command('alloc [options] <image> <dsname>', 'allocate a data set in tracks or cylinders')],
    load: async () => [(await import('./alloc-command.js')).registerAlloc],
  },
  {
    commands: [command('delete [options] <image> <dsname>', 'delete a data set')],
    load: async () => [(await import('./delete-command.js')).registerDelete],
  },
  {
    commands: [
      command('put [options] <image> <dsname> <hostfile>', 'write a host file into a data set as blocks of records'),
      command('get [options] <image> <dsname> [outfile]', 'read a data set back into a host file (stdout without outfile, or with -)'),
    ],
    load: async () => [(await import('./put-get-commands.js')).registerPutGet],
  },
  {
    commands: [command('ls [options] <image>', 'list the volume label, data sets and free space')],
    load: async () => [(await import('./ls-command.js')).registerLs],
  },
  {
    commands: [command('info [options] <path>', 'describe an image or a tape: format, device type, geometry, size on disk, checkpoints and side files')],
    load: async () => [(await import('./info-command.js')).registerInfo],
  },
  {
    commands: [command('fill [options] <image>', 'fill a share of the free space with data sets of deterministic pseudo-random blocks')],
    load: async () => [(await import('./fill-command.js')).registerFill],
  },
  {
    commands: [command('backup [options] <image>', 'point-in-time backup of a live volume to a virtual tape')],
    load: async () => [(await import('./backup-command.js')).registerBackup],
  },
  {
    commands: [
      command(
        'restore [options] <tapes...>',
        'restore a backup tape, or a chain (a full backup, then its incrementals in order), after verifying it, to a volume or into a new volume',
      ),
      command('verify [options] <tapes...>', "check a backup tape without restoring it: structure, labels and each element's SHA-256"),
    ],
    load: async () => [(await import('./restore-verify-commands.js')).registerRestoreVerify],
  },
  {
    commands: [command('track [options] <image>', 'start durable change tracking of a volume, set a named checkpoint, or show its checkpoints')],
    load: async () => [(await import('./track-command.js')).registerTrack],
  },
  {
    commands: [command('drill [options] <image>', 'restore drill: back up under a synthetic load, restore into scratch, compare with the point in time')],
    load: async () => [(await import('./drill-command.js')).registerDrill],
  },
  {
    commands: [command('compare [options] <a> <b>', 'compare two volume images unit by unit; exits non-zero when they differ')],
    load: async () => [(await import('./compare-command.js')).registerCompare],
  },
  {
    commands: [command('convert [options] <input> <output>', 'convert a CKD volume between uncompressed (ckd) and compressed (cckd) Hercules images')],
    load: async () => [(await import('./convert-command.js')).registerConvert],
  },
  {
    commands: [
      command(
        'check [options] <path>',
        'check an image (CKD, CCKD, FBA, multi-file; with its VTOC), a tape (AWSTAPE, HET) or a subsystem folder; report every problem with its location',
      ),
    ],
    load: async () => [(await import('./check-command.js')).registerCheck],
  },
  {
    commands: [command('tape', 'AWSTAPE/HET virtual tapes with IBM standard labels')],
    load: async () => [
      (await import('./tape-init.js')).registerTapeInit,
      (await import('./tape-ls.js')).registerTapeLs,
      (await import('./tape-put.js')).registerTapePut,
      (await import('./tape-get.js')).registerTapeGet,
    ],
  },
  {
    commands: [
      command(
        'serve [options] [images...]',
        'own volumes, export them over NBD, and take control requests (JSON over HTTP); at start it takes up the mirrors and the unfinished clones (killed with a server) of the images it serves',
      ),
      command('sessions [options]', 'list the sessions of a running snaptape server'),
      command('session [options] <verb> <id>', 'show, wait for, pause, resume or cancel a session of a running snaptape server'),
    ],
    load: async () => [(await import('./serve-command.js')).registerServe],
  },
  {
    commands: [command('mirror', 'mirror a served volume onto up to 3 secondaries; split for a point-in-time backup, rejoin to resync')],
    load: async () => [(await import('./mirror-command.js')).registerMirror],
  },
  {
    commands: [command('clone', 'clone a volume with PRECOPY, ACTIVATE and TERMINATE (technique 4)')],
    load: async () => [(await import('./clone-command.js')).registerClone],
  },
  {
    commands: [command('subsystem', 'a storage subsystem folder: a pool of track slots shared by mapped volumes')],
    load: async () => [(await import('./subsystem-command.js')).registerSubsystem],
  },
  {
    commands: [command('snapshot [options] [source] [target]', 'instant snapshot by track pointers between mapped volumes of one subsystem')],
    load: async () => [(await import('./snapshot-command.js')).registerSnapshot],
  },
  {
    commands: [command('library', 'a tape library of cartridges in slots and drives, with pools, retention and WORM')],
    load: async () => [(await import('./library-command.js')).registerLibrary],
  },
  {
    commands: [command('pool', 'source and target pools of copy versions, in the catalog')],
    load: async () => [(await import('./pool-command.js')).registerPool],
  },
  {
    commands: [command('version', 'copy versions of a source pool into rotating target pools')],
    load: async () => [(await import('./version-command.js')).registerVersion],
  },
  {
    commands: [
      command(
        'map [options] <tape|session>',
        'draw a track map: of a finished backup (<tape>.map.json), or with --server of a running session (<session> is its id)',
      ),
    ],
    load: async () => [(await import('./map-command.js')).registerMap],
  },
  {
    commands: [
      command('completion <shell>', 'print a shell completion script: bash (source it, or put it in bash_completion.d) or zsh (put it in $fpath as _snaptape)'),
    ],
    load: async () => [(await import('./completion-command.js')).registerCompletion],
  },
];
