import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from './loopback-host.js';

describe('isLoopbackHost', () => {
  it.each([
    'localhost',
    'localhost:8787',
    'LocalHost.:3000',
    'app.localhost',
    'a.b.localhost:5173',
    '127.0.0.1',
    '127.255.0.9:80',
    '[::1]',
    '[::1]:8787',
    '[0:0:0:0:0:0:0:1]:1',
  ])('accepts %s', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each([
    'evil.example',
    'evil.example:8787',
    'localhost.evil.example',
    'evillocalhost',
    '127.0.0.1.evil.example',
    '128.0.0.1',
    '127.0.0.1:',
    '127.1',
    '0.0.0.0',
    '[::2]:80',
    '::1',
    '[::ffff:10.0.0.1]',
    'local host',
    '',
  ])('refuses %s', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });

  it('accepts every loopback name with any port, and no name under another domain', () => {
    const port = fc.option(
      fc.integer({ min: 0, max: 65535 }).map((value) => `:${value}`),
      { nil: '' },
    );
    const octet = fc.integer({ min: 0, max: 255 });
    const loopback = fc.oneof(
      fc.tuple(octet, octet, octet).map((parts) => `127.${parts.join('.')}`),
      fc.constantFrom('localhost', '[::1]'),
      fc.domain().map((domain) => `${domain.split('.')[0]}.localhost`),
    );
    fc.assert(fc.property(loopback, port, (host, suffix) => isLoopbackHost(`${host}${suffix}`)));
    fc.assert(
      fc.property(fc.domain(), port, (domain, suffix) =>
        domain.endsWith('.localhost') || domain === 'localhost'
          ? true
          : !isLoopbackHost(`${domain}${suffix}`),
      ),
    );
  });
});
