/**
 * The checks every session makes of a verb or a view request in the same words: an unknown verb,
 * an argument the verb does not take, an argument of the wrong type.
 */
import { SessionError, UsageError } from '../errors/snaptape-error.js';
import type { SessionArgs } from './session.js';

/** A verb the session does not have: a SessionError naming the ones it has. */
export function unknownVerb(what: string, verb: string, commands: readonly string[]): SessionError {
  const has = commands.length === 0 ? 'it has no commands' : `its commands are ${commands.join(', ')}`;
  return new SessionError(`Cannot ${verb} ${what}: ${has}`, { session: what, verb });
}

/** Refuses any argument outside `allowed` (a UsageError naming it and the action). */
export function onlyArgs(args: SessionArgs | undefined, allowed: readonly string[], action: string): void {
  for (const [name, value] of Object.entries(args ?? {})) {
    if (value === undefined) continue;
    if (!allowed.includes(name))
      throw new UsageError(`Cannot ${action} with "${name}": ${allowed.length === 0 ? 'it takes no arguments' : `it takes ${allowed.join(', ')}`}`, {
        field: name,
      });
  }
}

/** An optional string argument (a UsageError when it is another type). */
export function stringArg(args: SessionArgs | undefined, name: string, action: string): string | undefined {
  const value = args?.[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new UsageError(`Cannot ${action}: "${name}" must be a non-empty string`, { field: name });
  return value;
}
