import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app.js';
import './styles.css';

/**
 * The gateway this page talks to: its own origin, unless the page is hosted elsewhere and names
 * one in `<meta name="spool-base-url" content="https://gateway.example/v1">`.
 */
function gatewayBaseURL(): string {
  const configured = document.querySelector<HTMLMetaElement>('meta[name="spool-base-url"]')?.content;
  return configured ? configured.replace(/\/+$/, '') : `${window.location.origin}/v1`;
}

const root = document.getElementById('root');
if (!root) throw new Error('index.html needs a #root element.');
createRoot(root).render(
  <StrictMode>
    <App baseURL={gatewayBaseURL()} />
  </StrictMode>,
);
