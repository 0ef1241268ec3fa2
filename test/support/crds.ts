import {
  ApiextensionsV1Api,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const HTTPROUTE_CRD = resolve(__dirname, '../../scripts/crds/httproute.gateway.networking.k8s.io.yaml');

/** Installs a CRD file and waits until the API server serves it (condition Established). */
export async function installCrd(kubeconfigPath: string, file = HTTPROUTE_CRD): Promise<void> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const objects = KubernetesObjectApi.makeApiClient(kubeConfig);
  const extensions = kubeConfig.makeApiClient(ApiextensionsV1Api);
  for (const crd of loadAllYaml(readFileSync(file, 'utf8')) as V1CustomResourceDefinition[]) {
    await objects.patch(crd, undefined, undefined, 'mayday-tests', true, PatchStrategy.ServerSideApply);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const live = await extensions.readCustomResourceDefinition({ name: crd.metadata!.name! });
      if (live.status?.conditions?.some((condition) => condition.type === 'Established' && condition.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata!.name} not established within 30 s`);
      await new Promise((done) => setTimeout(done, 100));
    }
  }
}
