// A long-running part of a process (server, background job, link). start() brings it up; shutdown() stops it and
// is safe to call twice and before start().
export interface Component {
  start(): Promise<void>;
  shutdown(): Promise<void>;
}
