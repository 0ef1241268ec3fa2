import { afterAll, beforeAll } from 'vitest';
import { setControlPlane, startControlPlane, stopControlPlane, type ControlPlane } from './control-plane';
import { installCrd } from './crds';
import { installMaydayRbac } from './mayday-rbac';

/**
 * Every e2e file runs against a cluster of its own: etcd, kube-apiserver, the real controllers and
 * hollow nodes (scripts/kube-control-plane.sh). Every Mayday watches the Deployments of its whole
 * cluster and converges the experiments it has records of, so files sharing one cluster would act
 * on each other's experiments with their own settings.
 */
let plane: ControlPlane | undefined;

beforeAll(async () => {
  const started = Date.now();
  plane = await startControlPlane();
  // Gateway API is not built into Kubernetes: the HTTPRoute CRD, for the gateway-api provider's tests.
  await installCrd(plane.kubeconfig);
  // Mayday runs as the ServiceAccount of deploy/, with exactly its RBAC (not as the admin); the
  // migration marker says this cluster never held an earlier Mayday's records.
  plane.maydayToken = await installMaydayRbac(plane.kubeconfig);
  if (process.env.MAYDAY_E2E_VERBOSE) process.stderr.write(`[e2e] cluster ready at ${plane.apiServer} in ${Date.now() - started} ms\n`);
  setControlPlane(plane);
}, 1_800_000);

afterAll(async () => {
  setControlPlane(undefined);
  if (plane) await stopControlPlane(plane);
});
