// DNS messages (RFC 1035) for the engineering workstation's lookups, the plant's DNS server answers, and tunneling.

export const DNS_PORT = 53;
export const DnsType = { A: 1, TXT: 16, AAAA: 28 } as const;

function qname(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.split('.')) {
    const l = Buffer.from(label, 'ascii');
    if (l.length === 0 || l.length > 63) throw new Error(`bad DNS label in ${name}`);
    parts.push(Buffer.from([l.length]), l);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function header(id: number, flags: number, qd: number, an: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(flags, 2);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  return b;
}

function question(name: string, type: number): Buffer {
  const q = qname(name);
  const t = Buffer.alloc(4);
  t.writeUInt16BE(type, 0);
  t.writeUInt16BE(1, 2);
  return Buffer.concat([q, t]);
}

export function query(id: number, name: string, type: number): Buffer {
  return Buffer.concat([header(id, 0x0100, 1, 0), question(name, type)]);
}

export type DnsAnswer =
  { type: typeof DnsType.A; address: number } | { type: typeof DnsType.TXT; text: string };

/** A response with the question echoed and the answers (none and rcode 3 = NXDOMAIN when `answers` is empty). */
export function response(
  id: number,
  name: string,
  type: number,
  answers: readonly DnsAnswer[],
  ttl = 300,
): Buffer {
  const rr: Buffer[] = [];
  for (const a of answers) {
    let rdata: Buffer;
    if (a.type === DnsType.A) {
      rdata = Buffer.alloc(4);
      rdata.writeUInt32BE(a.address >>> 0, 0);
    } else {
      const chunks: Buffer[] = [];
      const t = Buffer.from(a.text, 'ascii');
      for (let o = 0; o < t.length; o += 255) {
        const c = t.subarray(o, o + 255);
        chunks.push(Buffer.from([c.length]), c);
      }
      rdata = Buffer.concat(chunks);
    }
    const h = Buffer.alloc(12);
    h.writeUInt16BE(0xc00c, 0); // pointer to the question's name
    h.writeUInt16BE(a.type, 2);
    h.writeUInt16BE(1, 4);
    h.writeUInt32BE(ttl, 6);
    h.writeUInt16BE(rdata.length, 10);
    rr.push(h, rdata);
  }
  const flags = answers.length === 0 ? 0x8183 : 0x8180;
  return Buffer.concat([header(id, flags, 1, answers.length), question(name, type), ...rr]);
}
