// Live capture on the loopback interface with real traffic: a Modbus/TCP exchange between a local client and
// server, captured by tcpdump (pcap) and by dumpcap (pcapng) through a pipe, decoded on wall time.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { systemClock } from '@vigil/shared';
import { hasCommand, needComponent } from '@vigil/shared/testing';
import { ModbusDecoder, type ModbusEvent } from '../decode/modbus.js';
import { DecodePipeline } from '../decode/pipeline.js';
import { copyEvent } from '../decode/types.js';
import { mbap } from '../testing/frames.js';
import { captureCommand, LiveCapture, LiveCaptureConfig, tcpdumpCounters } from './live.js';
import { LinkType } from './types.js';

async function modbusServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('data', (req: Buffer) => {
      // Answer every Read Holding Registers request with one register holding the transaction id.
      for (let o = 0; o + 12 <= req.length; o += 12) {
        const trans = req.readUInt16BE(o);
        s.write(mbap(trans, req[o + 6] ?? 0, [3, 2, (trans >> 8) & 255, trans & 255]));
      }
    });
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

async function poll(cond: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!cond() && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
}

describe('LiveCapture', () => {
  it('builds the tool command lines from the configuration, with defaults', () => {
    const c = LiveCaptureConfig.parse({ interface: 'eth0', filter: 'tcp port 502', tool: 'tcpdump' });
    expect(captureCommand(c)).toEqual({
      cmd: 'tcpdump',
      args: ['-i', 'eth0', '-s', '65535', '-U', '--immediate-mode', '-n', '-w', '-', 'tcp port 502'],
    });
    expect(captureCommand(LiveCaptureConfig.parse({ interface: 'lo', snaplen: 128 })).args).toEqual([
      '-i',
      'lo',
      '-s',
      '128',
      '-q',
      '-w',
      '-',
    ]);
    expect(() => LiveCaptureConfig.parse({ interface: '', snaplen: 10 })).toThrow();
  });

  it("reads tcpdump's newest counters from its messages, running or final", () => {
    expect(tcpdumpCounters('tcpdump: listening on lo, link-type EN10MB (Ethernet)\n')).toBeUndefined();
    const running =
      'tcpdump: 24 packets captured, 102 packets received by filter, 0 packets dropped by kernel\n' +
      'tcpdump: 900 packets captured, 5000 packets received by filter, 4100 packets dropped by kernel\n';
    expect(tcpdumpCounters(running)).toEqual({ received: 5000, dropped: 4100 });
    const final =
      running +
      '\n9000 packets captured\n12000 packets received by filter\n3000 packets dropped by kernel\n' +
      '1 packet dropped by interface\n';
    expect(tcpdumpCounters(final)).toEqual({ received: 12000, dropped: 3001 });
  });

  it('reports a tool that fails to start with its own message', async () => {
    const cap = new LiveCapture(
      { interface: 'lo', tool: 'tcpdump', toolPath: '/nonexistent/tcpdump' },
      { onPacket: () => {} },
    );
    await expect(cap.start()).rejects.toThrow(/cannot run \/nonexistent\/tcpdump/);
    await cap.shutdown();
  });

  // lo gives Ethernet framing; tcpdump on `any` gives Linux cooked SLL2 framing.
  const setups = [
    { tool: 'tcpdump', iface: 'lo', linkType: LinkType.ETHERNET },
    { tool: 'dumpcap', iface: 'lo', linkType: LinkType.ETHERNET },
    { tool: 'tcpdump', iface: 'any', linkType: LinkType.LINUX_SLL2 },
  ] as const;
  for (const { tool, iface, linkType } of setups) {
    const root = process.getuid?.() === 0;
    const available = needComponent(
      `${tool} with capture rights`,
      hasCommand(tool) && root,
      `apt-get install ${tool === 'dumpcap' ? 'tshark' : tool}; capturing needs root or cap_net_raw on the tool`,
    );
    it.skipIf(!available)(
      `captures and decodes real Modbus/TCP traffic on ${iface} through ${tool}`,
      async () => {
        const server = await modbusServer();
        const events: ModbusEvent[] = [];
        const pipeline = new DecodePipeline({
          clock: systemClock,
          decoders: [new ModbusDecoder({ ports: [server.port] })],
          onEvent: (e) => {
            if (e.protocol === 'modbus') events.push(copyEvent(e));
          },
        });
        const linkTypes = new Set<number>();
        const cap = new LiveCapture(
          { interface: iface, filter: `tcp port ${server.port}`, snaplen: 256, tool },
          {
            onPacket: (p) => {
              linkTypes.add(p.linkType);
              pipeline.handle(p);
            },
          },
        );
        try {
          await cap.start();
          const client = connect(server.port, '127.0.0.1');
          await once(client, 'connect');
          for (let t = 1; t <= 5; t++) {
            client.write(mbap(t, 9, [3, 0, t, 0, 1]));
            await once(client, 'data');
          }
          client.end();
          await poll(() => events.length >= 10, 5000);
          await cap.shutdown();
          expect(events.map((e) => [e.trans_id, e.unit_id, e.is_response])).toEqual(
            [1, 2, 3, 4, 5].flatMap((t) => [
              [t, 9, false],
              [t, 9, true],
            ]),
          );
          expect(events.filter((e) => e.is_response).map((e) => e.values)).toEqual([[1], [2], [3], [4], [5]]);
          const s = cap.stats();
          expect(s.format).toBe(tool === 'dumpcap' ? 'pcapng' : 'pcap');
          expect(s.errors).toEqual({});
          expect(s.frames).toBeGreaterThanOrEqual(10);
          expect([...linkTypes]).toEqual([linkType]);
          // The tool's own counters (tcpdump's exit report; dumpcap's pcapng interface statistics): nothing lost.
          expect(s.kernel?.dropped).toBe(0);
          expect(s.kernel?.received).toBeGreaterThanOrEqual(s.frames);
          // Wall-clock time live: the frames are stamped now, not in a recorded past.
          expect(Math.abs((events[0]?.ts ?? 0) * 1000 - Date.now())).toBeLessThan(60_000);
        } finally {
          await cap.shutdown();
          await server.close();
        }
      },
    );
  }

  const tcpdumpAvailable = needComponent(
    'tcpdump with capture rights',
    hasCommand('tcpdump') && process.getuid?.() === 0,
    'apt-get install tcpdump; capturing needs root or cap_net_raw on the tool',
  );
  it.skipIf(!tcpdumpAvailable)(
    "reports the kernel's drops while capturing when the reader falls behind (tcpdump)",
    async () => {
      // A UDP flood on loopback while this reader stalls: tcpdump blocks on the full pipe and the kernel's capture
      // buffer overflows. The drops must show in the counters asked for while it runs, not only at exit.
      const port = 40_000 + (process.pid % 20_000);
      let stalled = false;
      let frames = 0;
      const cap = new LiveCapture(
        {
          interface: 'lo',
          filter: `udp dst port ${port}`,
          tool: 'tcpdump',
          snaplen: 128,
          statsIntervalMs: 1000,
        },
        {
          onPacket: () => {
            frames++;
            if (!stalled) {
              stalled = true;
              Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
            }
          },
        },
      );
      const flood = `const s = require('node:dgram').createSocket('udp4'); const b = Buffer.alloc(1000); let n = 0;
        const go = () => { for (let i = 0; i < 2000; i++) s.send(b, ${port}, '127.0.0.1');
          n += 2000; if (n < 300000) setImmediate(go); else s.send(b, ${port}, '127.0.0.1', () => s.close()); };
        go();`;
      try {
        await cap.start();
        const sender = spawn(process.execPath, ['-e', flood], { stdio: 'ignore' });
        await once(sender, 'exit');
        await poll(() => (cap.stats().kernel?.dropped ?? 0) > 0, 15_000);
        const running = cap.stats().kernel;
        expect(running?.dropped).toBeGreaterThan(0);
        expect(running?.received).toBeGreaterThanOrEqual(running?.dropped ?? 0);
        expect(cap.stats().exitCode).toBeNull();
        await cap.shutdown();
        const final = cap.stats();
        expect(final.kernel?.dropped).toBeGreaterThanOrEqual(running?.dropped ?? 0);
        expect(frames).toBeGreaterThan(0);
        expect(frames).toBeLessThan(300_001);
      } finally {
        await cap.shutdown();
      }
    },
    60_000,
  );
});
