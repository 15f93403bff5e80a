import { describe, expect, test } from 'vitest';
import { codeBlocks, shellCommands, shellWords } from './readme-blocks.js';

describe('reading README code blocks', () => {
  test('finds each fenced block with its language and the line of its fence', () => {
    const markdown = 'intro\n\n```ts\nconst a = 1;\n```\n\ntext\n```\nplain\n```\n';
    expect(codeBlocks(markdown)).toEqual([
      { language: 'ts', code: 'const a = 1;\n', line: 3 },
      { language: '', code: 'plain\n', line: 8 },
    ]);
  });

  test('refuses a block that is never closed', () => {
    expect(() => codeBlocks('```sh\ncurl x\n')).toThrow(/unclosed code block at line 1/);
  });

  test('takes the comment lines under a command as its output, cut before illustrative words and notes', () => {
    const block = [
      '# prose before the command',
      'curl -N http://x/v1 \\',
      "  -H 'a: b' -D -",
      '# HTTP/1.1 200 OK',
      '# x-stream-id: str_Qm…          <- the id',
      '# …',
      '',
      '# more prose',
      'curl -i http://x/v1/streams/str_Qm…',
      '# HTTP/1.1 204 No Content      <- not an empty 200',
    ].join('\n');
    expect(shellCommands(block)).toEqual([
      { command: "curl -N http://x/v1 -H 'a: b' -D -", expectedLines: ['HTTP/1.1 200 OK', 'x-stream-id:'] },
      { command: 'curl -i http://x/v1/streams/str_Qm…', expectedLines: ['HTTP/1.1 204 No Content'] },
    ]);
  });

  test('splits a command line into words, quotes kept together and a trailing comment dropped', () => {
    expect(shellWords(`spool chat "Explain backpressure" --x 'a b'   # stream it`)).toEqual([
      'spool',
      'chat',
      'Explain backpressure',
      '--x',
      'a b',
    ]);
  });
});
