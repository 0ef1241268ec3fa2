import { AdmissionregistrationV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from './cluster';
import { eventually } from './eventually';

export type JsonPatch = { op: 'add' | 'replace' | 'remove'; path: string; value?: unknown }[];

/** What the API server asks a mutating webhook (admission.k8s.io/v1 AdmissionReview request, the parts used here). */
export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: string;
  namespace?: string;
  object: any;
  dryRun?: boolean;
}

export interface WebhookRule {
  apiGroups: string[];
  apiVersions: string[];
  resources: string[];
  operations: string[];
}

/**
 * A real mutating admission webhook, as a mesh injector or an image-digest pinner is: a small
 * HTTPS server (self-signed certificate for 127.0.0.1, its CA given to the API server) registered
 * with a MutatingWebhookConfiguration for one namespace only (selected by a label the test puts
 * on it). `mutate` answers each request with a JSON patch, or nothing.
 */
export class MutatingWebhook {
  readonly requests: AdmissionRequest[] = [];
  private server?: Server;
  private readonly name = `mayday-test-${Math.random().toString(36).slice(2, 8)}.mayday.test`;

  constructor(
    private readonly cluster: Cluster,
    private readonly mutate: (request: AdmissionRequest) => JsonPatch | undefined,
  ) {}

  /** Serves, registers, and returns once the API server calls it (a dry-run `probe` goes through it). */
  async start(namespace: string, rule: WebhookRule, probe: () => Promise<unknown>): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'mayday-webhook-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      const key = readFileSync(join(dir, 'key.pem'));
      const cert = readFileSync(join(dir, 'cert.pem'));
      this.server = createServer({ key, cert }, (request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          const review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          const admission = review.request as AdmissionRequest;
          this.requests.push(admission);
          const patch = this.mutate(admission);
          response.setHeader('content-type', 'application/json');
          response.end(
            JSON.stringify({
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              response: {
                uid: admission.uid,
                allowed: true,
                ...(patch && patch.length > 0
                  ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }
                  : {}),
              },
            }),
          );
        });
      });
      await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
      const { port } = this.server.address() as AddressInfo;
      await this.cluster.core.patchNamespace(
        { name: namespace, body: { metadata: { labels: { 'mayday.test/webhook': this.name } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await this.cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
        body: {
          metadata: { name: this.name },
          webhooks: [
            {
              name: this.name,
              clientConfig: { url: `https://127.0.0.1:${port}/mutate`, caBundle: cert.toString('base64') },
              rules: [{ ...rule, scope: 'Namespaced' }],
              namespaceSelector: { matchLabels: { 'mayday.test/webhook': this.name } },
              admissionReviewVersions: ['v1'],
              sideEffects: 'None',
              failurePolicy: 'Fail',
              timeoutSeconds: 5,
            },
          ],
        },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The API server picks new webhook configurations up from a watch: wait until it calls this one.
    await eventually(
      async () => {
        const before = this.requests.length;
        await probe();
        if (this.requests.length === before) throw new Error(`webhook ${this.name} not called yet`);
      },
      20_000,
      200,
    );
  }

  async stop(): Promise<void> {
    await this.cluster.kubeConfig
      .makeApiClient(AdmissionregistrationV1Api)
      .deleteMutatingWebhookConfiguration({ name: this.name })
      .catch(() => undefined);
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
  }
}
