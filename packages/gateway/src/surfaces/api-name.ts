/**
 * The APIs Spool speaks: to clients (a surface each) and to upstreams (a provider declares the ones
 * it speaks). `messages` is Anthropic's Messages API.
 */
export type ApiName = 'chat' | 'responses' | 'messages';
