// Turns the measurements into per-step tables, Cairn/restic ratios and the issue's targets.
const MiB = 2 ** 20;

export const STEPS = [
  { key: 'backup-first', title: '1. First backup', basis: 'dataset' },
  { key: 'backup-unchanged', title: '2. Backup of the unchanged tree', basis: 'dataset' },
  { key: 'backup-incremental', title: '3. Backup after --mutate (~2% changed)', basis: 'mutated tree' },
  { key: 'restore', title: '4. Full restore of the latest snapshot (verified)', basis: 'mutated tree' },
  { key: 'check', title: '5. check --read-data (borg: check --verify-data)', basis: 'repository' },
];

const fmt = (v, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : null);
const fmtRatio = (r) => (r === null ? '-' : `${r.toFixed(2)}x`);

/** A plain-text table; `align` holds 'l' or 'r' per column (default: first left, rest right). */
export function table(header, rows, align = header.map((_, i) => (i === 0 ? 'l' : 'r'))) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (align[i] === 'l' ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function stepOf(tool, key) {
  const s = tool?.steps?.[key];
  return s && s.ok ? s : null;
}

/** Peak RSS over every command a tool ran (init included). */
export function maxRss(tool) {
  const all = Object.values(tool?.steps ?? {}).filter((s) => s.ok).map((s) => s.peakRssBytes);
  return all.length ? Math.max(...all) : null;
}

/** Ratios Cairn/restic per step and metric, for the JSON and the tables. */
export function computeRatios(results) {
  const c = results.find((t) => t.name === 'cairn');
  const r = results.find((t) => t.name === 'restic');
  const out = {};
  for (const { key } of STEPS) {
    const a = stepOf(c, key);
    const b = stepOf(r, key);
    out[key] = {
      seconds: ratio(a?.seconds, b?.seconds),
      mibPerSec: ratio(a?.mibPerSec, b?.mibPerSec),
      peakRss: ratio(a?.peakRssBytes, b?.peakRssBytes),
      repoBytes: ratio(a?.repoBytes, b?.repoBytes),
    };
  }
  out.repository = {
    bytesAfterIncremental: ratio(c?.repoBytes?.afterIncremental, r?.repoBytes?.afterIncremental),
    addedByIncremental: ratio(c?.addedByIncremental, r?.addedByIncremental),
    maxPeakRss: ratio(maxRss(c), maxRss(r)),
  };
  return out;
}

/** The issue's targets; each { target, value, status: PASS | FAIL | n/a, note }. */
export function evaluateTargets(results) {
  const c = results.find((t) => t.name === 'cairn');
  const r = results.find((t) => t.name === 'restic');
  const status = (v, pass) => (v === null || v === undefined ? 'n/a' : pass(v) ? 'PASS' : 'FAIL');
  const timeTarget = (key, label, aim) => {
    const v = ratio(stepOf(c, key)?.seconds, stepOf(r, key)?.seconds);
    const notes = [];
    if (aim && v !== null) notes.push(v <= aim ? `aim ${aim}x met` : `aim ${aim}x not met`);
    // Sub-second steps jitter by a few percent from run to run; say so rather than hide a miss.
    if (v !== null && v > 1 && v <= 1.05) notes.push('within 5%: may be noise, rerun');
    const note = notes.join('; ');
    return { target: `${label}: cairn time <= restic`, value: v === null ? '-' : `${v.toFixed(2)}x restic`, status: status(v, (x) => x <= 1), note };
  };
  const size = ratio(c?.repoBytes?.afterIncremental, r?.repoBytes?.afterIncremental);
  const rss = maxRss(c);
  const added = c?.addedByIncremental ?? null;
  return [
    timeTarget('backup-first', 'first backup', 0.5),
    timeTarget('backup-unchanged', 'unchanged-tree backup'),
    timeTarget('backup-incremental', 'incremental backup'),
    timeTarget('restore', 'full restore'),
    { target: 'repository size after step 3 <= 1.05x restic', value: size === null ? '-' : `${size.toFixed(3)}x restic`, status: status(size, (x) => x <= 1.05), note: '' },
    { target: 'peak RSS of every cairn command < 300 MiB', value: rss === null ? '-' : `${fmt(rss / MiB)} MiB`, status: status(rss, (x) => x < 300 * MiB), note: '' },
    { target: 'mutate step adds < 5 MiB to the cairn repository', value: added === null ? '-' : `${fmt(added / MiB, 2)} MiB`, status: status(added, (x) => x < 5 * MiB), note: '' },
  ];
}

/** The full human-readable report. */
export function renderReport({ results, ratios, targets, meta }) {
  const out = [];
  const ran = results.filter((t) => t.available);
  out.push(`Cairn benchmark — scale ${meta.scale}: ${meta.dataset.files} files, ${fmt(meta.dataset.bytes / MiB, 0)} MiB` +
    ` (after mutate: ${meta.mutated ? `${meta.mutated.files} files, ${fmt(meta.mutated.bytes / MiB, 0)} MiB` : '-'})`);
  out.push(`${meta.host.cpus} CPUs (${meta.host.cpuModel}), ${fmt(meta.host.memBytes / 2 ** 30)} GiB RAM, node ${meta.host.node}; ` +
    `1-minute load ${fmt(meta.host.loadBefore, 2)} before, ${fmt(meta.host.loadAfter, 2)} after (each tool adds up to ~${meta.host.cpus} while it runs)`);
  out.push('Page cache: not dropped (needs privileges); every tool\'s runs start after the same warm-up read of the whole dataset, so all see a warm cache.');
  out.push('MiB/s = bytes of the tree (backups, restore) or of the repository (check) / wall seconds. Peak RSS = max of ru_maxrss (GNU time) and the /proc tree sum.');
  for (const t of results) {
    if (!t.available) out.push(`${t.name}: not run — ${t.reason}`);
    else if (!t.ok) out.push(`${t.name}: FAILED at ${t.failedStep} — ${t.error}`);
  }
  for (const { key, title, basis } of STEPS) {
    const rows = ran.map((t) => {
      const s = t.steps[key];
      if (!s) return [t.name, 'not run', '', '', '', ''];
      if (!s.ok) return [t.name, 'FAILED', '', '', '', ''];
      return [t.name, fmt(s.seconds, 2), fmt(s.mibPerSec), fmt((s.userSeconds ?? NaN) + (s.systemSeconds ?? NaN), 2), fmt(s.peakRssBytes / MiB), fmt(s.repoBytes / MiB)];
    });
    const rr = ratios[key];
    if (ran.some((t) => t.name === 'cairn') && ran.some((t) => t.name === 'restic')) {
      rows.push(['cairn/restic', fmtRatio(rr.seconds), fmtRatio(rr.mibPerSec), '', fmtRatio(rr.peakRss), fmtRatio(rr.repoBytes)]);
    }
    out.push('', `${title}  (MiB/s over the ${basis})`, table(['tool', 'seconds', 'MiB/s', 'CPU s', 'peak RSS MiB', 'repo MiB'], rows));
  }
  const repoRows = ran.map((t) => [
    t.name,
    fmt((t.repoBytes?.afterFirst ?? NaN) / MiB),
    fmt((t.repoBytes?.afterIncremental ?? NaN) / MiB),
    fmt((t.addedByIncremental ?? NaN) / MiB, 2),
    fmt((maxRss(t) ?? NaN) / MiB),
    t.restoreVerify ? (t.restoreVerify.ok ? `ok${t.restoreVerify.mtimeMismatches ? ` (${t.restoreVerify.mtimeMismatches} mtimes differ)` : ''}` : 'FAILED') : '-',
  ]);
  if (ran.some((t) => t.name === 'cairn') && ran.some((t) => t.name === 'restic')) {
    const rr = ratios.repository;
    repoRows.push(['cairn/restic', '', fmtRatio(rr.bytesAfterIncremental), fmtRatio(rr.addedByIncremental), fmtRatio(rr.maxPeakRss), '']);
  }
  out.push('', '6. Repository (sum of file sizes in the repository directory) and 7. memory',
    table(['tool', 'MiB after 1', 'MiB after 3', 'MiB added by 3', 'max peak RSS MiB', 'restore verify'], repoRows));
  out.push('', `Targets from the issue (defined for scale 1 on a 2-core machine; this run: scale ${meta.scale}, ${meta.host.cpus} CPUs)`,
    table(['target', 'value', 'result', 'note'], targets.map((t) => [t.target, t.value, t.status, t.note]), ['l', 'r', 'l', 'l']));
  return out.join('\n');
}
