import { parseInteger } from '../args.js';
import { jsonOption, type CommandSpec } from '../command.js';
import { toJson } from '../output.js';

export const initCommand: CommandSpec = {
  name: 'init',
  summary: 'create a new, empty repository',
  usage: 'init --repo R [--compression N]',
  description: 'The password (CAIRN_PASSWORD or --password-file) encrypts everything in the repository; without it nothing can be read back.',
  examples: ['CAIRN_PASSWORD=… cairn init --repo /srv/backups'],
  options: {
    compression: { type: 'string', value: 'N', description: 'default compression level for backups, 1 (fastest) to 9 (smallest); default 3' },
    ...jsonOption,
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx) {
    const raw = ctx.string('compression');
    const compressionLevel = raw === undefined ? undefined : parseInteger('compression', raw, { min: 1, max: 9 });
    const repository = await ctx.repository();
    const cairn = await ctx.cairn();
    const { location } = await cairn.init({ repository, ...(compressionLevel !== undefined ? { compressionLevel } : {}) });
    if (ctx.json) ctx.print(toJson({ location }).trimEnd());
    else {
      ctx.print(`created repository at ${location}`);
      ctx.info('keep the password safe: without it the data cannot be restored');
    }
    return 0;
  },
};
