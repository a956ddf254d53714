import { readPasswordFile } from '../args.js';
import type { CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';

export const keyPasswdCommand: CommandSpec = {
  name: 'key passwd',
  summary: 'change the repository password (no data is rewritten)',
  usage: 'key passwd --repo R [--new-password-file F]',
  description: 'The current password comes from CAIRN_PASSWORD or --password-file, the new one from CAIRN_NEW_PASSWORD or --new-password-file.\n'
    + 'Afterwards only the new password opens the repository.',
  examples: ['CAIRN_PASSWORD=old CAIRN_NEW_PASSWORD=new cairn key passwd --repo /srv/backups'],
  options: {
    'new-password-file': { type: 'string', value: 'F', description: 'read the new password from F (default: $CAIRN_NEW_PASSWORD)' },
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx) {
    const file = ctx.string('new-password-file');
    const newPassword = file !== undefined ? await readPasswordFile('new-password-file', file, ctx.io.cwd) : ctx.io.env.CAIRN_NEW_PASSWORD;
    if (newPassword === undefined) {
      throw new UsageError('CLI_MISSING_PASSWORD', 'no new password given: set CAIRN_NEW_PASSWORD or pass --new-password-file F');
    }
    if (newPassword === '') {
      throw new UsageError('CLI_MISSING_PASSWORD', file !== undefined ? `the new password file ${file} is empty` : 'CAIRN_NEW_PASSWORD is empty');
    }
    const repository = await ctx.repository();
    const cairn = await ctx.cairn();
    await cairn.changePassword({ repository, newPassword });
    ctx.print('password changed: only the new password opens the repository now');
    return 0;
  },
};
