// The Fleet API calls of proto/flwr/proto/fleet.proto over the two transports a SuperNode meets:
// - gRPC service flwr.proto.Fleet (the Vigil aggregator serves it on the link's port, inside mTLS);
// - protobuf over HTTP, POST /v1/fleet/<kebab-case-call> with content-type application/protobuf, which is how
//   flower-superlink 1.42 serves the Fleet API. Each request is signed with the node's key (Flower's node auth):
//   headers flwr-public-key (base64 of the PEM public key), flwr-timestamp (ISO-8601) and flwr-signature (base64 of
//   the ECDSA-SHA256 DER signature of the timestamp).
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import {
  FLEET_METHODS,
  pbDecode,
  pbEncode,
  type FleetMethod,
  type FleetRequest,
  type FleetResponse,
} from './pb.js';

/** A Fleet call that failed: HTTP status or gRPC code, and the server's explanation. */
export class FleetRpcError extends Error {
  override readonly name = 'FleetRpcError';
  constructor(
    readonly method: FleetMethod,
    /** HTTP status (HTTP transport) or gRPC status code (gRPC transport); 0 when the server was not reached. */
    readonly code: number,
    detail: string,
  ) {
    super(`Fleet.${method}: ${detail}`);
  }
}

export interface FleetRpc {
  call<M extends FleetMethod>(
    method: M,
    request: FleetRequest<M>,
    signal?: AbortSignal,
  ): Promise<FleetResponse<M>>;
  close(): void;
}

/** A SuperNode's identity key for Flower's node authentication: ECDSA on P-384, as flower-supernode makes it. */
export class NodeKey {
  private constructor(
    private readonly privateKey: KeyObject,
    /** The public key as PEM (SubjectPublicKeyInfo) bytes, what RegisterNode/ActivateNode carry. */
    readonly publicKeyPem: Uint8Array,
  ) {}

  static generate(): NodeKey {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    return new NodeKey(privateKey, Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })));
  }

  /** Loads a PKCS#8 PEM private key (the format flower-supernode keeps its key in). */
  static fromPrivatePem(pem: string): NodeKey {
    const privateKey = createPrivateKey(pem);
    const details = privateKey.asymmetricKeyDetails;
    if (privateKey.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'secp384r1') {
      throw new Error('a Flower node key is an ECDSA P-384 key');
    }
    const pub = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' });
    return new NodeKey(privateKey, Buffer.from(pub));
  }

  privatePem(): string {
    return this.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  /** The three node-auth headers for a request made now. */
  authHeaders(now = new Date()): Record<string, string> {
    // Python's datetime.isoformat() of an aware UTC time: microseconds and "+00:00".
    const timestamp = now.toISOString().replace(/\.(\d{3})Z$/, '.$1000+00:00');
    const signature = sign('sha256', Buffer.from(timestamp, 'ascii'), this.privateKey);
    return {
      'flwr-public-key': Buffer.from(this.publicKeyPem).toString('base64'),
      'flwr-timestamp': timestamp,
      'flwr-signature': signature.toString('base64'),
    };
  }
}

export interface HttpFleetRpcOptions {
  /** e.g. http://127.0.0.1:9092 (flower-superlink --insecure) or https://... */
  baseUrl: string;
  key: NodeKey;
  /** Per-call timeout, ms (default 30 s). */
  timeoutMs?: number;
}

/** The Fleet API as flower-superlink 1.42 serves it: protobuf over HTTP. */
export class HttpFleetRpc implements FleetRpc {
  private readonly base: string;
  constructor(private readonly o: HttpFleetRpcOptions) {
    this.base = o.baseUrl.replace(/\/+$/, '');
  }

  async call<M extends FleetMethod>(
    method: M,
    request: FleetRequest<M>,
    signal?: AbortSignal,
  ): Promise<FleetResponse<M>> {
    const m = FLEET_METHODS[method];
    const timeout = AbortSignal.timeout(this.o.timeoutMs ?? 30_000);
    let res: Response;
    try {
      res = await fetch(`${this.base}${m.httpPath}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/protobuf',
          accept: 'application/protobuf',
          ...this.o.key.authHeaders(),
        },
        body: pbEncode(m.request, request),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      throw new FleetRpcError(method, 0, `cannot reach ${this.base}: ${(err as Error).message}`);
    }
    const body = new Uint8Array(await res.arrayBuffer());
    if (!res.ok) {
      throw new FleetRpcError(
        method,
        res.status,
        `HTTP ${res.status}: ${Buffer.from(body).toString('utf8').slice(0, 300)}`,
      );
    }
    return pbDecode<FleetResponse<M>>(m.response, body);
  }

  close(): void {}
}

/** grpc-js service definition of flwr.proto.Fleet (for the server, and for the client below). */
export function fleetServiceDefinition(): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const [name, m] of Object.entries(FLEET_METHODS)) {
    def[name] = {
      path: `/flwr.proto.Fleet/${name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (v: object) => Buffer.from(pbEncode(m.request, v)),
      requestDeserialize: (b: Buffer) => pbDecode(m.request, b),
      responseSerialize: (v: object) => Buffer.from(pbEncode(m.response, v)),
      responseDeserialize: (b: Buffer) => pbDecode(m.response, b),
    };
  }
  return def;
}

export interface GrpcFleetRpcOptions {
  /** host:port */
  address: string;
  credentials: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  /** Per-call deadline, ms (default 30 s). */
  timeoutMs?: number;
}

type UnaryFn = (
  req: object,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: object) => void,
) => grpc.ClientUnaryCall;

/** The Fleet API as the Vigil aggregator serves it: gRPC (the node is identified by its client certificate). */
export class GrpcFleetRpc implements FleetRpc {
  private readonly client: grpc.Client;
  constructor(private readonly o: GrpcFleetRpcOptions) {
    const Ctor = grpc.makeGenericClientConstructor(fleetServiceDefinition(), 'Fleet');
    this.client = new Ctor(o.address, o.credentials, o.channelOptions ?? {});
  }

  call<M extends FleetMethod>(
    method: M,
    request: FleetRequest<M>,
    signal?: AbortSignal,
  ): Promise<FleetResponse<M>> {
    const fn = (this.client as unknown as Record<string, UnaryFn>)[method]!.bind(this.client);
    return new Promise((resolve, reject) => {
      const call = fn(
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + (this.o.timeoutMs ?? 30_000) },
        (err, res) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) reject(new FleetRpcError(method, err.code, err.details || err.message));
          else resolve(res as FleetResponse<M>);
        },
      );
      const onAbort = () => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    this.client.close();
  }
}
