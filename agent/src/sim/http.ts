// HTTP/1.1 requests and responses of the HMI's web interface.

export const HTTP_PORT = 80;

export function request(
  method: 'GET' | 'POST',
  path: string,
  host: string,
  userAgent: string,
  body?: string,
  extra: Record<string, string> = {},
): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`, `User-Agent: ${userAgent}`, 'Accept: */*'];
  for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${v}`);
  if (body !== undefined) {
    lines.push(
      'Content-Type: application/x-www-form-urlencoded',
      `Content-Length: ${Buffer.byteLength(body)}`,
    );
  }
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + (body ?? ''), 'latin1');
}

const REASONS: Record<number, string> = { 200: 'OK', 302: 'Found', 401: 'Unauthorized', 404: 'Not Found' };

export function response(
  status: number,
  contentType: string,
  body: string,
  extra: Record<string, string> = {},
): Buffer {
  const lines = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'OK'}`,
    'Server: HMI-WebServer/2.4',
    `Content-Type: ${contentType}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${v}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'latin1');
}
