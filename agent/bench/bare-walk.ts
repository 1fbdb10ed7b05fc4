// The benchmarks' reference point for this machine at this moment (shared by decode.ts and analyze.ts).

/**
 * Reference point for this machine at this moment: a bare walk over the same records reading the same header fields
 * (caplen, ethertype, IP protocol and addresses, ports, MBAP transaction id), no flows, no reassembly, no events.
 */
export function bareWalk(data: Buffer): { packets: number; wallMs: number; cpuMs: number } {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let o = 24;
  let packets = 0;
  let acc = 0;
  while (o + 16 <= data.length) {
    const cap = data.readUInt32LE(o + 8);
    const f = o + 16;
    if (data.readUInt16BE(f + 12) === 0x0800 && data[f + 23] === 6) {
      const ihl = ((data[f + 14] ?? 0) & 15) * 4;
      const t = f + 14 + ihl;
      const thl = ((data[t + 12] ?? 0) >> 4) * 4;
      acc +=
        data.readUInt32BE(f + 26) ^
        data.readUInt32BE(f + 30) ^
        data.readUInt16BE(t) ^
        data.readUInt16BE(t + 2);
      if (t + thl + 2 <= f + cap) acc += data.readUInt16BE(t + thl);
    }
    o = f + cap;
    packets++;
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (acc === 0.5) process.stderr.write('');
  return { packets, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}
