import { PatchStrategy, setHeaderOptions, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import type { Cluster } from './cluster';
import { eventually } from './eventually';

/**
 * The test cluster runs the real controllers and hollow nodes (kubemark: pods "run" on a fake
 * runtime and turn Ready by themselves), so Deployments become available on their own. These
 * helpers wait for that, and play what the fake runtime cannot do (a container that crashes) the
 * way a kubelet reports it: through the pod's status.
 */

/** Waits until the Deployment's current generation has all its replicas updated and available. */
export async function untilRolledOut(cluster: Cluster, namespace: string, name: string, timeoutMs = 30_000): Promise<V1Deployment> {
  return eventually(async () => {
    const deployment = await cluster.apps.readNamespacedDeployment({ namespace, name });
    const replicas = deployment.spec?.replicas ?? 1;
    const status = deployment.status ?? {};
    if (
      (status.observedGeneration ?? 0) < (deployment.metadata?.generation ?? 0) ||
      (status.updatedReplicas ?? 0) < replicas ||
      (status.availableReplicas ?? 0) < replicas
    ) {
      throw new Error(`Deployment ${namespace}/${name} not rolled out: ${JSON.stringify(status)}`);
    }
    return deployment;
  }, timeoutMs);
}

/** The pods the Deployment's ReplicaSets made (its pod template's `app` label). */
export async function podsOf(cluster: Cluster, namespace: string, deploymentName: string): Promise<V1Pod[]> {
  return (await cluster.core.listNamespacedPod({ namespace, labelSelector: `app=${deploymentName}` })).items;
}

/**
 * Reports one running pod of the Deployment as crash-looping with `restarts` restarts (or, with
 * `running`, as running and ready again after them), as its kubelet would. The hollow node's fake
 * runtime never crashes; its kubelet puts its own view back within about 10 s, by which time
 * Mayday has seen the report.
 */
export async function createCrashingPod(
  cluster: Cluster,
  namespace: string,
  deploymentName: string,
  restarts: number,
  now: 'crash-looping' | 'running' = 'crash-looping',
): Promise<void> {
  await eventually(async () => {
    const pod = (await podsOf(cluster, namespace, deploymentName)).find((item) => item.status?.phase === 'Running');
    if (!pod) throw new Error(`no running pod of ${namespace}/${deploymentName}`);
    const container = pod.spec!.containers[0];
    pod.status!.containerStatuses = [
      {
        name: container.name,
        image: container.image!,
        imageID: '',
        ready: now === 'running',
        restartCount: restarts,
        started: now === 'running',
        state:
          now === 'running'
            ? { running: { startedAt: new Date() } }
            : { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s restarting failed container' } },
      },
    ];
    // A conflict (the kubelet wrote meanwhile) is retried with the fresh pod.
    await cluster.core.replaceNamespacedPodStatus({ namespace, name: pod.metadata!.name!, body: pod });
  });
}

/** Labels (or, with `undefined`, unlabels) a node: tests hold pods back with a nodeSelector no node matches yet. */
export async function labelNode(cluster: Cluster, label: string, value: string | undefined): Promise<string> {
  const [node] = (await cluster.core.listNode()).items;
  const name = node.metadata!.name!;
  await cluster.core.patchNode(
    { name, body: { metadata: { labels: { [label]: value ?? null } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  return name;
}

/**
 * Cordons (or uncordons) every node of this file's cluster, as `kubectl cordon` does: no new pod is
 * scheduled meanwhile, so a just-created canary stays unavailable however fast the nodes are.
 */
export async function cordonNodes(cluster: Cluster, unschedulable: boolean): Promise<void> {
  for (const node of (await cluster.core.listNode()).items) {
    await cluster.core.patchNode(
      { name: node.metadata!.name!, body: { spec: { unschedulable } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
}

/**
 * Holds the Deployment's next pods back (a nodeSelector no node matches yet, and a short progress
 * deadline), as another field manager would change it: the controllers then report its rollout
 * as stuck, for real, until `releaseHeldPods` labels a node.
 */
export async function holdNewPods(cluster: Cluster, namespace: string, name: string, progressDeadlineSeconds = 600): Promise<void> {
  const patched = await cluster.apps.patchNamespacedDeployment(
    {
      namespace,
      name,
      fieldManager: 'mayday-tests',
      body: { spec: { progressDeadlineSeconds, template: { spec: { nodeSelector: holdSelector(namespace) } } } },
    },
    setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
  );
  // Returns once the Deployment controller has seen the change, so its status (which Mayday watches)
  // already says the current generation is not rolled out: an event sent right after is judged on that.
  const generation = patched.metadata?.generation ?? 0;
  await eventually(async () => {
    const deployment = await cluster.apps.readNamespacedDeployment({ namespace, name });
    const observed = deployment.status?.observedGeneration ?? 0;
    if (observed < generation) throw new Error(`${namespace}/${name}: generation ${generation} not observed yet (${observed})`);
  }, 30_000);
}

/** Lets the pods `holdNewPods` (or a webhook adding the same nodeSelector) held back be scheduled. */
export async function releaseHeldPods(cluster: Cluster, namespace: string): Promise<string> {
  return labelNode(cluster, `mayday.test/hold-${namespace}`, 'yes');
}

/** A nodeSelector no node matches until `releaseHeldPods(namespace)`. */
export function holdSelector(namespace: string): Record<string, string> {
  return { [`mayday.test/hold-${namespace}`]: 'yes' };
}
