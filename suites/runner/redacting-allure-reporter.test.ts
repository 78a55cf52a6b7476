import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestResult, TestResultContainer } from 'allure-js-commons';
import { afterEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../rigs/index.ts';
import { RedactingWriter, ResultsFolderWriter } from './redacting-allure-reporter.ts';

describe('ResultsFolderWriter: the allure-results folder a run writes', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('writes every kind of file Allure reads, whole, under its own name, and leaves no temporary file', () => {
    const root = mkdtempSync(join(tmpdir(), 'ota-allure-writer-'));
    dirs.push(root);
    const dir = join(root, 'allure-results');
    const writer = new ResultsFolderWriter(dir);
    const source = join(root, 'console.log');
    writeFileSync(source, 'boot: version 2\n');

    writer.writeResult({ uuid: 'r1', name: 'viperhttp/auth/1' } as TestResult);
    writer.writeGroup({ uuid: 'g1', children: ['r1'] } as unknown as TestResultContainer);
    writer.writeAttachment('a1-attachment.txt', Buffer.from('transcript'));
    writer.writeAttachmentFromPath('a2-attachment.log', source);
    writer.writeEnvironmentInfo({ harness: 'ota-conformance', node: 'v20' });
    writer.writeCategoriesDefinitions([{ name: 'rig errors' }]);
    writer.writeGlobals('x-globals.json', { attachments: [], errors: [] });

    expect(readdirSync(dir).sort()).toEqual([
      'a1-attachment.txt',
      'a2-attachment.log',
      'categories.json',
      'environment.properties',
      'g1-container.json',
      'r1-result.json',
      'x-globals.json',
    ]);
    expect(JSON.parse(readFileSync(join(dir, 'r1-result.json'), 'utf8'))).toEqual({
      uuid: 'r1',
      name: 'viperhttp/auth/1',
    });
    expect(readFileSync(join(dir, 'a2-attachment.log'), 'utf8')).toBe('boot: version 2\n');
    expect(readFileSync(join(dir, 'environment.properties'), 'utf8')).toBe(
      'harness=ota-conformance\nnode=v20',
    );
  });

  it('behind the RedactingWriter, a secret in a result or an attachment never reaches the folder', () => {
    const root = mkdtempSync(join(tmpdir(), 'ota-allure-writer-'));
    dirs.push(root);
    const redactor = new Redactor(['s3cret-token']);
    const writer = new RedactingWriter(new ResultsFolderWriter(root), redactor);
    writer.writeResult({ uuid: 'r2', name: 'sent X-OTA-Token: s3cret-token' } as TestResult);
    writer.writeAttachment('a3-attachment.txt', Buffer.from('GET /ota/status?token=s3cret-token'));
    for (const name of readdirSync(root))
      expect(readFileSync(join(root, name), 'utf8')).not.toContain('s3cret-token');
    expect(readFileSync(join(root, 'a3-attachment.txt'), 'utf8')).toContain('token=');
  });
});
