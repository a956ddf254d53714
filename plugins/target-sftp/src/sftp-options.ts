import { z } from 'zod';

export const sftpTargetOptions = z
  .object({
    host: z.string().min(1).describe('Host name or IP address of the SSH server.'),
    port: z.number().int().min(1).max(65535).default(22).describe('TCP port of the SSH server.'),
    username: z.string().min(1).describe('User to log in as.'),
    password: z.string().optional().describe('Password of the user. From a URL: the URL\'s password, else CAIRN_TARGET_PASSWORD. Never logged.'),
    privateKey: z.string().min(1).optional().describe('Path of a private key file (OpenSSH or PEM format) to log in with; read when connecting.'),
    passphrase: z.string().optional().describe('Passphrase of the private key. From a URL: CAIRN_TARGET_KEY_PASSPHRASE only, never the URL. Never logged.'),
    path: z
      .string()
      .startsWith('/', 'expected an absolute path on the server, starting with "/"')
      .describe('Absolute path of the repository directory on the server; created on first write.'),
    knownHosts: z.string().min(1).optional().describe('known_hosts file (OpenSSH format) that the server\'s host key must be listed in. Default ~/.ssh/known_hosts.'),
    hostFingerprint: z
      .string()
      .regex(/^(SHA256:)?[A-Za-z0-9+/]{43}=?$/, 'expected a SHA256 fingerprint as `ssh-keygen -l` prints it, e.g. SHA256:Qmh9Gifr…')
      .optional()
      .describe('Pinned SHA256 fingerprint of the server\'s host key (`SHA256:…`, as `ssh-keygen -lf` prints it); replaces the known_hosts check.'),
    insecureSkipHostKeyCheck: z
      .boolean()
      .default(false)
      .describe('Accept any host key without checking it. Anyone between you and the server could then read and change your backups; for throw-away test servers only.'),
    connections: z.number().int().min(1).max(64).default(4).describe('How many SSH connections to open at most; transfers are spread over them.'),
    timeoutMs: z.number().int().min(100).default(30_000).describe('How long a connection attempt or a request may go without an answer before it counts as failed.'),
    retries: z.number().int().min(0).max(20).default(5).describe('How often a failed request is tried again (with exponential back-off and a new connection) when the failure may be passing.'),
  })
  .refine((options) => options.password !== undefined || options.privateKey !== undefined, {
    message: 'give a password (in the URL or CAIRN_TARGET_PASSWORD) or a privateKey (`key=` in the URL)',
    path: ['password'],
  });

export type SftpTargetOptions = z.input<typeof sftpTargetOptions>;
export type ParsedSftpOptions = z.output<typeof sftpTargetOptions>;
