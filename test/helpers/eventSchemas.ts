import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/** Validates events against the published schema files (docs/events/{type}.schema.json). */
const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false });
addFormats(ajv);
const validators = new Map<string, ValidateFunction>();

export function schemaFileFor(type: string): string {
  return join(__dirname, '..', '..', 'docs', 'events', `${type}.schema.json`);
}

/** The schema violations of one event, or [] when it is valid. Throws for a type without a schema file. */
export function schemaErrors(event: object): string[] {
  const type = String((event as { type?: unknown }).type);
  let validate = validators.get(type);
  if (!validate) {
    validate = ajv.compile(JSON.parse(readFileSync(schemaFileFor(type), 'utf8')) as object);
    validators.set(type, validate);
  }
  return validate(event) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '(event)'} ${e.message ?? ''}`);
}
