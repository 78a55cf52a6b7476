import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CampaignResult, campaignAxis, describeTimings, medianTimings } from './campaign-result.ts';
import { cutId, isUnsafe, OUTCOMES, type Outcome, PHASES, type Phase } from './cut-point.ts';
import { cutPosition } from './windows.ts';

const hex = (value: number | undefined) => (value === undefined ? '' : `0x${value.toString(16)}`);

/** The campaign as a Markdown table: its windows, then every cut with its replay id. */
export function campaignTable(result: CampaignResult): string {
  const axis = campaignAxis(result).short;
  const timings = medianTimings(result);
  const lines = [
    `# Power-cut campaign: ${result.target} (${result.profile}, ${result.platform})`,
    '',
    `method ${result.method}, seed ${result.seed}, phases ${result.phases.join(', ')}, ${result.cuts.length} cuts, wall time ${(result.wallMs / 1000).toFixed(1)} s`,
    `old image ${result.versions.old}, new image ${result.versions.new}`,
    ...(timings ? [describeTimings(timings)] : []),
    ...(result.stopped ? ['', `stopped early: ${result.stopped}`] : []),
    '',
    '## Windows (consecutive cut points with one outcome)',
    '',
    `| outcome | ${axis} from | to | phases | flash addresses | cuts |`,
    '|---|---|---|---|---|---|',
    ...result.windows.map(
      (window) =>
        `| ${window.outcome}${isUnsafe(window.outcome) ? ' (unsafe)' : ''} | ${window.from} | ${window.to} | ${window.phases.join(', ')} | ${window.addresses ? `${hex(window.addresses[0])}–${hex(window.addresses[1])}` : ''} | ${window.cuts} |`,
    ),
    '',
    '## Cuts',
    '',
    `| replay | phase | ${axis} | operation | address | wire bytes | outcome | evidence |`,
    '|---|---|---|---|---|---|---|---|',
    ...result.cuts.map(
      (cut) =>
        `| ${cutId(cut)}${cut.bisected ? ' (bisect)' : ''} | ${cut.point.phase} | ${cutPosition(cut)} | ${cut.point.kind ?? ''} ${cut.point.length ?? ''} | ${hex(cut.point.address)} | ${cut.point.wireBytes ?? ''}${cut.point.wireCount ? ` ${cut.point.wireCount}` : ''}${cut.point.driverLatencyMs === undefined ? '' : ` (driver ${cut.point.driverLatencyMs} ms)`} | ${cut.outcome} | ${cut.evidence.replaceAll('|', '/')} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

const OUTCOME_COLOURS: Record<Outcome, string> = {
  old: '#2b7bb9',
  new: '#2e9e44',
  'rolled-back': '#8c6bb1',
  broken: '#e08214',
  'no-boot': '#d7301f',
  'wrong-boot': '#b2182b',
};
const PHASE_FILLS: Record<Phase, string> = {
  transfer: '#f7f7f7',
  write: '#eef3fb',
  commit: '#fdf1e3',
  'first-boot': '#eef8ee',
  'eboot-copy': '#f6eef8',
};

function xmlText(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** Outcome (one lane each) against cut point, phases as background bands. */
export function campaignSvg(result: CampaignResult): string {
  const width = 960;
  const left = 110;
  const right = 20;
  const top = 40;
  const lane = 34;
  const height = top + lane * OUTCOMES.length + 50;
  const positions = result.cuts.map(cutPosition);
  const max = Math.max(1, ...positions, result.reference.length - 1);
  const x = (position: number) => left + ((width - left - right) * position) / max;
  const y = (outcome: Outcome) => top + lane * OUTCOMES.indexOf(outcome) + lane / 2;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="${left}" y="20" font-size="14">${xmlText(`${result.target}: outcome against cut point (${result.method}, seed ${result.seed}, ${result.cuts.length} cuts)`)}</text>`,
  ];
  // Phase bands from the reference update's operations.
  let bandStart = 0;
  for (let index = 1; index <= result.reference.length; index++) {
    const current = result.reference[index]?.phase;
    const phase = result.reference[bandStart]?.phase;
    if (phase === undefined || current === phase) continue;
    const x0 = x(bandStart);
    const x1 = x(index - 1) + 1;
    parts.push(
      `<rect x="${x0}" y="${top}" width="${Math.max(1, x1 - x0)}" height="${lane * OUTCOMES.length}" fill="${PHASE_FILLS[phase]}" stroke="#ccc" stroke-width="0.5"/>`,
    );
    bandStart = index;
  }
  // The phases as a legend: a band a few operations wide has no room for its name.
  const present = PHASES.filter((phase) => result.reference.some((operation) => operation.phase === phase));
  present.forEach((phase, index) => {
    const lx = left + index * 120;
    const ly = top + lane * OUTCOMES.length + 8;
    parts.push(
      `<rect x="${lx}" y="${ly}" width="10" height="10" fill="${PHASE_FILLS[phase]}" stroke="#999"/>`,
      `<text x="${lx + 14}" y="${ly + 9}" fill="#555">${phase}</text>`,
    );
  });
  for (const outcome of OUTCOMES) {
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(outcome)}" y2="${y(outcome)}" stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${y(outcome) + 4}" text-anchor="end" fill="${OUTCOME_COLOURS[outcome]}">${outcome}</text>`,
    );
  }
  for (const cut of result.cuts) {
    const title = `${cutId(cut)} ${cut.point.phase} ${cut.point.kind ?? ''} ${hex(cut.point.address)} → ${cut.outcome}`;
    parts.push(
      `<circle cx="${x(cutPosition(cut)).toFixed(1)}" cy="${y(cut.outcome)}" r="${cut.bisected ? 4 : 3}" fill="${OUTCOME_COLOURS[cut.outcome]}"${cut.bisected ? ' stroke="#000"' : ''}><title>${xmlText(title)}</title></circle>`,
    );
  }
  const axis = campaignAxis(result).long;
  parts.push(
    `<text x="${(left + width - right) / 2}" y="${height - 8}" text-anchor="middle">${axis}; 0 … ${max}</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}

export interface WrittenReport {
  folder: string;
  files: string[];
}

/**
 * Writes the campaign into `<outDir>/powercut/<target>/`: table (Markdown), plot (SVG), every cut
 * with its console (JSON); and one Allure result with those three attached, in
 * `<outDir>/allure-results`, so the campaign shows in the run's Allure report.
 */
export function writeCampaignReport(result: CampaignResult, outDir: string): WrittenReport {
  const folder = join(outDir, 'powercut', result.target);
  mkdirSync(folder, { recursive: true });
  const table = campaignTable(result);
  const svg = campaignSvg(result);
  const json = `${JSON.stringify(result, null, 2)}\n`;
  const files = [join(folder, 'campaign.md'), join(folder, 'campaign.svg'), join(folder, 'campaign.json')];
  writeFileSync(files[0]!, table);
  writeFileSync(files[1]!, svg);
  writeFileSync(files[2]!, json);
  const allureDir = join(outDir, 'allure-results');
  mkdirSync(allureDir, { recursive: true });
  const attachments = [
    { name: 'outcome table', type: 'text/markdown', extension: 'md', body: table },
    { name: 'outcome against cut point', type: 'image/svg+xml', extension: 'svg', body: svg },
    { name: 'cuts', type: 'application/json', extension: 'json', body: json },
  ].map((attachment) => {
    const source = `${randomUUID()}-attachment.${attachment.extension}`;
    writeFileSync(join(allureDir, source), attachment.body);
    return { name: attachment.name, type: attachment.type, source };
  });
  const unsafe = result.cuts.filter((cut) => isUnsafe(cut.outcome));
  const uuid = randomUUID();
  const now = Date.now();
  writeFileSync(
    join(allureDir, `${uuid}-result.json`),
    JSON.stringify({
      uuid,
      historyId: `powercut/${result.target}/${result.seed}`,
      name: `power-cut campaign ${result.target} (seed ${result.seed})`,
      fullName: `powercut ${result.target} ${result.phases.join(',')}`,
      status: unsafe.length === 0 && !result.stopped ? 'passed' : 'failed',
      statusDetails: {
        message: `${result.cuts.length} cuts; unsafe: ${unsafe.length}${result.stopped ? `; stopped: ${result.stopped}` : ''}`,
      },
      stage: 'finished',
      start: now - result.wallMs,
      stop: now,
      labels: [
        { name: 'suite', value: 'powercut' },
        { name: 'host', value: result.target },
        { name: 'tag', value: result.profile },
      ],
      parameters: [
        { name: 'seed', value: String(result.seed) },
        { name: 'method', value: result.method },
      ],
      attachments,
      steps: [],
    }),
  );
  return { folder, files };
}
