/**
 * How every command-line tool ends: a configuration mistake prints what to fix (no stack
 * trace), anything else prints its message and exits non-zero. The tools are compiled with the
 * gateway (`dist/cli/*.js`) and run from source by the npm scripts.
 */
import { ConfigError } from '../config.js';

export class UsageError extends Error {}

export async function runCli(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UsageError) {
      console.error(error.message);
      process.exitCode = 2;
    } else {
      console.error(`Failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    }
  }
}
