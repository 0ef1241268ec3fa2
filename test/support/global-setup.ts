import type { TestProject } from 'vitest/node';
import { startControlPlane, stopControlPlane, type ControlPlane } from './control-plane';
import { installCrd } from './crds';
import { installMaydayRbac } from './mayday-rbac';

declare module 'vitest' {
  export interface ProvidedContext {
    controlPlane: ControlPlane & {
      /** A token of the ServiceAccount deploy/ installs, with exactly deploy/'s RBAC: how e2e Maydays log in. */
      maydayToken: string;
    };
  }
}

/** Starts one real kube-apiserver (with etcd) for the e2e run and stops it afterwards. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const plane = await startControlPlane();
  // Gateway API is not built into Kubernetes: the HTTPRoute CRD, for the gateway-api provider's tests.
  await installCrd(plane.kubeconfig);
  // Mayday runs as the ServiceAccount of deploy/, with exactly its RBAC (not as the admin).
  const maydayToken = await installMaydayRbac(plane.kubeconfig);
  process.stderr.write(`[e2e] kube-apiserver ready at ${plane.apiServer} in ${Date.now() - started} ms\n`);
  project.provide('controlPlane', { ...plane, maydayToken });
  return async () => {
    await stopControlPlane(plane);
  };
}
