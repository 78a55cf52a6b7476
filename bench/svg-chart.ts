/**
 * A grouped bar chart as a standalone SVG: one group per x category (a chunk size), one bar per
 * series (a client) at its median, and a whisker from p5 to p95, so a spread is seen beside the
 * value it qualifies. No dependency: the benchmark output must render anywhere a browser does.
 */
export interface ChartSpread {
  median: number;
  p5: number;
  p95: number;
}

export interface GroupedBarChart {
  title: string;
  yLabel: string;
  /** The x categories, in drawing order. */
  groups: string[];
  /** One value per group; `undefined` leaves a gap (a series that did not run there). */
  series: { name: string; values: (ChartSpread | undefined)[] }[];
}

const PALETTE = ['#3366cc', '#dc7633', '#2e8b57', '#8e44ad', '#c0392b', '#7f8c8d'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 1, 2 or 5 times a power of ten, so that about five ticks cover `max`. */
function tickStep(max: number): number {
  const rough = max / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const scaled = rough / power;
  return (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10) * power;
}

export function renderGroupedBarChart(chart: GroupedBarChart): string {
  const width = 760;
  const height = 420;
  const margin = { top: 48, right: 180, bottom: 56, left: 80 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const highest = Math.max(
    1,
    ...chart.series.flatMap((series) => series.values.map((value) => value?.p95 ?? 0)),
  );
  const step = tickStep(highest);
  const top = Math.ceil(highest / step) * step;
  const y = (value: number) => margin.top + plotHeight - (value / top) * plotHeight;
  const groupWidth = plotWidth / Math.max(1, chart.groups.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, chart.series.length);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(chart.title)}</text>`,
    `<text transform="translate(20 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`,
  ];
  for (let tick = 0; tick <= top + step / 2; tick += step) {
    const at = y(tick).toFixed(1);
    out.push(
      `<line x1="${margin.left}" y1="${at}" x2="${margin.left + plotWidth}" y2="${at}" stroke="#e0e0e0"/>`,
      `<text x="${margin.left - 6}" y="${at}" text-anchor="end" dominant-baseline="middle">${tick.toLocaleString('en-US')}</text>`,
    );
  }
  chart.groups.forEach((group, groupIndex) => {
    const groupLeft = margin.left + groupIndex * groupWidth + groupWidth * 0.1;
    out.push(
      `<text x="${(groupLeft + groupWidth * 0.4).toFixed(1)}" y="${margin.top + plotHeight + 20}" text-anchor="middle">${escapeXml(group)}</text>`,
    );
    chart.series.forEach((series, seriesIndex) => {
      const value = series.values[groupIndex];
      if (value === undefined) return;
      const color = PALETTE[seriesIndex % PALETTE.length];
      const left = groupLeft + seriesIndex * barWidth;
      const middle = (left + barWidth / 2).toFixed(1);
      out.push(
        `<rect x="${(left + 1).toFixed(1)}" y="${y(value.median).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(y(0) - y(value.median)).toFixed(1)}" fill="${color}"><title>${escapeXml(`${series.name} ${group}: median ${value.median.toFixed(0)}, p5 ${value.p5.toFixed(0)}, p95 ${value.p95.toFixed(0)}`)}</title></rect>`,
        `<line x1="${middle}" y1="${y(value.p5).toFixed(1)}" x2="${middle}" y2="${y(value.p95).toFixed(1)}" stroke="#222"/>`,
        `<line x1="${(left + barWidth * 0.3).toFixed(1)}" y1="${y(value.p5).toFixed(1)}" x2="${(left + barWidth * 0.7).toFixed(1)}" y2="${y(value.p5).toFixed(1)}" stroke="#222"/>`,
        `<line x1="${(left + barWidth * 0.3).toFixed(1)}" y1="${y(value.p95).toFixed(1)}" x2="${(left + barWidth * 0.7).toFixed(1)}" y2="${y(value.p95).toFixed(1)}" stroke="#222"/>`,
      );
    });
  });
  out.push(
    `<line x1="${margin.left}" y1="${y(0)}" x2="${margin.left + plotWidth}" y2="${y(0)}" stroke="#222"/>`,
  );
  chart.series.forEach((series, index) => {
    const top = margin.top + index * 20;
    out.push(
      `<rect x="${width - margin.right + 16}" y="${top}" width="12" height="12" fill="${PALETTE[index % PALETTE.length]}"/>`,
      `<text x="${width - margin.right + 34}" y="${top + 10}">${escapeXml(series.name)}</text>`,
    );
  });
  out.push(
    `<text x="${width - margin.right + 16}" y="${margin.top + chart.series.length * 20 + 14}" fill="#555">bar: median; whisker: p5–p95</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}
