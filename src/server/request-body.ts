/**
 * Reading a control request's JSON body, bounded, and checking its fields. A body larger than
 * MAX_REQUEST_BODY_BYTES is refused as soon as the limit is crossed (413), without reading the
 * rest into memory; a body that is not a JSON object is BAD_JSON; a field of the wrong type, or a
 * field the request type does not know, is BAD_REQUEST naming the field.
 */
import type { IncomingMessage } from 'node:http';
import { ControlError } from './control-error.js';

/** Largest request body: a session request with a few hundred data set names fits in 64 KiB. */
export const MAX_REQUEST_BODY_BYTES = 64 * 1024;
/** Longest list field (data set names) in one request. */
export const MAX_LIST_ITEMS = 1024;

export type JsonObject = Readonly<Record<string, unknown>>;

export function readJsonBody(request: IncomingMessage): Promise<JsonObject> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    request.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > MAX_REQUEST_BODY_BYTES) {
        failed = true;
        reject(
          new ControlError('BODY_TOO_LARGE', `Cannot read the request body: it is larger than ${MAX_REQUEST_BODY_BYTES} bytes`, {
            limit: MAX_REQUEST_BODY_BYTES,
          }),
        );
        return;
      }
      chunks.push(chunk);
    });
    request.on('error', (error) => {
      if (!failed) reject(new ControlError('BAD_REQUEST', `Cannot read the request body: ${error.message}`));
      failed = true;
    });
    request.on('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        reject(new ControlError('BAD_JSON', `Cannot parse the request body as JSON: ${(error as Error).message}`));
        return;
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        reject(new ControlError('BAD_JSON', 'Cannot use the request body: it is not a JSON object'));
        return;
      }
      resolve(value as JsonObject);
    });
  });
}

/** Typed access to a request object's fields; every getter names the field in its error. */
export class RequestFields {
  private readonly body: JsonObject;

  constructor(body: JsonObject) {
    this.body = body;
  }

  /** Refuses fields outside `allowed`, so a typo is an error rather than a silent default. */
  onlyThese(allowed: readonly string[]): void {
    const unknown = Object.keys(this.body).filter((key) => !allowed.includes(key));
    if (unknown.length > 0) throw bad(unknown[0] as string, `is not a field of this request (known: ${allowed.join(', ')})`);
  }

  string(name: string): string {
    const value = this.body[name];
    if (typeof value !== 'string' || value.length === 0) throw bad(name, 'must be a non-empty string');
    return value;
  }

  optionalString(name: string): string | undefined {
    return this.body[name] === undefined ? undefined : this.string(name);
  }

  optionalInteger(name: string, range: { min: number; max: number }): number | undefined {
    const value = this.body[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > range.max) {
      throw bad(name, `must be a whole number ${range.min}-${range.max}`);
    }
    return value;
  }

  optionalNumber(name: string, range: { min: number; max: number }): number | undefined {
    const value = this.body[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < range.min || value > range.max) {
      throw bad(name, `must be a number ${range.min}-${range.max}`);
    }
    return value;
  }

  optionalBoolean(name: string): boolean | undefined {
    const value = this.body[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') throw bad(name, 'must be true or false');
    return value;
  }

  optionalStringList(name: string): string[] | undefined {
    const value = this.body[name];
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LIST_ITEMS || !value.every((v) => typeof v === 'string' && v.length > 0)) {
      throw bad(name, `must be a list of 1-${MAX_LIST_ITEMS} non-empty strings`);
    }
    return value as string[];
  }
}

function bad(field: string, rule: string): ControlError {
  return new ControlError('BAD_REQUEST', `Cannot accept field "${field}": it ${rule}`, { field });
}
