import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { POLICY_SCHEMA } from '../../shared/domain/policy/schema';
import { EVENT_SCHEMA_TYPES, eventSchema } from '../../shared/domain/eventSchemas';

// The app compiles these schemas without checking them against the JSON Schema 2020-12 meta-schema
// (that check costs more at cold start than the rest of the policy check), so it is done here.
describe('the fixed schemas are valid JSON Schema 2020-12', () => {
  const ajv = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false });
  addFormats(ajv);

  it('the policy schema', () => {
    expect(ajv.validateSchema(POLICY_SCHEMA)).toBe(true);
    expect(ajv.errors ?? null).toBeNull();
  });

  it.each(EVENT_SCHEMA_TYPES)('the %s event schema', (type) => {
    expect(ajv.validateSchema(eventSchema(type) as object)).toBe(true);
    expect(ajv.errors ?? null).toBeNull();
  });
});
