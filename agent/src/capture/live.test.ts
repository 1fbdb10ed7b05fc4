// Live capture on the loopback interface with real traffic: a Modbus/TCP exchange between a local client and
// server, captured by tcpdump (pcap) and by dumpcap (pcapng) through a pipe, decoded on wall time.
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { systemClock } from '@vigil/shared';
import { hasCommand, needComponent } from '@vigil/shared/testing';
import { ModbusDecoder, type ModbusEvent } from '../decode/modbus.js';
import { DecodePipeline } from '../decode/pipeline.js';
import { mbap } from '../testing/frames.js';
import { captureCommand, LiveCapture, LiveCaptureConfig } from './live.js';

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

  it('reports a tool that fails to start with its own message', async () => {
    const cap = new LiveCapture(
      { interface: 'lo', tool: 'tcpdump', toolPath: '/nonexistent/tcpdump' },
      { onPacket: () => {} },
    );
    await expect(cap.start()).rejects.toThrow(/cannot run \/nonexistent\/tcpdump/);
    await cap.shutdown();
  });

  for (const tool of ['tcpdump', 'dumpcap'] as const) {
    const root = process.getuid?.() === 0;
    const available = needComponent(
      `${tool} with capture rights`,
      hasCommand(tool) && root,
      `apt-get install ${tool === 'dumpcap' ? 'tshark' : tool}; capturing needs root or cap_net_raw on the tool`,
    );
    it.skipIf(!available)(`captures and decodes real Modbus/TCP traffic on lo through ${tool}`, async () => {
      const server = await modbusServer();
      const events: ModbusEvent[] = [];
      const pipeline = new DecodePipeline({
        clock: systemClock,
        decoders: [new ModbusDecoder({ ports: [server.port] })],
        onEvent: (e) => {
          if (e.protocol === 'modbus') events.push(e);
        },
      });
      const cap = new LiveCapture(
        { interface: 'lo', filter: `tcp port ${server.port}`, snaplen: 256, tool },
        { onPacket: (p) => pipeline.handle(p) },
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
        // Wall-clock time live: the frames are stamped now, not in a recorded past.
        expect(Math.abs((events[0]?.ts ?? 0) * 1000 - Date.now())).toBeLessThan(60_000);
      } finally {
        await cap.shutdown();
        await server.close();
      }
    });
  }
});
