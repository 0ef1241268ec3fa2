import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import { APP_LABEL, maydayLabels, ROLE_LABEL, type Role } from '../../naming/labels';
import { canaryServiceName, deploymentName, mainServiceName, SERVICE_PORT } from '../../naming/names';
import type { DeploymentSettings } from './variant-config';

/** Who an object is for: the service (workspace), the experiment and the variant. */
export interface VariantIdentity {
  namespace: string;
  service: string;
  experimentId: string;
  variantId: string;
}

/**
 * A variant's Deployment `{service}-dep-{variant}`. Pods carry `app: <deployment name>` (the seed's
 * selector) and no role label, so that promotion relabels the Deployment without rolling its pods.
 */
export function variantDeployment(id: VariantIdentity, settings: DeploymentSettings, role: Role): V1Deployment {
  const name = deploymentName(id.service, id.variantId);
  const owner = { workspace: id.service, experimentId: id.experimentId, variantId: id.variantId };
  const labels = maydayLabels({ ...owner, role });
  const podLabels: Record<string, string> = { ...labels, [APP_LABEL]: name };
  delete podLabels[ROLE_LABEL];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: id.namespace, labels },
    spec: {
      replicas: settings.replicas,
      selector: { matchLabels: { [APP_LABEL]: name } },
      template: {
        metadata: { labels: podLabels },
        spec: {
          containers: [
            {
              name: 'app',
              image: settings.image,
              ports: [{ name: 'http', containerPort: settings.port, protocol: 'TCP' }],
              ...(settings.env.length > 0 ? { env: settings.env } : {}),
            },
          ],
        },
      },
    },
  };
}

/** A variant's Service `{service}-service-{variant}`: port 80 to the container port. */
export function canaryService(id: VariantIdentity, targetPort: number): V1Service {
  return service(canaryServiceName(id.service, id.variantId), id, 'canary', targetPort);
}

/** The main Service `{service}`, selecting the stable variant's pods. */
export function mainService(id: VariantIdentity, targetPort: number): V1Service {
  return service(mainServiceName(id.service), id, 'stable', targetPort);
}

/** A Service on port 80 selecting the pods of the variant's Deployment. */
function service(name: string, id: VariantIdentity, role: Role, targetPort: number): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: id.namespace,
      labels: maydayLabels({ workspace: id.service, experimentId: id.experimentId, variantId: id.variantId, role }),
    },
    spec: {
      type: 'ClusterIP',
      selector: { [APP_LABEL]: deploymentName(id.service, id.variantId) },
      // protocol is part of the ports list key: server-side apply refuses a port without it.
      ports: [{ name: 'http', port: SERVICE_PORT, targetPort, protocol: 'TCP' }],
    },
  };
}
