/** A fenced code block of a Markdown file. */
export interface CodeBlock {
  /** The info string's first word (`ts`, `sh` …); empty when none. */
  language: string;
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
}

/** Every fenced (```) code block of `markdown`, in order. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split('\n');
  let open: { language: string; line: number; body: string[] } | undefined;
  lines.forEach((text, index) => {
    const fence = /^```\s*(\S*)/.exec(text);
    if (open === undefined) {
      if (fence) open = { language: fence[1] ?? '', line: index + 1, body: [] };
    } else if (/^```\s*$/.test(text)) {
      blocks.push({ language: open.language, code: `${open.body.join('\n')}\n`, line: open.line });
      open = undefined;
    } else {
      open.body.push(text);
    }
  });
  if (open) throw new Error(`unclosed code block at line ${open.line}`);
  return blocks;
}

/** One shell command of a block, with the output its comment lines claim. */
export interface ShellCommand {
  command: string;
  /**
   * What the `# …` lines right under the command say it prints, each cut before its first
   * illustrative word (one with `…`) and before a `<-` note; lines left empty are dropped.
   */
  expectedLines: string[];
}

/**
 * Splits a shell block into its commands (`\` continuations joined). Comment lines right under a
 * command are its sample output; comment lines before a command are prose.
 */
export function shellCommands(code: string): ShellCommand[] {
  const commands: ShellCommand[] = [];
  let current: ShellCommand | undefined;
  let continued = false;
  for (const raw of code.split('\n')) {
    const text = raw.trimEnd();
    if (continued && current) {
      current.command += ` ${text.replace(/\\$/, '').trim()}`;
      continued = text.endsWith('\\');
      continue;
    }
    if (text.trim() === '') {
      current = undefined;
      continue;
    }
    if (text.startsWith('#')) {
      if (current === undefined) continue;
      const claimed = text
        .replace(/^#\s?/, '')
        .replace(/\s*<-.*$/, '')
        .replace(/\S*….*$/, '')
        .trim();
      if (claimed !== '') current.expectedLines.push(claimed);
      continue;
    }
    current = { command: text.replace(/\\$/, '').trim(), expectedLines: [] };
    commands.push(current);
    continued = text.endsWith('\\');
  }
  return commands;
}

/** Splits a command line into words: whitespace-separated, `'…'` and `"…"` quoted, `# comment` dropped. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  const pattern = /'([^']*)'|"([^"]*)"|(#.*$)|(\S+)/g;
  for (const match of line.matchAll(pattern)) {
    if (match[3] !== undefined) break;
    words.push(match[1] ?? match[2] ?? (match[4] as string));
  }
  return words;
}
