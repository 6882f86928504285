import type { Command } from 'commander';
import { CliError, EXIT } from '../exitCodes';
import type { Io } from '../context';

const words = (command: Command): string => [...command.commands.map((c) => c.name()), ...command.options.map((o) => o.long ?? o.short ?? '')].filter(Boolean).join(' ');

/** A bash completion function built from the command tree itself, so it never falls behind. */
export function bashCompletion(program: Command): string {
  const cases = program.commands.flatMap((c) => [
    `    "${c.name()}") words="${words(c)} ${words(program)}" ;;`,
    ...c.commands.map((sub) => `    "${c.name()} ${sub.name()}") words="${words(sub)} ${words(program)}" ;;`),
  ]);
  return `# hsmgov completion for bash: source <(hsmgov completion bash)
_hsmgov() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" key="" words=""
  local first="\${COMP_WORDS[1]}" second="\${COMP_WORDS[2]}"
  if [ "$COMP_CWORD" -gt 2 ] && [[ "$second" != -* ]]; then key="$first $second"; elif [ "$COMP_CWORD" -gt 1 ]; then key="$first"; fi
  case "$key" in
${cases.join('\n')}
    *) words="${words(program)}" ;;
  esac
  [ "$COMP_CWORD" -le 1 ] && words="${words(program)}"
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -F _hsmgov hsmgov
`;
}

export function registerCompletion(program: Command, io: Io): void {
  program.command('completion <shell>').description('print shell completion: source <(hsmgov completion bash), or zsh')
    .action((shell: string) => {
      if (shell === 'bash') return io.out(bashCompletion(program));
      if (shell === 'zsh') return io.out(`autoload -U +X bashcompinit && bashcompinit\n${bashCompletion(program)}`);
      throw new CliError(`No completion for '${shell}': bash or zsh`, EXIT.usage);
    });
}
