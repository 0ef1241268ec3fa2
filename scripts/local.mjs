#!/usr/bin/env node
// `npm run local`: a working Mayday on this machine with nothing else to install.
// Starts the local cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
// KUBE_NODES hollow nodes, built once from Debian packages by scripts/kube-control-plane.sh),
// creates the demo namespace `mumbai`, runs the production build (dist/main.js) against it with
// the readiness gate on, and starts a demo experiment whose canary gets its weight once its pod is
// ready. Ctrl-C stops everything.
//
//   --smoke   as above, then conclude the demo experiment, check the cluster, stop; exits
//             non-zero on any failure (used by the e2e suite).
//   --no-demo do not start the demo experiment.
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  NetworkingV1Api,
  PatchStrategy,
} from '@kubernetes/client-node';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = process.env.MAYDAY_CACHE_DIR ?? join(homedir(), '.cache', 'mayday');
const runDir = process.env.MAYDAY_LOCAL_RUN_DIR ?? join(cacheDir, 'local');
const smoke = process.argv.includes('--smoke');
const demo = smoke || !process.argv.includes('--no-demo');
const port = process.env.PORT ?? (smoke ? '18090' : '8090');
const script = join(root, 'scripts', 'kube-control-plane.sh');
const started = Date.now();
// Mayday refuses to start without a webhook token: a fresh random one for this run (or yours).
const token = process.env.WEBHOOK_TOKEN ?? randomBytes(32).toString('hex');
// Mayday keeps its records in a namespace of its own; this one is the local run's.
const maydayNamespace = process.env.MAYDAY_NAMESPACE ?? 'mayday-local';
const DEMO_ID = '7350102648234549248';

function controlPlane(action) {
  const result = spawnSync('bash', [script, action, runDir], { stdio: ['ignore', 'ignore', 'inherit'], env: process.env });
  if (result.status !== 0) throw new Error(`kube-control-plane.sh ${action} failed (exit ${result.status})`);
}

