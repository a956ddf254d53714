import type { Logger, PluginContext, SourceBackupContext } from '@cairn/core';

/** A logger that keeps lines in memory, for assertions. */
export function memoryLogger(): Logger & { lines: Array<{ level: string; message: string }> } {
  const lines: Array<{ level: string; message: string }> = [];
  const log = (level: string) => (message: string) => void lines.push({ level, message });
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

export function pluginContext(signal: AbortSignal = new AbortController().signal): PluginContext {
  return { signal, logger: memoryLogger() };
}

/** A backup context that records the warnings a source reports. */
export function backupContext(signal?: AbortSignal): SourceBackupContext & { warnings: Array<{ path: string; message: string; code?: string }> } {
  const warnings: Array<{ path: string; message: string; code?: string }> = [];
  return {
    ...pluginContext(signal),
    warnings,
    warn(path, message, code) {
      warnings.push(code === undefined ? { path, message } : { path, message, code });
    },
  };
}
