import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Status } from 'allure-js-commons';
import { FileSystemWriter, ReporterRuntime } from 'allure-js-commons/sdk/reporter';
import type { BenchReport } from '../report.ts';
import { renderGroupedBarChart } from '../svg-chart.ts';
import { chipReferenceRows } from './chip-reference.ts';
import { BenchUsageError } from './measurer.ts';
import type { Spread } from './stats.ts';
import type { BenchResult, BenchRow } from './target-bench.ts';

const fixed = (value: number, digits = 1) => (Number.isFinite(value) ? Number(value.toFixed(digits)) : '');
const percent = (value: number) => (Number.isFinite(value) ? `${(value * 100).toFixed(1)} %` : '');
const sizeLabel = (row: Pick<BenchRow, 'chunkBytes' | 'sizeUnit'>) =>
  row.chunkBytes === 0 ? row.sizeUnit : `${row.chunkBytes} B ${row.sizeUnit}`;

function phaseCell(spread: Spread | undefined, digits = 0): string | number {
  return spread === undefined ? '' : fixed(spread.median * 1000, digits);
}

/** Baselines that run in a process of their own (the harness and the raw socket run in this one). */
const OWN_PROCESS_CLIENTS = /^(curl|seed)/;

/** The terminal tables: throughput per row, the phases, and each emulator row against its chip's figures. */
export function benchTables(result: BenchResult): BenchReport[] {
  const throughput: BenchReport = {
    title: `Write path per target: KB/s over ${result.runs} runs (${result.warmup} warm-up not recorded), ${result.imageBytes / 1024} KiB images`,
    columns: [
      'target',
      'profile',
      'timing',
      'client',
      'size',
      'median KB/s',
      'p5',
      'p95',
      'CV',
      '× harness',
      'CPU µs/request',
      'verified by',
    ],
    rows: result.rows.map((row) =>
      row.kbps.runs === 0
        ? [
            row.target,
            row.profile,
            row.timing ?? 'board',
            row.client,
            sizeLabel(row),
            row.unavailable !== undefined ? `skipped: ${row.unavailable}` : `FAILED: ${row.failed}`,
            '',
            '',
            '',
            '',
            '',
            '',
          ]
        : [
            row.target,
            row.profile,
            row.timing ?? 'board',
            row.client,
            sizeLabel(row),
            fixed(row.kbps.median),
            fixed(row.kbps.p5),
            fixed(row.kbps.p95),
            percent(row.kbps.cv),
            row.ofHarness === undefined ? '' : fixed(row.ofHarness, 2),
            row.cpuMicrosPerRequest === undefined ? '' : fixed(row.cpuMicrosPerRequest.median, 0),
            row.failed === undefined ? row.verifiedBy : `FAILED after ${row.kbps.runs} runs: ${row.failed}`,
          ],
    ),
    notes: [
      'KB/s = KiB of image per second from the first request to the device confirming it (a push: the last answer; a pull: the console line of the new version). ' +
        '× harness: the row over the harness client on the same target and size. CPU µs/request: this process per request, median: the client, plus the device where it is an ' +
        'emulator embedded in this process (the same work for every client); an emulator-process target or a board costs this process nothing.',
      `Load average ${result.load.before.toFixed(1)} before, ${result.load.after.toFixed(1)} after; bench wall time ${result.wallSeconds.toFixed(1)} s.`,
      ...(result.rows.some((row) => row.kind === 'emulator' && OWN_PROCESS_CLIENTS.test(row.client))
        ? [
            'An emulator embedded in this process shares one thread with the harness client, while curl and python run in their own processes beside it: ' +
              'on these 2-core figures the baselines get a core the harness does not. Compare clients on an emulator-process target (kind "emulator-process").',
          ]
        : []),
      ...result.skipped.map((entry) => `Not benched: ${entry.target}: ${entry.reason}`),
    ],
  };
  const phased = result.rows.filter((row) => row.kbps.runs > 0 && Object.keys(row.phases).length > 0);
  const phases: BenchReport = {
    title:
      'Phases (median ms): connect (the TCP setup, part of the transfer, where the client reports it), transfer, flash write where the target shows it apart, verify, reboot to first answer',
    columns: ['target', 'client', 'size', 'connect', 'transfer', 'write', 'verify', 'reboot', 'total (s)'],
    rows: phased.map((row) => [
      row.target,
      row.client,
      sizeLabel(row),
      phaseCell(row.phases.connect, 2),
      phaseCell(row.phases.transfer),
      phaseCell(row.phases.write),
      phaseCell(row.phases.verify),
      phaseCell(row.phases.reboot),
      fixed(row.seconds.median, 3),
    ]),
  };
  const reports = [throughput, phases];
  const chip = chipReferenceRows(result.rows);
  if (chip.rows.length > 0) reports.push(chip);
  return reports;
}

/** One SVG per target: KB/s against chunk size, one bar per client (median, whisker p5–p95). */
export function benchCharts(result: BenchResult): { target: string; svg: string }[] {
  const byTarget = new Map<string, BenchRow[]>();
  for (const row of result.rows) byTarget.set(row.target, [...(byTarget.get(row.target) ?? []), row]);
  return [...byTarget].map(([target, rows]) => {
    const sizes = [...new Set(rows.map((row) => sizeLabel(row)))];
    const clients = [...new Set(rows.map((row) => row.client))];
    const first = rows[0]!;
    return {
      target,
      svg: renderGroupedBarChart({
        title: `${target} (${first.profile}, flash timing ${first.timing ?? 'of the board'}): KB/s by ${first.sizeUnit} size`,
        yLabel: 'KB/s (KiB per second)',
        groups: sizes,
        series: clients.map((client) => ({
          name: client,
          values: sizes.map((size) => {
            const row = rows.find(
              (candidate) => candidate.client === client && sizeLabel(candidate) === size,
            );
            return row === undefined || row.kbps.runs === 0 ? undefined : row.kbps;
          }),
        })),
      }),
    };
  });
}

