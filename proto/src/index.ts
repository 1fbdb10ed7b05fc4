// Locates the .proto files shipped in this workspace, for @grpc/proto-loader.
import { fileURLToPath } from 'node:url';

/** Root directory of the .proto tree (import paths are relative to it, e.g. `vigil/v1/link.proto`). */
export const PROTO_ROOT = fileURLToPath(new URL('..', import.meta.url));
