import { globalOptions, type OptionSpecs } from './args.js';
import type { CommandSpec } from './command.js';

export function mainHelp(commands: readonly CommandSpec[], version: string): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `cairn ${version}: encrypted, deduplicating, versioned backups`,
    '',
    'Usage: cairn <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    ...optionLines({ ...globalOptions, version: { type: 'boolean', description: 'print the version' } }),
    '',
    'Environment:',
    '  CAIRN_REPOSITORY    repository, when --repo is not given',
    '  CAIRN_PASSWORD      repository password, when --password-file is not given',
    '  CAIRN_NEW_PASSWORD  new password for `cairn key passwd`',
    '',
    'Exit status: 0 success, 1 failure, 2 bad usage or configuration,',
    '3 backup saved but some files could not be read, 130/143 interrupted (SIGINT/SIGTERM).',
    '',
    'Run `cairn <command> --help` for the options of a command.',
  ].join('\n');
}

export function commandHelp(command: CommandSpec): string {
  const lines = [`Usage: cairn ${command.usage}`, '', `${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.`];
  if (command.description) lines.push('', ...command.description.split('\n'));
  if (Object.keys(command.options).length) lines.push('', 'Options:', ...optionLines(command.options));
  lines.push('', 'Global options:', ...optionLines(globalOptions));
  if (command.examples.length) lines.push('', 'Examples:', ...command.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

function optionLines(options: OptionSpecs): string[] {
  const labels = Object.entries(options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
    return [flag, spec.description] as const;
  });
  const width = Math.max(17, ...labels.map(([flag]) => flag.length));
  return labels.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`);
}
