/**
 * An error a command-line user can act on: printed as one line (what is wrong and how to fix it), exit code 2.
 * Entry points catch it; library code throws it only where the message is meant for a person at a terminal.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = 2;
}
