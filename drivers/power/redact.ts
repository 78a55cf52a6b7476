/** Replaces every occurrence of each secret with `***`; empty secrets are ignored. */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret === undefined || secret === '') continue;
    result = result.split(secret).join('***');
    // A secret also travels percent-encoded in a query string.
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) result = result.split(encoded).join('***');
  }
  return result;
}

/** A URL fit for a message: no userinfo, and credential query parameters masked. */
export function describeUrl(url: URL): string {
  const shown = new URL(url.href);
  shown.username = '';
  shown.password = '';
  for (const name of ['password', 'user', 'token']) {
    if (shown.searchParams.has(name)) shown.searchParams.set(name, '***');
  }
  return shown.href.replaceAll('%2A%2A%2A', '***');
}
