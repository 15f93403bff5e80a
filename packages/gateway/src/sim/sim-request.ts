import type { ChatCompletionRequest } from '@spool/protocol';
import { errorBody } from '@spool/protocol';
import { UpstreamError } from '../errors.js';

/** A function tool as the sim reads it from `tools`. */
export interface SimFunctionTool {
  name: string;
  /** The JSON schema of its arguments; `{type: 'object'}` when the tool declares none. */
  parameters: unknown;
  /** Where the tool sits in `tools`, for the `param` of an error about its schema. */
  position: number;
}

/** The parts of a chat request that shape the sim's answer beyond its text, checked and bounded. */
export interface SimDirectives {
  /** How many choices to answer with (`n`). */
  n: number;
  tools: SimFunctionTool[];
  /** `none`, `auto`, `required`, or the name of the function `tool_choice` forces. */
  toolChoice: 'none' | 'auto' | 'required' | { name: string };
  parallelToolCalls: boolean;
  responseFormat: { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; schema: unknown };
  /** `top_logprobs` when `logprobs` is true, undefined when logprobs were not asked for. */
  topLogprobs: number | undefined;
}

/** OpenAI's own bounds: `n` up to 128, 128 tools, 20 top logprobs, tool names of 64 characters. */
const MAX_CHOICES = 128;
const MAX_TOOLS = 128;
const MAX_TOP_LOGPROBS = 20;
const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A 400 the sim answers for a request OpenAI would refuse; never retried, it names the `param`. */
export function simRequestError(message: string, param: string): UpstreamError {
  return new UpstreamError(400, errorBody('invalid_request', message, param), { retryable: false });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads `n`, `tools`, `tool_choice`, `parallel_tool_calls`, `response_format`, `logprobs` and
 * `top_logprobs` as OpenAI defines them, refusing with a 400 (naming the `param`) what OpenAI
 * would refuse, so code tested against the sim fails the same way it would against OpenAI.
 */
export function readSimDirectives(request: ChatCompletionRequest): SimDirectives {
  const n = request.n ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > MAX_CHOICES) {
    throw simRequestError(`'n' must be an integer from 1 to ${MAX_CHOICES}, got ${JSON.stringify(n)}.`, 'n');
  }
  const tools = readTools(request.tools);
  const toolChoice = readToolChoice(request.tool_choice, tools);
  const parallel = request.parallel_tool_calls;
  if (parallel !== undefined && parallel !== null && typeof parallel !== 'boolean') {
    throw simRequestError("'parallel_tool_calls' must be a boolean.", 'parallel_tool_calls');
  }
  return {
    n,
    tools,
    toolChoice,
    parallelToolCalls: parallel !== false,
    responseFormat: readResponseFormat(request.response_format),
    topLogprobs: readLogprobs(request.logprobs, request.top_logprobs),
  };
}

function readTools(raw: unknown): SimFunctionTool[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw simRequestError("'tools' must be an array.", 'tools');
  if (raw.length > MAX_TOOLS) throw simRequestError(`'tools' holds at most ${MAX_TOOLS} tools.`, 'tools');
  const tools: SimFunctionTool[] = [];
  raw.forEach((tool: unknown, position) => {
    if (!isRecord(tool))
      throw simRequestError(`'tools[${position}]' must be an object.`, `tools[${position}]`);
    // Other tool types (custom tools) are accepted and never called by the sim.
    if (tool.type !== 'function') return;
    const fn = tool.function;
    if (!isRecord(fn) || typeof fn.name !== 'string' || !TOOL_NAME.test(fn.name)) {
      throw simRequestError(
        `'tools[${position}].function.name' must be 1 to 64 letters, digits, underscores or dashes.`,
        `tools[${position}].function.name`,
      );
    }
    const parameters = fn.parameters ?? { type: 'object', properties: {} };
    if (!isRecord(parameters)) {
      throw simRequestError(
        `'tools[${position}].function.parameters' must be a JSON schema object.`,
        `tools[${position}].function.parameters`,
      );
    }
    tools.push({ name: fn.name, parameters, position });
  });
  return tools;
}

function readToolChoice(raw: unknown, tools: readonly SimFunctionTool[]): SimDirectives['toolChoice'] {
  if (raw === undefined || raw === null) return tools.length > 0 ? 'auto' : 'none';
  if (raw === 'none' || raw === 'auto' || raw === 'required') {
    if (raw === 'required' && tools.length === 0) {
      throw simRequestError("'tool_choice' is \"required\" but 'tools' holds no function.", 'tool_choice');
    }
    return raw;
  }
  if (
    isRecord(raw) &&
    raw.type === 'function' &&
    isRecord(raw.function) &&
    typeof raw.function.name === 'string'
  ) {
    const name = raw.function.name;
    if (!tools.some((tool) => tool.name === name)) {
      throw simRequestError(
        `'tool_choice' names the function ${JSON.stringify(name)}, which is not in 'tools'.`,
        'tool_choice',
      );
    }
    return { name };
  }
  throw simRequestError(
    `'tool_choice' must be "none", "auto", "required" or {"type": "function", "function": {"name": …}}.`,
    'tool_choice',
  );
}

function readResponseFormat(raw: unknown): SimDirectives['responseFormat'] {
  if (raw === undefined || raw === null) return { type: 'text' };
  if (!isRecord(raw)) throw simRequestError("'response_format' must be an object.", 'response_format');
  if (raw.type === 'text' || raw.type === 'json_object') return { type: raw.type };
  if (raw.type === 'json_schema') {
    const jsonSchema = raw.json_schema;
    if (!isRecord(jsonSchema) || typeof jsonSchema.name !== 'string') {
      throw simRequestError(
        "'response_format.json_schema' must be an object with a 'name'.",
        'response_format.json_schema',
      );
    }
    const schema = jsonSchema.schema ?? { type: 'object', properties: {} };
    if (!isRecord(schema)) {
      throw simRequestError(
        "'response_format.json_schema.schema' must be an object.",
        'response_format.json_schema.schema',
      );
    }
    return { type: 'json_schema', schema };
  }
  throw simRequestError(
    `'response_format.type' must be "text", "json_object" or "json_schema", got ${JSON.stringify(raw.type)}.`,
    'response_format.type',
  );
}

function readLogprobs(logprobs: unknown, topLogprobs: unknown): number | undefined {
  if (logprobs !== undefined && logprobs !== null && typeof logprobs !== 'boolean') {
    throw simRequestError("'logprobs' must be a boolean.", 'logprobs');
  }
  if (topLogprobs !== undefined && topLogprobs !== null) {
    if (
      typeof topLogprobs !== 'number' ||
      !Number.isInteger(topLogprobs) ||
      topLogprobs < 0 ||
      topLogprobs > MAX_TOP_LOGPROBS
    ) {
      throw simRequestError(
        `'top_logprobs' must be an integer from 0 to ${MAX_TOP_LOGPROBS}.`,
        'top_logprobs',
      );
    }
    if (logprobs !== true) {
      throw simRequestError("'top_logprobs' requires 'logprobs' to be true.", 'top_logprobs');
    }
  }
  return logprobs === true ? ((topLogprobs as number | null | undefined) ?? 0) : undefined;
}
