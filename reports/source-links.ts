import { noteCitations } from './protocol-notes.ts';

/**
 * The links in a requirement's source: every http(s) URL it cites, the upstream URLs of each
 * protocol-note section it cites (docs/protocols/…, see protocol-notes.ts), and with `docs` the
 * notes themselves as links relative to a bundle's root, which carries them.
 */
export function sourceLinks(
  source: string,
  options: { docs?: boolean } = {},
): { name: string; url: string }[] {
  const links: { name: string; url: string }[] = [];
  for (const match of source.matchAll(/https?:\/\/[^\s<>"')\]]+/g)) {
    const url = match[0].replace(/[.,;]$/, '');
    links.push({ name: shortName(url), url });
  }
  const citations = noteCitations(source);
  for (const citation of citations)
    for (const url of citation.upstream)
      if (!links.some((link) => link.url === url)) links.push({ name: shortName(url), url });
  if (!options.docs) return links;
  for (const match of source.matchAll(/\bdocs\/protocols\/[\w./-]+\.md(?:\s*§\s*[\w.]+)?/g)) {
    const [path] = match[0].split(/\s*§/);
    links.push({ name: match[0], url: path! });
  }
  return links;
}

function shortName(url: string): string {
  const parsed = new URL(url);
  const parts = parsed.pathname.split('/').filter(Boolean);
  const file = parts.at(-1) ?? parsed.hostname;
  return `${parsed.hostname === 'github.com' ? parts.slice(0, 2).join('/') : parsed.hostname}: ${file}${parsed.hash}`;
}
