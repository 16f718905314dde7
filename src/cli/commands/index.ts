/** Every CLI command, in the order `snaptape --help` lists them. */
import type { Command } from 'commander';
import { registerAlloc } from './alloc-command.js';
import { registerBackup } from './backup-command.js';
import { registerCompare } from './compare-command.js';
import { registerCompletion } from './completion-command.js';
import { registerCheck } from './check-command.js';
import { registerConvert } from './convert-command.js';
import { registerDrill } from './drill-command.js';
import { registerRestoreVerify } from './restore-verify-commands.js';
import { registerDelete } from './delete-command.js';
import { registerFill } from './fill-command.js';
import { registerInfo } from './info-command.js';
import { registerInit } from './init-command.js';
import { registerLs } from './ls-command.js';
import { registerPutGet } from './put-get-commands.js';
import { registerTapeGet } from './tape-get.js';
import { registerTapeInit } from './tape-init.js';
import { registerTapeLs } from './tape-ls.js';
import { registerTapePut } from './tape-put.js';
import { registerServe } from './serve-command.js';
import { registerMirror } from './mirror-command.js';
import { registerClone } from './clone-command.js';
import { registerSubsystem } from './subsystem-command.js';
import { registerSnapshot } from './snapshot-command.js';
import { registerPool } from './pool-command.js';
import { registerVersion } from './version-command.js';
import { registerMap } from './map-command.js';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: readonly RegisterCommand[] = [
  registerInit,
  registerAlloc,
  registerDelete,
  registerPutGet,
  registerLs,
  registerInfo,
  registerFill,
  registerBackup,
  registerRestoreVerify,
  registerDrill,
  registerCompare,
  registerConvert,
  registerCheck,
  registerTapeInit,
  registerTapeLs,
  registerTapePut,
  registerTapeGet,
  registerServe,
  registerMirror,
  registerClone,
  registerSubsystem,
  registerSnapshot,
  registerPool,
  registerVersion,
  registerMap,
  registerCompletion,
];
