import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, test } from 'vitest';
import { Markdown, parseMarkdown } from '../src/markdown.js';

const html = (text: string) => renderToStaticMarkup(createElement(Markdown, { text }));

describe('parseMarkdown', () => {
  test('splits headings, lists, paragraphs and fenced code', () => {
    expect(parseMarkdown('# Title\n\nSome *text*.\n\n- one\n- two\n\n```ts\nconst a = 1;\n```')).toEqual([
      { type: 'heading', level: 1, text: 'Title' },
      { type: 'paragraph', text: 'Some *text*.' },
      { type: 'list', ordered: false, items: ['one', 'two'] },
      { type: 'code', language: 'ts', text: 'const a = 1;', closed: true },
    ]);
  });

  test('a fence still open while the answer streams is already code', () => {
    expect(parseMarkdown('Look:\n```js\nlet x')).toEqual([
      { type: 'paragraph', text: 'Look:' },
      { type: 'code', language: 'js', text: 'let x', closed: false },
    ]);
  });
});

describe('Markdown', () => {
  test('renders inline code, bold, italic and http links', () => {
    expect(html('Use `npm start`, **now**, *gently*: [docs](https://example.com/a).')).toBe(
      '<p>Use <code>npm start</code>, <strong>now</strong>, <em>gently</em>: ' +
        '<a href="https://example.com/a" target="_blank" rel="noopener noreferrer nofollow">docs</a>.</p>',
    );
  });

  test('never turns text into HTML: tags are escaped, javascript: links stay text', () => {
    const rendered = html(
      '<img src=x onerror=alert(1)> [click](javascript:alert(1))\n```\n<script>x</script>\n```',
    );
    expect(rendered).not.toContain('<img');
    expect(rendered).not.toContain('<script');
    expect(rendered).not.toContain('href="javascript');
    expect(rendered).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(rendered).toContain('&lt;script&gt;x&lt;/script&gt;');
  });
});
