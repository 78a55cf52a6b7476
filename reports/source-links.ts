/**
 * The links in a requirement's source: every http(s) URL it cites, named by the text before it
 * (`ESP8266httpUpdate.cpp 120–180 https://github.com/…` → that name), and the repository's own
 * protocol notes (docs/protocols/…) as links relative to a bundle's root, which carries them.
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
