import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestResult, TestResultContainer } from 'allure-js-commons';
import { stringifyEnvInfo, type Writer } from 'allure-js-commons/sdk/reporter';
import AllureVitestReporter from 'allure-vitest/reporter';
import type { Vitest } from 'vitest/node';
import type { Redactor } from '../../rigs/index.ts';

/**
 * Every byte allure-vitest writes passes through the run's redactor: result files (test names,
 * step names, labels, parameters, attachment names, error messages and traces), containers,
 * globals and attachment bodies. The suites redact what they record too, but a string can reach
 * a report from anywhere (an assertion message quoting a URL, a driver error); this is the one
 * place all of them pass, and it knows every secret of the run (power plugs' too).
 */
export class RedactingWriter implements Writer {
  constructor(
    private readonly inner: Writer,
    private readonly redactor: Redactor,
  ) {}

  writeResult(result: TestResult): void {
    this.inner.writeResult(this.redactor.redactObject(result));
  }
  writeGroup(result: TestResultContainer): void {
    this.inner.writeGroup(this.redactor.redactObject(result));
  }
  writeAttachment(distFileName: string, content: Buffer): void {
    this.inner.writeAttachment(distFileName, this.redactor.redactBytes(content));
  }
  writeAttachmentFromPath(distFileName: string, from: string): void {
    this.inner.writeAttachment(distFileName, this.redactor.redactBytes(readFileSync(from)));
  }
  writeEnvironmentInfo(info: Parameters<Writer['writeEnvironmentInfo']>[0]): void {
    this.inner.writeEnvironmentInfo(this.redactor.redactObject(info));
  }
  writeCategoriesDefinitions(categories: Parameters<Writer['writeCategoriesDefinitions']>[0]): void {
    this.inner.writeCategoriesDefinitions(this.redactor.redactObject(categories));
  }
  writeGlobals(distFileName: string, info: Parameters<Writer['writeGlobals']>[1]): void {
    this.inner.writeGlobals(distFileName, this.redactor.redactObject(info));
  }
}

/**
 * The run's allure-results folder, each file written whole under a temporary name and renamed into
 * place (a reader never sees half a file), as allure's FileSystemWriter does, without its fsync of
 * every file: a run writes about a thousand, and each fsync held the main thread (which also
 * carries the embedded MQTT broker and the workers' messages) for 1–2 ms, 0.4 s a run. What is
 * written survives the harness process being killed all the same; results.jsonl is the run's
 * record of what finished, and it is not fsynced either.
 */
export class ResultsFolderWriter implements Writer {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  writeResult(result: TestResult): void {
    this.write(`${result.uuid}-result.json`, JSON.stringify(result));
  }
  writeGroup(result: TestResultContainer): void {
    this.write(`${result.uuid}-container.json`, JSON.stringify(result));
  }
  writeAttachment(distFileName: string, content: Buffer): void {
    this.write(distFileName, content);
  }
  writeAttachmentFromPath(distFileName: string, from: string): void {
    this.write(distFileName, readFileSync(from));
  }
  writeEnvironmentInfo(info: Parameters<Writer['writeEnvironmentInfo']>[0]): void {
    this.write('environment.properties', stringifyEnvInfo(info));
  }
  writeCategoriesDefinitions(categories: Parameters<Writer['writeCategoriesDefinitions']>[0]): void {
    this.write('categories.json', JSON.stringify(categories));
  }
  writeGlobals(distFileName: string, info: Parameters<Writer['writeGlobals']>[1]): void {
    this.write(distFileName, JSON.stringify(info));
  }

  private write(name: string, content: string | Buffer): void {
    const temporary = join(this.dir, `.allure-write-${randomUUID()}.tmp`);
    writeFileSync(temporary, content);
    renameSync(temporary, join(this.dir, name));
  }
}

export class AllureWriterHookError extends Error {
  readonly code = 'ALLURE_WRITER_HOOK';
}

/**
 * allure-vitest's reporter with its file writer wrapped in a RedactingWriter. allure-vitest 3.12
 * builds its writer inside `onInit` with no option to pass one, so the wrapper is put in place
 * right after; if a later version moves that field, the run stops here instead of writing
 * unredacted results.
 */
export class RedactingAllureReporter extends AllureVitestReporter {
  constructor(
    private readonly resultsDir: string,
    private readonly redactor: Redactor,
  ) {
    super({ resultsDir });
  }

  override onInit(vitest: Vitest): void {
    super.onInit(vitest);
    const runtime = (this as unknown as { allureReporterRuntime?: { writer?: Writer } })
      .allureReporterRuntime;
    if (runtime?.writer === undefined) {
      throw new AllureWriterHookError(
        'allure-vitest no longer exposes its writer after onInit: cannot redact Allure results; pin allure-vitest 3.12.2',
      );
    }
    runtime.writer = new RedactingWriter(new ResultsFolderWriter(this.resultsDir), this.redactor);
  }
}
