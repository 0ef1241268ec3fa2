import type { V1Deployment, V1DeploymentCondition } from '@kubernetes/client-node';
import type { Cluster } from './cluster';

/**
 * Plays the kubelet and the controllers, which the test API server does not run: writes a
 * Deployment's status through the status subresource, and creates pods with container statuses.
 */
export async function setDeploymentStatus(
  cluster: Cluster,
  namespace: string,
  name: string,
  state: 'available' | 'unavailable' | 'deadline-exceeded',
): Promise<V1Deployment> {
  const deployment = await cluster.apps.readNamespacedDeployment({ namespace, name });
  const now = new Date();
  const conditions: V1DeploymentCondition[] =
    state === 'available'
      ? [
          { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', lastUpdateTime: now, lastTransitionTime: now },
          { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', lastUpdateTime: now, lastTransitionTime: now },
        ]
      : state === 'unavailable'
        ? [{ type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', lastUpdateTime: now, lastTransitionTime: now }]
        : [
            { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', lastUpdateTime: now, lastTransitionTime: now },
            {
              type: 'Progressing',
              status: 'False',
              reason: 'ProgressDeadlineExceeded',
              message: `ReplicaSet "${name}-5d4f8" has timed out progressing.`,
              lastUpdateTime: now,
              lastTransitionTime: now,
            },
          ];
  const replicas = deployment.spec?.replicas ?? 1;
  const available = state === 'available' ? replicas : 0;
  deployment.status = {
    observedGeneration: deployment.metadata?.generation,
    replicas,
    updatedReplicas: replicas,
    readyReplicas: available,
    availableReplicas: available,
    unavailableReplicas: replicas - available,
    conditions,
  };
  return cluster.apps.replaceNamespacedDeploymentStatus({ namespace, name, body: deployment });
}

/** A pod of the Deployment (its template labels) whose container restarted `restarts` times. */
export async function createCrashingPod(cluster: Cluster, namespace: string, deploymentName: string, restarts: number): Promise<void> {
  const deployment = await cluster.apps.readNamespacedDeployment({ namespace, name: deploymentName });
  const name = `${deploymentName.slice(0, 40)}-pod-${Math.random().toString(36).slice(2, 7)}`;
  // Admission wants the pod's service account; without a controller-manager nobody made "default".
  await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'default' } } }).catch((error) => {
    if (error.code !== 409) throw error;
  });
  await cluster.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels: deployment.spec!.template.metadata!.labels },
      // No token to mount either: no controller-manager makes service-account tokens here.
      spec: {
        automountServiceAccountToken: false,
        containers: [{ name: 'app', image: deployment.spec!.template.spec!.containers[0].image }],
      },
    },
  });
  const pod = await cluster.core.readNamespacedPod({ namespace, name });
  pod.status = {
    phase: 'Running',
    containerStatuses: [
      {
        name: 'app',
        image: deployment.spec!.template.spec!.containers[0].image!,
        imageID: '',
        ready: false,
        restartCount: restarts,
        started: false,
        state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s restarting failed container' } },
      },
    ],
  };
  await cluster.core.replaceNamespacedPodStatus({ namespace, name, body: pod });
}
