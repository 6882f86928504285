import { run } from '../../cli/main';
import type { Io } from '../../cli/context';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as JSON (for `--json` runs). */
  json<T = Record<string, unknown>>(): T;
}

/** Runs one `hsmgov` command line in this process, with its own environment, capturing what it writes. */
export async function hsmgov(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    out: (text) => {
      stdout += text;
    },
    err: (text) => {
      stderr += text;
    },
    env,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 200))),
  };
  const code = await run(argv, io);
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
}
