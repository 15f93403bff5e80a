import { seededRandom } from '@spool/protocol';

/** One alternative token and its log probability, as in OpenAI's `top_logprobs`. */
interface SimTopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

/** One entry of `logprobs.content`: a token of the answer, its log probability and the alternatives. */
export interface SimLogprob extends SimTopLogprob {
  top_logprobs: SimTopLogprob[];
}

// 21 candidates: enough for `top_logprobs: 20` even when one of them is the chosen token.
const ALTERNATIVES = [
  ' the',
  ' a',
  ' and',
  ' stream',
  ' token',
  ',',
  '.',
  ' to',
  ' of',
  ' it',
  ' is',
  ' we',
  ' in',
  ' on',
  ' for',
  ' that',
  ' with',
  ' as',
  ' each',
  ' every',
  ' then',
];

/**
 * Deterministic log probabilities for the tokens of one choice: the chosen token has a probability
 * in [0.5, 1), so it is always the most likely, and its `top` alternatives share what is left in
 * decreasing order, so the probabilities listed never add up to more than 1.
 */
export function simLogprobs(tokens: readonly string[], seed: number, top: number): SimLogprob[] {
  const random = seededRandom(seed ^ 0x5eed1097);
  return tokens.map((token) => {
    const probability = 0.5 + random() * 0.4999;
    const alternatives: SimTopLogprob[] = [];
    let rest = 1 - probability;
    for (const candidate of ALTERNATIVES) {
      if (alternatives.length + 1 >= top) break;
      if (candidate === token) continue;
      rest /= 2;
      alternatives.push(entry(candidate, rest));
    }
    const chosen = entry(token, probability);
    return { ...chosen, top_logprobs: top > 0 ? [chosen, ...alternatives] : [] };
  });
}

function entry(token: string, probability: number): SimTopLogprob {
  return {
    token,
    logprob: Number(Math.log(probability).toFixed(6)),
    bytes: [...Buffer.from(token, 'utf8')],
  };
}
