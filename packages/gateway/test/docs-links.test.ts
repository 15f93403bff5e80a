import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { codeBlocks } from './readme-blocks.js';

// The READMEs and docs/architecture.md name files and link each other: a moved file or a renamed
// heading would leave them pointing at nothing (as the README's link to ../shared/ARCHITECTURE.md,
// outside the repository, once did).

const REPOSITORY = fileURLToPath(new URL('../../../', import.meta.url));
const DOCUMENTS = [
  'README.md',
  'docs/architecture.md',
  ...['gateway', 'client', 'protocol', 'react', 'testkit'].map((name) => `packages/${name}/README.md`),
  'apps/chat/README.md',
];

/** Every file under `folder`, as paths relative to the repository. */
function filesUnder(folder: string): string[] {
  return readdirSync(join(REPOSITORY, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(REPOSITORY, join(entry.parentPath, entry.name)));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

/** The text of a Markdown file outside its code blocks (links and names inside code are examples). */
function prose(markdown: string): string {
  let text = markdown;
  for (const block of codeBlocks(markdown)) text = text.replace(block.code, '');
  return text;
}

describe('the READMEs and docs/architecture.md point at things that exist', () => {
  test.each(DOCUMENTS)(
    '%s: every relative link reaches a file (and a heading, when it names one)',
    (document) => {
      const text = prose(readFileSync(join(REPOSITORY, document), 'utf8'));
      const broken: string[] = [];
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (target === undefined || /^[a-z]+:/i.test(target)) continue;
        const [path = '', anchor] = target.split('#');
        const file = path === '' ? join(REPOSITORY, document) : join(REPOSITORY, dirname(document), path);
        if (!existsSync(file)) {
          broken.push(`${target}: no such file`);
          continue;
        }
        if (anchor !== undefined && file.endsWith('.md')) {
          const headings = [...readFileSync(file, 'utf8').matchAll(/^#+ (.+)$/gm)].map(([, heading]) =>
            headingAnchor(heading ?? ''),
          );
          if (!headings.includes(anchor)) broken.push(`${target}: no heading with that anchor`);
        }
      }
      expect(broken).toEqual([]);
    },
  );

  test('every source file docs/architecture.md names exists', () => {
    const sources = [
      ...['gateway', 'client', 'protocol', 'react', 'testkit'].flatMap((name) =>
        filesUnder(`packages/${name}/src`),
      ),
      ...filesUnder('apps/chat/src'),
    ];
    const text = readFileSync(join(REPOSITORY, 'docs/architecture.md'), 'utf8');
    const missing = [...text.matchAll(/`([\w./-]+\.(?:ts|tsx|mjs))`/g)]
      .map(([, name]) => name as string)
      .filter((name) => !sources.some((source) => source.endsWith(`/${name}`)));
    expect(missing).toEqual([]);
  });

  test('a heading anchor is what GitHub makes of it', () => {
    expect(headingAnchor('What the gateway serves')).toBe('what-the-gateway-serves');
    expect(headingAnchor('The `spool` CLI')).toBe('the-spool-cli');
    expect(headingAnchor("@spool/client's errors")).toBe('spoolclients-errors');
  });
});
