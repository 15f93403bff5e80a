import { type ChatCompletionRequest, seededRandom } from '@spool/protocol';
import { jsonPieces, SimSchemaError, type SimValueBudget, simValueForSchema } from './sim-json-value.js';
import { type SimLogprob, simLogprobs } from './sim-logprobs.js';
import {
  readSimDirectives,
  type SimDirectives,
  type SimFunctionTool,
  simRequestError,
} from './sim-request.js';
import { messageText, simChoiceSeed, simSeed, simTokensForSeed, truncateTokens } from './sim-text.js';

/** One tool call of a sim answer; `pieces` are its arguments as streamed (joined, valid JSON). */
interface SimToolCall {
  id: string;
  name: string;
  pieces: string[];
}

/** One choice of a sim answer: text (or JSON text) token by token, or tool calls. */
export type SimChoice =
  | {
      kind: 'text';
      index: number;
      tokens: string[];
      finishReason: 'stop' | 'length';
      /** Present when the request asked for `logprobs`. */
      logprobs: SimLogprob[] | undefined;
    }
  | { kind: 'tool_calls'; index: number; calls: SimToolCall[]; finishReason: 'tool_calls' };

/** The whole sim answer to a chat request, before it is written as chunks or a completion. */
export interface SimAnswer {
  choices: SimChoice[];
  /** Tokens over all choices (a tool call counts its name and its argument pieces). */
  completionTokens: number;
  /** Whether choices carry a `logprobs` field (the request asked for them). */
  logprobs: boolean;
}

/**
 * The sim's deterministic answer to a request: `n` choices, each text, JSON (JSON mode) or tool
 * calls (see `toolsToCall`), seeded by the request as the text is. Throws a 400 `UpstreamError` for
 * what OpenAI would refuse (a `tool_choice` naming no tool, JSON mode without "json" in the
 * messages, a schema the sim cannot satisfy).
 */
export function simAnswer(request: ChatCompletionRequest): SimAnswer {
  const directives = readSimDirectives(request);
  if (directives.responseFormat.type === 'json_object' && !mentionsJson(request)) {
    // OpenAI's own rule: JSON mode without the word in the prompt can generate whitespace forever.
    throw simRequestError(
      "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
      'messages',
    );
  }
  const requestSeed = simSeed(request);
  const toCall = toolsToCall(request, directives);
  // One bound for the JSON of every choice together, so `n` does not multiply it.
  const budget: SimValueBudget = { values: 0 };
  const choices: SimChoice[] = [];
  for (let index = 0; index < directives.n; index++) {
    const seed = simChoiceSeed(requestSeed, index);
    choices.push(
      toCall.length > 0
        ? { kind: 'tool_calls', index, calls: toolCalls(toCall, seed, budget), finishReason: 'tool_calls' }
        : textChoice(request, directives, index, seed, budget),
    );
  }
  let completionTokens = 0;
  for (const choice of choices) {
    if (choice.kind === 'text') completionTokens += choice.tokens.length;
    else for (const call of choice.calls) completionTokens += 1 + call.pieces.length;
  }
  return { choices, completionTokens, logprobs: directives.topLogprobs !== undefined };
}

/**
 * Which tools the sim calls, by a rule a test can predict:
 * - `tool_choice` naming a function: that function, always;
 * - `"required"`: the tools the last user message mentions, or the first tool when it mentions none;
 * - `"auto"` (the default with tools): the tools the last message mentions when that message is the
 *   user's; after a tool result (or any other last message) the sim answers with text;
 * - `"none"`: none.
 * A tool is mentioned when its name appears in the message as a whole word, case-sensitively
 * (`get_weather` in "use get_weather for Paris"), outside `<system-reminder>` blocks. With
 * `parallel_tool_calls: false`, one call at most.
 */
function toolsToCall(request: ChatCompletionRequest, directives: SimDirectives): SimFunctionTool[] {
  const { toolChoice, tools } = directives;
  if (toolChoice === 'none') return [];
  if (typeof toolChoice === 'object')
    return tools.filter((tool) => tool.name === toolChoice.name).slice(0, 1);
  const last = request.messages.at(-1);
  // What a harness adds to the user's turn (Claude Code's reminders name its tools) is not a request.
  const text = last?.role === 'user' ? messageText(last).replace(HARNESS_REMINDER, ' ') : '';
  const mentioned = tools.filter((tool) => mentions(text, tool.name));
  const chosen = toolChoice === 'required' && mentioned.length === 0 ? tools.slice(0, 1) : mentioned;
  return directives.parallelToolCalls ? chosen : chosen.slice(0, 1);
}

const HARNESS_REMINDER = /<system-reminder>[\s\S]*?<\/system-reminder>/g;

function mentions(text: string, name: string): boolean {
  let from = 0;
  for (;;) {
    const at = text.indexOf(name, from);
    if (at < 0) return false;
    const before = text.charAt(at - 1);
    const after = text.charAt(at + name.length);
    if (!isNameCharacter(before) && !isNameCharacter(after)) return true;
    from = at + 1;
  }
}

function isNameCharacter(character: string): boolean {
  return character !== '' && /[A-Za-z0-9_-]/.test(character);
}

function mentionsJson(request: ChatCompletionRequest): boolean {
  return request.messages.some((message) => /json/i.test(messageText(message)));
}

function toolCalls(tools: readonly SimFunctionTool[], seed: number, budget: SimValueBudget): SimToolCall[] {
  const random = seededRandom(seed ^ 0x7001ca11);
  return tools.map((tool) => {
    const id = `call_${Array.from({ length: 24 }, () => Math.floor(random() * 36).toString(36)).join('')}`;
    const value = valueFor(tool.parameters, random, budget, `tools[${tool.position}].function.parameters`);
    return { id, name: tool.name, pieces: jsonPieces(JSON.stringify(value)) };
  });
}

function textChoice(
  request: ChatCompletionRequest,
  directives: SimDirectives,
  index: number,
  seed: number,
  budget: SimValueBudget,
): SimChoice {
  const format = directives.responseFormat;
  let answer: ReturnType<typeof truncateTokens>;
  if (format.type === 'json_schema') {
    const value = valueFor(
      format.schema,
      seededRandom(seed ^ 0x150ca11),
      budget,
      'response_format.json_schema.schema',
    );
    answer = truncateTokens(jsonPieces(JSON.stringify(value)), request);
  } else if (format.type === 'json_object') {
    // The whole sentence goes in the object; max_tokens then cuts the JSON, as it would OpenAI's.
    const sentence = simTokensForSeed({ ...request, max_tokens: null, max_completion_tokens: null }, seed);
    answer = truncateTokens(jsonPieces(JSON.stringify({ answer: sentence.tokens.join('') })), request);
  } else {
    answer = simTokensForSeed(request, seed);
  }
  const top = directives.topLogprobs;
  return {
    kind: 'text',
    index,
    tokens: answer.tokens,
    finishReason: answer.finishReason,
    logprobs: top === undefined ? undefined : simLogprobs(answer.tokens, seed, top),
  };
}

function valueFor(schema: unknown, random: () => number, budget: SimValueBudget, param: string): unknown {
  try {
    return simValueForSchema(schema, random, budget);
  } catch (error) {
    if (error instanceof SimSchemaError) {
      throw simRequestError(`The sim cannot answer '${param}': ${error.message}.`, param);
    }
    throw error;
  }
}
