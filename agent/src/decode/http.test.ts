import { describe, expect, it } from 'vitest';
import { tcpFrame } from '../testing/frames.js';
import { decodeFrames } from '../testing/harness.js';
import { MAX_HEADER_BYTES, type HttpEvent } from './http.js';

const C = { src: '10.0.0.1', dst: '10.0.0.80', sport: 40002, dport: 80 };
const S = { src: '10.0.0.80', dst: '10.0.0.1', sport: 80, dport: 40002 };

function http(msgs: [boolean, string | Buffer][]): { events: HttpEvent[]; counters: Record<string, number> } {
  let cseq = 1;
  let sseq = 1;
  const frames = msgs.map(([toServer, p]) => {
    const payload = Buffer.isBuffer(p) ? p : Buffer.from(p, 'latin1');
    const f = tcpFrame(toServer ? { ...C, seq: cseq, payload } : { ...S, seq: sseq, payload });
    if (toServer) cseq += payload.length;
    else sseq += payload.length;
    return f;
  });
  const { events, pipeline } = decodeFrames(frames);
  return {
    events: events.filter((e): e is HttpEvent => e.protocol === 'http'),
    counters: pipeline.stats().counters,
  };
}

describe('HTTP decoder', () => {
  it('reads a request and its response with a Content-Length body', () => {
    const { events } = http([
      [true, 'GET /status?x=1 HTTP/1.1\r\nHost: hmi.local\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n'],
      [false, 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello'],
    ]);
    expect(events).toMatchObject([
      {
        frame: 1,
        method: 'GET',
        uri: '/status?x=1',
        version: 'HTTP/1.1',
        host: 'hmi.local',
        user_agent: 'curl/7.88',
        header_count: 3,
        body_size: 0,
      },
      {
        frame: 2,
        is_response: true,
        status: 200,
        reason: 'OK',
        content_length: 5,
        body_size: 5,
        request_method: 'GET',
        request_uri: '/status?x=1',
      },
    ]);
  });

  it('emits a message in the frame that completes its body', () => {
    const { events } = http([
      [true, 'POST /api HTTP/1.0\r\nContent-Length: 10\r\n\r\n12345'],
      [true, '67890'],
    ]);
    expect(events).toMatchObject([{ frame: 2, method: 'POST', version: 'HTTP/1.0', body_size: 10 }]);
  });

  it('follows a chunked body chunk by chunk and emits the message with the last chunk', () => {
    const { events, counters } = http([
      [true, 'GET / HTTP/1.1\r\n\r\n'],
      [false, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'],
      [false, '3\r\nabc\r\n0\r\n\r\n'],
      [true, 'GET /next HTTP/1.1\r\n\r\n'],
    ]);
    expect(events.map((e) => [e.frame, e.method ?? e.status, e.body_size])).toEqual([
      [1, 'GET', 0],
      [3, 200, 8],
      [4, 'GET', 0],
    ]);
    expect(counters).toEqual({});
  });

  it('gives no body to 204 and 304 responses', () => {
    const { events } = http([
      [true, 'GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n'],
      [false, 'HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n'],
    ]);
    expect(events.map((e) => e.uri ?? e.status)).toEqual(['/a', '/b', 204, 304]);
  });

  it('treats endless headers as broken framing after the header limit, without buffering more', () => {
    const head = 'GET / HTTP/1.1\r\n';
    const junk = Buffer.from('X-A: ' + 'a'.repeat(2000) + '\r\n', 'latin1');
    const msgs: [boolean, string | Buffer][] = [[true, head]];
    for (let i = 0; i < 20; i++) msgs.push([true, junk]);
    const { events, counters } = http(msgs);
    expect(events).toEqual([]);
    expect(counters['http.header_too_large']).toBeGreaterThanOrEqual(1);
    expect(counters['http.bad_framing']).toBeGreaterThanOrEqual(1);
    expect(MAX_HEADER_BYTES).toBeLessThan(20 * junk.length);
  });

  it('counts a bad request line and a bad Content-Length, and rejects binary junk', () => {
    const { events, counters } = http([
      [true, 'GET\r\n\r\n'],
      [true, 'GET /x HTTP/9\r\n\r\n'],
      [true, 'GET / HTTP/1.1\r\nContent-Length: -4\r\n\r\n'],
      [true, Buffer.from([0, 1, 2, 3, 0xff])],
    ]);
    expect(events.map((e) => e.malformed)).toEqual(['bad_request_line']);
    expect(counters['http.bad_content_length']).toBe(1);
    expect(counters['http.bad_framing']).toBe(3);
  });
});
