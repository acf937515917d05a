/** Input checks that name the offending field (BAD_USER_INPUT) before anything is written. */
import { badUserInput } from '../errors.js';

// Control characters other than tab/newline have no business in names and descriptions.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export function requireText(field: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string') throw badUserInput(field, 'is required');
  const trimmed = value.trim();
  if (trimmed.length === 0) throw badUserInput(field, 'must not be empty');
  if (trimmed.length > maxLength) throw badUserInput(field, `must be at most ${maxLength} characters`);
  if (CONTROL.test(trimmed)) throw badUserInput(field, 'must not contain control characters');
  return trimmed;
}

export function optionalText(field: string, value: unknown, maxLength: number): string | null {
  if (value == null) return null;
  if (typeof value !== 'string') throw badUserInput(field, 'must be a string');
  if (value.length > maxLength) throw badUserInput(field, `must be at most ${maxLength} characters`);
  if (CONTROL.test(value)) throw badUserInput(field, 'must not contain control characters');
  return value.trim();
}

const MAX_JSON_BYTES = 256 * 1024;

export function requireJsonObject(field: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badUserInput(field, 'must be a JSON object');
  if (JSON.stringify(value).length > MAX_JSON_BYTES) throw badUserInput(field, `must be at most ${MAX_JSON_BYTES / 1024} KiB`);
  return value as Record<string, unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function requireId(field: string, value: unknown): string {
  if (typeof value !== 'string' || !UUID.test(value)) throw badUserInput(field, 'must be an id (a UUID)');
  return value.toLowerCase();
}
