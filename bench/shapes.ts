/**
 * The objects Mayday writes, as plain object literals: copied by hand from src/experiments/manifests.ts,
 * src/traffic/nginx-ingress.ts, src/naming/labels.ts and src/experiments/experiment-record.ts (the bench
 * must not import src/). Only the value of `app.kubernetes.io/managed-by` is a parameter, so that the
 * floor's objects (same shape, same size give or take a few bytes) are never mistaken for Mayday's.
 *
 * Names follow docs/contract.md §6; the bench only uses ids that are already valid Kubernetes names, which
 * Mayday uses unchanged (no hashing), so plain concatenation gives the very same names.
 */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const WORKSPACE_LABEL = 'mayday.superposition.io/workspace';
export const EXPERIMENT_LABEL = 'mayday.superposition.io/experiment';
export const VARIANT_LABEL = 'mayday.superposition.io/variant';
export const ROLE_LABEL = 'mayday.superposition.io/role';
export const APP_LABEL = 'app';
export const CANARY_ANNOTATION = 'nginx.ingress.kubernetes.io/canary';
export const CANARY_WEIGHT_ANNOTATION = 'nginx.ingress.kubernetes.io/canary-weight';
export const SERVICE_PORT = 80;
export const INGRESS_CLASS = 'nginx';

export type Role = 'stable' | 'canary' | 'record';

/** One experiment with one CONTROL and one EXPERIMENTAL variant, in one namespace. */
export interface ExperimentIdentity {
  namespace: string;
  /** The workspace id: the service. */
  service: string;
  experimentId: string;
  /** `<id>-control` */
  controlId: string;
  /** `<id>-test1` */
  canaryId: string;
  /** Who the objects say made them: `mayday` for Mayday's, something else for the floor's. */
  managedBy: string;
}

export const names = {
  deployment: (service: string, variantId: string) => `${service}-dep-${variantId}`,
  canaryService: (service: string, variantId: string) => `${service}-service-${variantId}`,
  canaryIngress: (service: string, variantId: string) => `${service}-ingress-${variantId}`,
  mainService: (service: string) => service,
  mainIngress: (service: string) => service,
  record: (experimentId: string) => `mayday-experiment-${experimentId}`,
  host: (service: string, namespace: string) => `${service}.${namespace}`,
};

export function labels(id: ExperimentIdentity, role: Role, variantId?: string): Record<string, string> {
  const result: Record<string, string> = {
    [MANAGED_BY_LABEL]: id.managedBy,
    [WORKSPACE_LABEL]: id.service,
    [EXPERIMENT_LABEL]: id.experimentId,
    [ROLE_LABEL]: role,
  };
  if (variantId !== undefined) result[VARIANT_LABEL] = variantId;
  return result;
}

/** A label selector for the objects of one workspace made by `managedBy`. */
export function workspaceSelector(managedBy: string, service: string): string {
  return `${MANAGED_BY_LABEL}=${managedBy},${WORKSPACE_LABEL}=${service}`;
}

/** manifests.ts variantDeployment(): replicas 1, one container `app` on port 80, pods labelled without the role. */
export function deployment(id: ExperimentIdentity, variantId: string, image: string, role: Role) {
  const name = names.deployment(id.service, variantId);
  const objectLabels = labels(id, role, variantId);
  const podLabels: Record<string, string> = { ...objectLabels, [APP_LABEL]: name };
  delete podLabels[ROLE_LABEL];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: id.namespace, labels: objectLabels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { [APP_LABEL]: name } },
      template: {
        metadata: { labels: podLabels },
        spec: {
          containers: [{ name: 'app', image, ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] }],
        },
      },
    },
  };
}

/** manifests.ts service(): port 80 to the container port, selecting the variant's pods. */
function service(id: ExperimentIdentity, name: string, variantId: string, role: Role) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: id.namespace, labels: labels(id, role, variantId) },
    spec: {
      type: 'ClusterIP',
      selector: { [APP_LABEL]: names.deployment(id.service, variantId) },
      ports: [{ name: 'http', port: SERVICE_PORT, targetPort: 80, protocol: 'TCP' }],
    },
  };
}

export function canaryService(id: ExperimentIdentity, variantId: string) {
  return service(id, names.canaryService(id.service, variantId), variantId, 'canary');
}

/** The main Service `{service}`, selecting the pods of `stableVariantId`. */
export function mainService(id: ExperimentIdentity, stableVariantId: string) {
  return service(id, names.mainService(id.service), stableVariantId, 'stable');
}

function ingressSpec(id: ExperimentIdentity, serviceName: string) {
  return {
    ingressClassName: INGRESS_CLASS,
    rules: [
      {
        host: names.host(id.service, id.namespace),
        http: {
          paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: serviceName, port: { number: SERVICE_PORT } } } }],
        },
      },
    ],
  };
}

/** nginx-ingress.ts mainIngress(): host and `/` to the main Service, labelled with the stable variant. */
export function mainIngress(id: ExperimentIdentity, stableVariantId: string) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: names.mainIngress(id.service), namespace: id.namespace, labels: labels(id, 'stable', stableVariantId) },
    spec: ingressSpec(id, names.mainService(id.service)),
  };
}

/** nginx-ingress.ts canaryIngress(): the same host and path, weighted by ingress-nginx's canary annotations. */
export function canaryIngress(id: ExperimentIdentity, variantId: string, weight: number) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: names.canaryIngress(id.service, variantId),
      namespace: id.namespace,
      labels: labels(id, 'canary', variantId),
      annotations: { [CANARY_ANNOTATION]: 'true', [CANARY_WEIGHT_ANNOTATION]: String(weight) },
    },
    spec: ingressSpec(id, names.canaryService(id.service, variantId)),
  };
}

/** experiment-record.ts recordToConfigMap(): what Mayday writes after every transition (not part of the floor). */
export function recordConfigMap(id: ExperimentIdentity, status: string, event: string, lastModified: string, experimentJson: string) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: names.record(id.experimentId), namespace: id.namespace, labels: labels(id, 'record') },
    data: {
      experimentId: id.experimentId,
      workspace: id.service,
      namespace: id.namespace,
      status,
      event,
      appliedAt: new Date().toISOString(),
      phase: 'applied',
      experiment: experimentJson,
      organisationId: 'localorg',
      lastModified,
    },
  };
}
