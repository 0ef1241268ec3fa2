import { expect } from 'vitest';

/** Requests to a running Mayday's webhook, sent byte for byte, and the shape a refusal must have (docs/contract.md §4). */

export const WEBHOOK = '/webhooks/superposition';

export interface Answer {
  status: number;
  contentType: string;
  text: string;
  json: any;
}

export function parse(status: number, contentType: string, text: string): Answer {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status, contentType, text, json };
}

/** One request with fetch, the body sent exactly as given (no re-serialisation). */
export async function send(
  url: string,
  path: string,
  body: string | Uint8Array | undefined,
  headers: Record<string, string> = {},
  method = 'POST',
): Promise<Answer> {
  const response = await fetch(`${url}${path}`, { method, headers, body });
  return parse(response.status, response.headers.get('content-type') ?? '', await response.text());
}

/** A refusal as the contract wants it: the status, a JSON body, and a non-empty message. */
export function expectRefusal(answer: Answer, status: number, what: string): void {
  expect(answer.status, `${what}: ${answer.text.slice(0, 300)}`).toBe(status);
  expect(answer.contentType, what).toMatch(/^application\/json/);
  expect(typeof answer.json?.message, what).toBe('string');
  expect(answer.json.message.trim().length, what).toBeGreaterThan(0);
}
