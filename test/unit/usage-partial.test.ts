import { template } from '../../shared/web/templates';
import { grantUsagePartial } from '../../shared/web/usagePartial';

describe('the grant usage partial', () => {
  it('lists operations per key with count and first and last use, the key as text', () => {
    const html = grantUsagePartial({
      grantId: 'g', used: true, firstUse: '2030-01-01T10:00:00.000Z', lastUse: '2030-01-01T10:02:00.000Z',
      operations: [{ operation: 'KeySign', key: '<b>release</b>', count: 3, firstUse: '2030-01-01T10:00:00.000Z', lastUse: '2030-01-01T10:02:00.000Z' }],
    });
    expect(html).toContain('<td data-label="Count">3</td>');
    expect(html).toContain('&lt;b&gt;release&lt;/b&gt;');
    expect(html).not.toContain('<b>release</b>');
    expect(html).toContain('<time datetime="2030-01-01T10:02:00.000Z"');
  });

  it('says when a grant was not used, and is there for other templates by name', () => {
    expect(grantUsagePartial({ grantId: 'g', used: false, operations: [] })).toMatch(/Not used/);
    expect(template<{ usage: object }>('<article>{{> grantUsage usage}}</article>')({ usage: { grantId: 'g', used: false, operations: [] } })).toMatch(/^<article><section[\s\S]*Not used/);
  });
});
