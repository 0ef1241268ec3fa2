import type { V1Deployment, V1Service, V1ServicePort } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { variantDeployment } from '../../src/experiments/plan/manifests';
import { unservedPort } from '../../src/experiments/plan/service-ports';

const winner = (port: number): V1Deployment =>
  variantDeployment(
    { namespace: 'shop', service: 'web', experimentId: '1', variantId: '1-test1' },
    { image: 'nginx:1.27', replicas: 1, port, env: [] },
    'canary',
  );

const userService = (...ports: V1ServicePort[]): V1Service => ({
  metadata: { name: 'web', namespace: 'shop' },
  spec: { selector: { app: 'legacy' }, ports },
});

describe('unservedPort (a Service of the user switched to a winner)', () => {
  it('accepts a numeric targetPort that is the winner’s container port', () => {
    expect(unservedPort(userService({ port: 8080, targetPort: 80 }), winner(80))).toBeUndefined();
    expect(unservedPort(userService({ port: 80, targetPort: 9000 }), winner(9000))).toBeUndefined();
  });

  it('accepts no targetPort when the port itself is the container port (Kubernetes defaults it to port)', () => {
    expect(unservedPort(userService({ port: 80 }), winner(80))).toBeUndefined();
    expect(unservedPort(userService({ port: 8080 }), winner(80))).toMatch(/target port 8080/);
  });

  it('accepts the named port "http" that Mayday gives the container port', () => {
    expect(unservedPort(userService({ port: 80, targetPort: 'http' }), winner(3000))).toBeUndefined();
  });

  it('names the Service, both ports and the fix when the winner listens elsewhere', () => {
    const why = unservedPort(userService({ port: 80, targetPort: 8080 }), winner(80));
    expect(why).toBe(
      'Service shop/web sends port 80 to target port 8080, but the pods of Deployment web-dep-1-test1 declare 80 (http); ' +
        "change the Service's targetPort or the variant's container.port",
    );
  });

  it('refuses a named targetPort the winner’s pods do not have (they would get no endpoints)', () => {
    expect(unservedPort(userService({ port: 80, targetPort: 'web' }), winner(80))).toMatch(/target port "web"/);
  });

  it('checks only the first port, the one the main route uses', () => {
    const service = userService({ name: 'http', port: 80, targetPort: 80 }, { name: 'metrics', port: 9090, targetPort: 9090 });
    expect(unservedPort(service, winner(80))).toBeUndefined();
    expect(unservedPort(service, winner(81))).toMatch(/target port 80,/);
  });

  it('has nothing to check on a Service without ports', () => {
    expect(unservedPort(userService(), winner(80))).toBeUndefined();
  });
});
