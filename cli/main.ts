import { Command, CommanderError } from 'commander';
import { processIo, Session, type GlobalOptions, type Io } from './context';
import { CliError, EXIT } from './exitCodes';
import { registerCompletion } from './commands/completion';
import { registerLoginCommands } from './commands/login';
import { registerOversightCommands } from './commands/oversight';
import { registerPolicyCommands } from './commands/policy';
import { registerRequestCommands } from './commands/requests';

/** The whole command tree; `io` is where it writes (tests capture it). */
export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command('hsmgov')
    .description('Ask for, approve and watch just-in-time access to a Managed HSM (hsm-access-governor)')
    .option('--json', 'print JSON for scripts instead of tables')
    .option('--api <url>', 'the service (default: the one you signed in to)')
    .option('--config <file>', 'where the sign-in is kept (default: HSMGOV_CONFIG or ~/.config/hsmgov/config.json)')
    .option('--policy <file>', 'a policy file to read principal names from (when the service has no eligibility API)')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text), writeErr: (text) => io.err(text) });
  const globalsOf = (command: Command): GlobalOptions => command.optsWithGlobals<GlobalOptions>();
  const open = (command: Command): Session => new Session(io, globalsOf(command));
  registerLoginCommands(program, io, globalsOf);
  registerRequestCommands(program, open, io, setExit);
  registerOversightCommands(program, open);
  registerPolicyCommands(program, open, io, globalsOf, setExit);
  registerCompletion(program, io);
  for (const command of allCommands(program)) command.exitOverride().configureOutput({ writeOut: (text) => io.out(text), writeErr: (text) => io.err(text) });
  return program;
}

function allCommands(command: Command): Command[] {
  return command.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** Runs one command line; resolves to the exit code (never throws). */
export async function run(argv: readonly string[], io: Io = processIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const json = argv.includes('--json');
    if (error instanceof CliError) {
      io.err(json ? `${JSON.stringify({ error: error.message, exitCode: error.exitCode, ...(error.problem ? { problem: error.problem } : {}) })}\n` : `hsmgov: ${error.message}\n`);
      return error.exitCode;
    }
    io.err(`hsmgov: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.failure;
  }
}

export function main(argv: readonly string[]): void {
  void run(argv).then((code) => {
    process.exitCode = code;
  });
}
