// Loads a pipeline with many concurrent Modbus/TCP flows, each left with a partial PDU buffered (the worst case for
// memory), and reports the process RSS. Used by the decode benchmark in a fresh `node` process on the compiled code,
// so that the figure is the agent's and not the TypeScript loader's.
import { PacketClock } from '../capture/packet-clock.js';
import { LinkType, type RawPacket } from '../capture/types.js';
import { DecodePipeline } from '../decode/pipeline.js';
import { mbap, tcpFrame } from './frames.js';

export interface FlowLoadReport {
  flows: number;
  events: number;
  rssBeforeMb: number;
  rssMb: number;
  heapMb: number;
}

const IP_SRC = 26;
const IP_DST = 30;
const TCP_SPORT = 34;
const TCP_DPORT = 36;

export function loadFlows(n: number): FlowLoadReport {
  const before = process.memoryUsage().rss;
  const clock = new PacketClock();
  let events = 0;
  const pipeline = new DecodePipeline({ clock, onEvent: () => events++ });
  const raw: RawPacket = {
    frame: 0,
    tsSec: 1_700_000_000,
    tsNsec: 0,
    linkType: LinkType.ETHERNET,
    buf: Buffer.alloc(0),
    off: 0,
    capLen: 0,
    origLen: 0,
  };
  // Three frames per flow built once and patched in place (client address and port): request, response, and the
  // next request's first half, which stays buffered as between two segments in a busy network.
  const req = mbap(1, 1, [3, 0, 0, 0, 10]);
  const ends = { src: '10.0.0.1', dst: '10.200.0.1', sport: 1024 };
  const frames = [
    tcpFrame({ ...ends, dport: 502, seq: 1, payload: req }),
    tcpFrame({
      src: ends.dst,
      dst: ends.src,
      sport: 502,
      dport: ends.sport,
      seq: 1,
      payload: mbap(1, 1, [3, 2, 0, 1]),
    }),
    tcpFrame({ ...ends, dport: 502, seq: 1 + req.length, payload: req.subarray(0, 5) }),
  ];
  for (let f = 0; f < n; f++) {
    const client = (10 << 24) | (f >> 6);
    const port = 1024 + (f & 63);
    frames.forEach((fr, i) => {
      const fromClient = i !== 1;
      fr.writeUInt32BE(client >>> 0, fromClient ? IP_SRC : IP_DST);
      fr.writeUInt16BE(port, fromClient ? TCP_SPORT : TCP_DPORT);
      raw.frame++;
      raw.buf = fr;
      raw.capLen = raw.origLen = fr.length;
      clock.observe(raw.tsSec, raw.tsNsec);
      pipeline.handle(raw);
    });
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const after = process.memoryUsage();
  return {
    flows: pipeline.stats().flows.active,
    events,
    rssBeforeMb: before / 2 ** 20,
    rssMb: after.rss / 2 ** 20,
    heapMb: after.heapUsed / 2 ** 20,
  };
}
