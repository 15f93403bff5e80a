import { GatewayError } from '../errors.js';
import { asRecord, asString } from '../providers/anthropic-json.js';
import type { AnthropicImageBlock } from '../providers/anthropic-types.js';

// One home for the rule between OpenAI's `image_url` parts (an https URL or a data URL) and
// Anthropic's image blocks (a URL source or a base64 source), read both ways.

/** The image types Anthropic takes inline. */
const MEDIA_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const;
const DATA_URL_PATTERN = /^data:(image\/(?:png|jpeg|gif|webp));base64,(.+)$/s;

/**
 * An OpenAI image URL as an Anthropic image block.
 * @throws GatewayError 400 naming `param` when it is neither an http(s) URL nor a base64 data URL of a type Anthropic takes.
 */
export function toImageBlock(url: string, param: string): AnthropicImageBlock {
  const dataUrl = DATA_URL_PATTERN.exec(url);
  if (dataUrl?.[1] && dataUrl[2]) {
    return { type: 'image', source: { type: 'base64', media_type: dataUrl[1], data: dataUrl[2] } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw GatewayError.of(
    'invalid_request',
    `Images must be https URLs or base64 data URLs of type ${MEDIA_TYPES.join(', ')}.`,
    { param },
  );
}

/**
 * An Anthropic image block's source as an OpenAI image URL (a data URL for base64 sources).
 * @throws GatewayError 400 naming `param` when the source is neither.
 */
export function toImageUrl(block: unknown, param: string): string {
  const source = asRecord(asRecord(block)?.source);
  const type = asString(source?.type);
  if (type === 'url') {
    const url = asString(source?.url);
    if (url !== undefined && /^https?:\/\//i.test(url)) return url;
  }
  if (type === 'base64') {
    const mediaType = asString(source?.media_type);
    const data = asString(source?.data);
    if (mediaType && (MEDIA_TYPES as readonly string[]).includes(mediaType) && data) {
      return `data:${mediaType};base64,${data}`;
    }
  }
  throw GatewayError.of(
    'invalid_request',
    `An image source must be {"type":"url","url":"https://…"} or {"type":"base64","media_type": one of ${MEDIA_TYPES.join(', ')},"data":…}.`,
    { param: `${param}.source` },
  );
}