function readEnv() {
  return Object.fromEntries(
    readFileSync(join(runDir, 'env'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

function kubeClients(kubeconfig) {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfig);
  return {
    core: kubeConfig.makeApiClient(CoreV1Api),
    apps: kubeConfig.makeApiClient(AppsV1Api),
    networking: kubeConfig.makeApiClient(NetworkingV1Api),
    extensions: kubeConfig.makeApiClient(ApiextensionsV1Api),
    objects: KubernetesObjectApi.makeApiClient(kubeConfig),
  };
}

async function createNamespace(kube, name) {
  try {
    await kube.core.createNamespace({ body: { metadata: { name } } });
  } catch (error) {
    if (error.code !== 409) throw error;
  }
}

/** The hand-written HTTPRoute CRD subset (Gateway API is not built into Kubernetes). */
async function installHttpRouteCrd(kube) {
  const file = join(root, 'scripts', 'crds', 'httproute.gateway.networking.k8s.io.yaml');
  for (const crd of loadAllYaml(readFileSync(file, 'utf8'))) {
    await kube.objects.patch(crd, undefined, undefined, 'mayday-local', true, PatchStrategy.ServerSideApply);
    for (let attempt = 0; attempt < 100; attempt++) {
      const live = await kube.extensions.readCustomResourceDefinition({ name: crd.metadata.name });
      if (live.status?.conditions?.some((condition) => condition.type === 'Established' && condition.status === 'True')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function waitReady(url, child) {
  // Generous: a first start on a busy 2-core machine (Node.js loading Nest, informers listing) can take tens of seconds.
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Mayday exited with ${child.exitCode}`);
    try {
      const answer = await fetch(`${url}/health/ready`);
      if (answer.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('Mayday did not become ready within 90 s');
}

/** The demo experiment of the README, in the given status. */
function demoExperiment(status, extra = {}) {
  return {
    id: DEMO_ID,
    name: 'nginx-1-27',
    status,
    traffic_percentage: 10,
    context: { namespace: 'mumbai' },
    variants: [
      { id: `${DEMO_ID}-control`, variant_type: 'CONTROL', overrides: { 'container.image': 'nginx:1.25' } },
      { id: `${DEMO_ID}-test1`, variant_type: 'EXPERIMENTAL', overrides: { 'container.image': 'nginx:1.27' } },
    ],
    chosen_variant: null,
    last_modified: new Date().toISOString(),
    ...extra,
  };
}

function demoWebhook(event, payload) {
  return { event_info: { webhook_event: event, workspace_id: 'nginxservice', organisation_id: 'localorg' }, payload };
}

async function send(url, event, payload) {
  const answer = await fetch(`${url}/webhooks/superposition`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(demoWebhook(event, payload)),
  });
  const body = await answer.json();
  if (answer.status !== 200) throw new Error(`${event} answered ${answer.status}: ${JSON.stringify(body)}`);
  return body;
}

/** Starts the demo experiment and follows its canary from "waiting" to its weight as the controllers make its pod ready. */
async function runDemo(url, kube) {
  const begun = Date.now();
  const started = await send(url, 'ExperimentStarted', demoExperiment('INPROGRESS'));
  const [canary] = started.canaries;
  console.log(
    `demo: ExperimentStarted -> canary ${canary.variantId} weight ${canary.weight} (${canary.state.phase}${canary.state.reason ? `: ${canary.state.reason}` : ''})`,
  );
  const deployment = await kube.apps.readNamespacedDeployment({ namespace: 'mumbai', name: `nginxservice-dep-${DEMO_ID}-test1` });
  if (deployment.spec.template.spec.containers[0].image !== 'nginx:1.27') throw new Error('the canary Deployment has the wrong image');
  const name = `nginxservice-ingress-${DEMO_ID}-test1`;
  for (;;) {
    const ingress = await kube.networking.readNamespacedIngress({ namespace: 'mumbai', name });
    const weight = ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/canary-weight'];
    if (weight === '10') {
      const live = await kube.apps.readNamespacedDeployment({ namespace: 'mumbai', name: deployment.metadata.name });
      console.log(
        `demo: pods ready (${live.status?.availableReplicas ?? 0}/${live.spec.replicas} available) -> canary weight ${weight}, ` +
          `${((Date.now() - begun) / 1000).toFixed(1)} s after the event, without another webhook`,
      );
      return;
    }
    if (Date.now() - begun > 60_000) throw new Error(`the demo canary's weight is still "${weight}" after 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function smokeTest(url, kube) {
  await send(url, 'ExperimentConcluded', demoExperiment('CONCLUDED', { chosen_variant: `${DEMO_ID}-test1` }));
  const main = await kube.core.readNamespacedService({ namespace: 'mumbai', name: 'nginxservice' });
  if (main.spec.selector.app !== `nginxservice-dep-${DEMO_ID}-test1`) {
    throw new Error(`main Service selects "${main.spec.selector.app}" after promotion`);
  }
  console.log('smoke: start and conclude of a demo experiment converged');
}

async function main() {
  if (!existsSync(join(root, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
  controlPlane('start');
  const env = readEnv();
  const kubeconfig = env.KUBECONFIG;
  const kube = kubeClients(kubeconfig);
  await createNamespace(kube, 'mumbai');
  await createNamespace(kube, maydayNamespace);
  if (process.env.TRAFFIC_PROVIDER === 'gateway-api') await installHttpRouteCrd(kube);
  const controlPlaneSeconds = ((Date.now() - started) / 1000).toFixed(1);

  const mayday = spawn(process.execPath, ['--max-semi-space-size=2', join(root, 'dist', 'main.js')], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      PORT: port,
      HOST: process.env.HOST ?? '127.0.0.1',
      WEBHOOK_TOKEN: token,
      MAYDAY_NAMESPACE: maydayNamespace,
    },
  });
  let stopping = false;
  const stop = (code) => {
    if (stopping) return;
    stopping = true;
    mayday.kill('SIGTERM');
    const done = () => {
      controlPlane('stop');
      process.exit(code);
    };
    if (mayday.exitCode !== null) done();
    else mayday.once('exit', done);
  };
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  mayday.on('exit', (code) => {
    if (!stopping) {
      console.error(`Mayday exited with ${code}`);
      stop(1);
    }
  });

  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, mayday);
  console.log(`
Mayday is running (control plane up in ${controlPlaneSeconds} s, ready in ${((Date.now() - started) / 1000).toFixed(1)} s in all)
  webhook URL:   ${url}/webhooks/superposition   (POST; /hi also works)
  health:        ${url}/health/ready
  kubeconfig:    ${kubeconfig}
  nodes:         ${process.env.KUBE_NODES ?? '2'} hollow node(s) (KUBE_NODES): pods "run" on a fake runtime and become ready
  webhook token: ${token}   (WEBHOOK_TOKEN; random for this run unless you set it)
  look with:     kubectl --kubeconfig ${kubeconfig} -n mumbai get deploy,svc,ingress
  records:       kubectl --kubeconfig ${kubeconfig} -n ${maydayNamespace} get configmap
  Superposition: ${process.env.SUPERPOSITION_URL ?? "not set: each variant's payload overrides are its config"}
Ctrl-C stops Mayday and the control plane.

Start the demo experiment (paste into another terminal):
  curl -sS -X POST ${url}/webhooks/superposition -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' -d '${JSON.stringify(demoWebhook('ExperimentStarted', demoExperiment('INPROGRESS')))}'
See what Mayday manages:
  curl -sS ${url}/experiments -H 'Authorization: Bearer ${token}'
`);
  try {
    if (demo) await runDemo(url, kube);
    if (smoke) {
      await smokeTest(url, kube);
      stop(0);
    }
  } catch (error) {
    console.error(`${smoke ? 'smoke' : 'demo'} failed: ${error.message}`);
    if (smoke) stop(1);
  }
}

main().catch((error) => {
  console.error(`npm run local: ${error.message}`);
  try {
    controlPlane('stop');
  } finally {
    process.exit(1);
  }
});