/** JSON, one SVG per target and a table, in `<out>/bench/`; and one Allure result with the same as attachments. */
export async function writeBenchOutputs(
  result: BenchResult,
  options: { outDir: string; json?: string },
): Promise<{ folder: string; json: string; charts: string[] }> {
  const folder = join(options.outDir, 'bench');
  await mkdir(folder, { recursive: true });
  const json = options.json ?? join(folder, 'bench.json');
  const text = `${JSON.stringify(result, null, 2)}\n`;
  await writeFile(json, text);
  if (options.json !== undefined) await writeFile(join(folder, 'bench.json'), text);
  const charts: string[] = [];
  for (const chart of benchCharts(result)) {
    const path = join(folder, `${encodeURIComponent(chart.target)}.svg`);
    await writeFile(path, chart.svg);
    charts.push(path);
  }
  await writeAllureResult(result, join(options.outDir, 'allure-results'));
  return { folder, json, charts };
}

async function writeAllureResult(result: BenchResult, resultsDir: string): Promise<void> {
  await mkdir(resultsDir, { recursive: true });
  const runtime = new ReporterRuntime({ writer: new FileSystemWriter({ resultsDir }) });
  for (const chart of benchCharts(result)) {
    const rows = result.rows.filter((row) => row.target === chart.target);
    const first = rows[0]!;
    const uuid = runtime.startTest({
      name: `bench ${chart.target}`,
      fullName: `bench/${chart.target}`,
      historyId: `bench/${chart.target}`,
      status: Status.PASSED,
      labels: [
        { name: 'epic', value: 'bench' },
        { name: 'feature', value: first.profile },
        { name: 'story', value: chart.target },
      ],
      parameters: [
        { name: 'target', value: chart.target },
        { name: 'flash timing', value: first.timing ?? 'board' },
        { name: 'runs', value: String(result.runs) },
      ],
      description: rows
        .map((row) =>
          row.kbps.runs === 0
            ? `${row.client} ${sizeLabel(row)}: ${row.unavailable !== undefined ? `skipped (${row.unavailable})` : `failed (${row.failed})`}`
            : `${row.client} ${sizeLabel(row)}: ${fixed(row.kbps.median)} KB/s (p5 ${fixed(row.kbps.p5)}, p95 ${fixed(row.kbps.p95)}, CV ${percent(row.kbps.cv)})`,
        )
        .join('\n'),
    });
    runtime.writeAttachment(uuid, null, `${chart.target} KB/s by size`, Buffer.from(chart.svg), {
      contentType: 'image/svg+xml',
      fileExtension: '.svg',
    });
    runtime.writeAttachment(uuid, null, 'bench rows (JSON)', Buffer.from(JSON.stringify(rows, null, 2)), {
      contentType: 'application/json',
      fileExtension: '.json',
    });
    runtime.stopTest(uuid);
    runtime.writeTest(uuid);
  }
}

/**
 * `--compare old.json`: each row present in both, its change in median KB/s and the noise band it
 * must leave to count: twice the root-sum-square of the two runs' coefficients of variation.
 */
export async function compareTable(result: BenchResult, oldFile: string): Promise<BenchReport> {
  let old: BenchResult;
  try {
    old = JSON.parse(await readFile(oldFile, 'utf8')) as BenchResult;
  } catch (error) {
    throw new BenchUsageError(
      `--compare ${oldFile}: cannot read a bench JSON file: ${(error as Error).message}`,
    );
  }
  if (old?.version !== 1 || !Array.isArray(old.rows))
    throw new BenchUsageError(`--compare ${oldFile}: not a bench JSON file (no version 1 and rows)`);
  const rowKey = (row: BenchRow) => `${row.target}\u0000${row.client}\u0000${row.chunkBytes}`;
  const before = new Map(old.rows.map((row) => [rowKey(row), row]));
  const rows: (string | number)[][] = [];
  for (const row of result.rows) {
    const previous = before.get(rowKey(row));
    if (previous === undefined || row.kbps.runs === 0 || previous.kbps.runs === 0) continue;
    const change = row.kbps.median / previous.kbps.median - 1;
    const band = 2 * Math.hypot(row.kbps.cv, previous.kbps.cv);
    rows.push([
      row.target,
      row.client,
      sizeLabel(row),
      fixed(previous.kbps.median),
      fixed(row.kbps.median),
      `${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)} %`,
      `±${(band * 100).toFixed(1)} %`,
      Math.abs(change) <= band ? 'within noise' : change > 0 ? 'faster' : 'slower',
    ]);
  }
  return {
    title: `Compared with ${oldFile} (${old.startedAt})`,
    columns: ['target', 'client', 'size', 'before KB/s', 'now KB/s', 'change', 'noise band', 'verdict'],
    rows,
    notes: ['Noise band: 2 × √(CV before² + CV now²) of the medians; a change inside it is not a change.'],
  };
}
