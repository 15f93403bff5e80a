import { Fragment, type ReactNode } from 'react';

/** One block of a Markdown answer. */
export type MarkdownBlock =
  | { type: 'code'; language: string; text: string; closed: boolean }
  | { type: 'heading'; level: number; text: string }
  | { type: 'list'; ordered: boolean; items: string[] }
  | { type: 'paragraph'; text: string };

/**
 * Splits Markdown into blocks: fenced code (an unclosed fence while streaming is still code),
 * headings, lists and paragraphs. Pure; the renderer below turns blocks into React elements, so no
 * text ever becomes HTML.
 */
export function parseMarkdown(source: string): MarkdownBlock[] {
  const blocks: MarkdownBlock[] = [];
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  let paragraph: string[] = [];
  let list: { ordered: boolean; items: string[] } | undefined;
  const flush = () => {
    if (paragraph.length > 0) blocks.push({ type: 'paragraph', text: paragraph.join('\n') });
    if (list) blocks.push({ type: 'list', ...list });
    paragraph = [];
    list = undefined;
  };
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] as string;
    const fence = /^\s*(`{3,}|~{3,})\s*([\w+#.-]*)/.exec(line);
    if (fence) {
      flush();
      const marker = fence[1] as string;
      const code: string[] = [];
      let closed = false;
      for (index += 1; index < lines.length; index++) {
        const codeLine = lines[index] as string;
        if (codeLine.trim().startsWith(marker)) {
          closed = true;
          break;
        }
        code.push(codeLine);
      }
      blocks.push({ type: 'code', language: fence[2] ?? '', text: code.join('\n'), closed });
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      blocks.push({ type: 'heading', level: (heading[1] as string).length, text: heading[2] as string });
      continue;
    }
    const item = /^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/.exec(line);
    if (item) {
      const ordered = item[2] !== undefined;
      if (paragraph.length > 0 || (list && list.ordered !== ordered)) flush();
      list ??= { ordered, items: [] };
      list.items.push(item[3] as string);
      continue;
    }
    if (line.trim() === '') {
      flush();
      continue;
    }
    if (list) flush();
    paragraph.push(line);
  }
  flush();
  return blocks;
}

const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\s][^*\n]*\*|_[^_\s][^_\n]*_)|(\[[^\]\n]+\]\([^)\s]+\))/g;

/** Inline Markdown (code, bold, italic, links to http/https/mailto only) as React nodes. */
function renderInline(text: string): ReactNode[] {
  const nodes: ReactNode[] = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    const start = match.index ?? 0;
    if (start > last) nodes.push(text.slice(last, start));
    const token = match[0];
    const key = `${start}`;
    if (match[1]) nodes.push(<code key={key}>{token.slice(1, -1)}</code>);
    else if (match[2]) nodes.push(<strong key={key}>{token.slice(2, -2)}</strong>);
    else if (match[3]) nodes.push(<em key={key}>{token.slice(1, -1)}</em>);
    else {
      const link = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(token);
      const href = link?.[2] ?? '';
      nodes.push(
        /^(https?:|mailto:)/i.test(href) ? (
          <a key={key} href={href} target="_blank" rel="noopener noreferrer nofollow">
            {link?.[1]}
          </a>
        ) : (
          token
        ),
      );
    }
    last = start + token.length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}

/** Renders an answer's Markdown; `cursor` is appended to the last block while the answer streams. */
export function Markdown({ text, cursor }: { text: string; cursor?: ReactNode }) {
  const blocks = parseMarkdown(text);
  if (blocks.length === 0) return <p>{cursor}</p>;
  return (
    <>
      {blocks.map((block, index) => {
        const tail = index === blocks.length - 1 ? cursor : null;
        const key = `${index}-${block.type}`;
        switch (block.type) {
          case 'code':
            return (
              <Fragment key={key}>
                <pre className="code" data-language={block.language || undefined}>
                  <code>{block.text}</code>
                </pre>
                {tail}
              </Fragment>
            );
          case 'heading': {
            const Tag = `h${Math.min(6, block.level + 2)}` as 'h3';
            return (
              <Tag key={key}>
                {renderInline(block.text)}
                {tail}
              </Tag>
            );
          }
          case 'list': {
            const List = block.ordered ? 'ol' : 'ul';
            return (
              <List key={key}>
                {block.items.map((item, itemIndex) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: items have no identity beyond their place
                  <li key={itemIndex}>
                    {renderInline(item)}
                    {itemIndex === block.items.length - 1 ? tail : null}
                  </li>
                ))}
              </List>
            );
          }
          default:
            return (
              <p key={key}>
                {renderInline(block.text)}
                {tail}
              </p>
            );
        }
      })}
    </>
  );
}
