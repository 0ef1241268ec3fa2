import type { V1Deployment, V1Service } from '@kubernetes/client-node';

/**
 * Why `service` would send no traffic to the pods of `deployment` once it selects them, or
 * undefined when it would. Only the first port is checked: it is the one Mayday routes to.
 *
 * A named `targetPort` needs a container port of that name (else the pods get no endpoints at
 * all); a numeric one (or none: it then defaults to `port`) needs the container port the variant's
 * config declares, which is where the application listens as far as Mayday knows.
 */
export function unservedPort(service: V1Service, deployment: V1Deployment): string | undefined {
  const servicePort = service.spec?.ports?.[0];
  if (!servicePort) return undefined;
  const targetPort = servicePort.targetPort ?? servicePort.port;
  const declared = (deployment.spec?.template?.spec?.containers ?? []).flatMap((container) => container.ports ?? []);
  const served = declared.some((port) => (typeof targetPort === 'number' ? port.containerPort === targetPort : port.name === targetPort));
  if (served) return undefined;
  const listening = declared.map((port) => (port.name ? `${port.containerPort} (${port.name})` : String(port.containerPort))).join(', ');
  return (
    `Service ${service.metadata?.namespace}/${service.metadata?.name} sends port ${servicePort.port} to target port ` +
    `${JSON.stringify(targetPort)}, but the pods of Deployment ${deployment.metadata?.name} declare ${listening || 'no port'}; ` +
    `change the Service's targetPort or the variant's container.port`
  );
}
