import { csvCell, toCsv } from '../../../shared/domain/csv';
import { AUDIT_CSV_HEADER, auditCsvRows } from '../../../shared/domain/auditQuery';
import type { ChainedAuditRecord } from '../../../shared/domain/audit';

describe('csvCell', () => {
  it('leaves plain text alone and writes nothing for absent values', () => {
    expect([csvCell('release-signing-key'), csvCell(3), csvCell(undefined), csvCell(null), csvCell('')]).toEqual(['release-signing-key', '3', '', '', '']);
  });

  it('quotes commas, quotes and line breaks, doubling inner quotes (RFC 4180)', () => {
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell('cr\r\nlf')).toBe('"cr\r\nlf"');
  });

  it.each(['=HYPERLINK("http://evil.example","x")', '+1+1', '-2+3', '@SUM(A1)', '\tcmd', '\rcmd', '＝1+1'])('defuses a cell that starts like a formula: %j', (value) => {
    const cell = csvCell(value);
    const unquoted = cell.startsWith('"') ? cell.slice(1, -1).replace(/""/g, '"') : cell;
    expect(unquoted).toBe(`'${value}`);
  });

  it('writes objects as JSON, quoted', () => {
    expect(csvCell({ scope: '/keys/k', n: 1 })).toBe('"{""scope"":""/keys/k"",""n"":1}"');
  });
});

describe('toCsv', () => {
  it('writes a header and rows, each line ended by CRLF', () => {
    expect(toCsv(['a', 'b'], [['1', 'x,y'], [undefined, '=1']])).toBe('a,b\r\n1,"x,y"\r\n,\'=1\r\n');
  });

  it('writes audit records with their scope and details', () => {
    const record: ChainedAuditRecord = {
      seq: 7, at: '2026-12-02T10:00:00.000Z', actor: 'a1', action: 'request.created', requestId: 'r1', to: 'Pending', reason: '=cmd|calc',
      details: { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: 'p1', hsm: 'contoso-hsm' }, prevHash: '0', hash: 'h7',
    };
    const csv = toCsv(AUDIT_CSV_HEADER, auditCsvRows([record]));
    const [header, line] = csv.split('\r\n');
    expect(header).toBe('seq,at,actor,action,requestId,from,to,reason,role,scope,principalId,hsm,hsmRequestId,details,hash');
    expect(line).toBe(`7,2026-12-02T10:00:00.000Z,a1,request.created,r1,,Pending,'=cmd|calc,Crypto User,/keys/release-signing-key,p1,contoso-hsm,,"{""role"":""Crypto User"",""scope"":""/keys/release-signing-key"",""principalId"":""p1"",""hsm"":""contoso-hsm""}",h7`);
  });
});
