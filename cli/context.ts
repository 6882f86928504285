import { ApiClient } from './client';
import { configPath, loadConfig, type CliConfig } from './config';
import { credentialFor } from './credential';
import { Directory, policyFileFor } from './names';

/** Where a command writes, and what it reads from its surroundings; tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  readonly env: NodeJS.ProcessEnv;
  /** Waits between polls (`wait`); tests may shorten it. */
  sleep(ms: number): Promise<void>;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface GlobalOptions {
  json?: boolean;
  api?: string;
  config?: string;
  policy?: string;
}

/** What every command that talks to the service needs, built once from the saved sign-in. */
export class Session {
  private directory?: Promise<Directory>;
  readonly config: CliConfig;
  readonly api: ApiClient;

  constructor(readonly io: Io, readonly options: GlobalOptions) {
    this.config = loadConfig(options.config ?? configPath(io.env));
    this.api = new ApiClient(options.api ?? this.config.api, credentialFor(this.config.signIn, (line) => io.err(`${line}\n`)), this.config.scope);
  }

  get json(): boolean {
    return options(this).json === true;
  }

  names(): Promise<Directory> {
    this.directory ??= Directory.load(this.api, policyFileFor(this.options.policy, this.io.env));
    return this.directory;
  }

  /** Data for scripts on stdout as JSON, or words for people. */
  emit(data: unknown, forPeople: () => string | Promise<string>): Promise<void> | void {
    if (this.json) return this.io.out(`${JSON.stringify(data, null, 2)}\n`);
    return Promise.resolve(forPeople()).then((text) => this.io.out(text));
  }
}

const options = (session: Session): GlobalOptions => session.options;
