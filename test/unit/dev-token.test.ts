import { parseTokenArguments } from '../../dev/token';

describe('npm run token -- <persona> --group-overage', () => {
  it('asks for an overage token of either form, and none by default', () => {
    expect(parseTokenArguments(['sam'])).not.toHaveProperty('groupOverage');
    expect(parseTokenArguments(['sam', '--group-overage', 'distributed-claim'])).toMatchObject({ persona: 'sam', groupOverage: 'distributed-claim' });
    expect(parseTokenArguments(['--group-overage=hasgroups', 'sara'])).toMatchObject({ persona: 'sara', groupOverage: 'hasgroups' });
  });

  it('refuses another form', () => {
    expect(() => parseTokenArguments(['sam', '--group-overage', 'groups.link'])).toThrow(/--group-overage is one of distributed-claim, hasgroups/);
  });
});
