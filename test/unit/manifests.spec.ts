import { describe, expect, it } from 'vitest';
import { canaryService, mainService, variantDeployment, type VariantIdentity } from '../../src/experiments/plan/manifests';
import type { DeploymentSettings } from '../../src/experiments/plan/variant-config';
import { deploymentName } from '../../src/naming/names';
import { EXPERIMENT_ID, TEST1_ID, CONTROL_ID, WORKSPACE } from './fixtures';

const TEST1: VariantIdentity = { namespace: 'mumbai', service: WORKSPACE, experimentId: EXPERIMENT_ID, variantId: TEST1_ID };
const SETTINGS: DeploymentSettings = {
  replicas: 2,
  image: 'nginx:1.27',
  port: 8080,
  env: [
    { name: 'A', value: '1' },
    { name: 'B', value: 'two' },
  ],
};
const DEP_NAME = 'nginxservice-dep-7350102648234549248-test1';

const ownerLabels = (role: string, variantId = TEST1_ID) => ({
  'app.kubernetes.io/managed-by': 'mayday',
  'mayday.superposition.io/workspace': WORKSPACE,
  'mayday.superposition.io/experiment': EXPERIMENT_ID,
  'mayday.superposition.io/variant': variantId,
  'mayday.superposition.io/role': role,
});

describe('variantDeployment', () => {
  it('builds the seed Deployment with Mayday labels', () => {
    expect(variantDeployment(TEST1, SETTINGS, 'canary')).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: DEP_NAME, namespace: 'mumbai', labels: ownerLabels('canary') },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: DEP_NAME } },
        template: {
          metadata: {
            labels: {
              'app.kubernetes.io/managed-by': 'mayday',
              'mayday.superposition.io/workspace': WORKSPACE,
              'mayday.superposition.io/experiment': EXPERIMENT_ID,
              'mayday.superposition.io/variant': TEST1_ID,
              app: DEP_NAME,
            },
          },
          spec: {
            containers: [
              {
                name: 'app',
                image: 'nginx:1.27',
                ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
                env: [
                  { name: 'A', value: '1' },
                  { name: 'B', value: 'two' },
                ],
              },
            ],
          },
        },
      },
    });
  });

  it('puts no role label on the pods, whatever the role, so promotion does not roll them', () => {
    for (const role of ['canary', 'stable'] as const) {
      const deployment = variantDeployment(TEST1, SETTINGS, role);
      expect(deployment.metadata?.labels?.['mayday.superposition.io/role']).toBe(role);
      expect(deployment.spec?.template.metadata?.labels).not.toHaveProperty(['mayday.superposition.io/role']);
      expect(deployment.spec?.template.metadata?.labels?.app).toBe(DEP_NAME);
    }
    expect(variantDeployment(TEST1, SETTINGS, 'canary').spec?.template).toEqual(
      variantDeployment(TEST1, SETTINGS, 'stable').spec?.template,
    );
  });

  it('selects its pods by app=<deployment name>, and the pod template carries it', () => {
    const deployment = variantDeployment(TEST1, SETTINGS, 'canary');
    const selector = deployment.spec?.selector.matchLabels ?? {};
    const podLabels = deployment.spec?.template.metadata?.labels ?? {};
    expect(selector).toEqual({ app: DEP_NAME });
    for (const [key, value] of Object.entries(selector)) expect(podLabels[key]).toBe(value);
  });

  it('leaves env out when there is none', () => {
    const deployment = variantDeployment(TEST1, { replicas: 0, image: 'nginx:1.25', port: 80, env: [] }, 'stable');
    const container = deployment.spec?.template.spec?.containers[0];
    expect(container).toEqual({
      name: 'app',
      image: 'nginx:1.25',
      ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
    });
    expect(deployment.spec?.replicas).toBe(0);
  });

  it('uses valid names and label values for awkward variant ids', () => {
    const variantId = `${EXPERIMENT_ID}-Test_Variant_${'x'.repeat(60)}`;
    const deployment = variantDeployment({ ...TEST1, variantId }, SETTINGS, 'canary');
    const name = deployment.metadata?.name ?? '';
    expect(name).toBe(deploymentName(WORKSPACE, variantId));
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(deployment.spec?.selector.matchLabels).toEqual({ app: name });
    const variantLabel = deployment.metadata?.labels?.['mayday.superposition.io/variant'] ?? '';
    expect(variantLabel.length).toBeLessThanOrEqual(63);
    expect(variantLabel.startsWith(`${EXPERIMENT_ID}-Test_Variant_`)).toBe(true);
  });
});

describe('canaryService', () => {
  it('is {service}-service-{variant}: port 80 to the container port, selecting the variant pods', () => {
    expect(canaryService(TEST1, 8080)).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'nginxservice-service-7350102648234549248-test1',
        namespace: 'mumbai',
        labels: ownerLabels('canary'),
      },
      spec: {
        type: 'ClusterIP',
        selector: { app: DEP_NAME },
        ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
      },
    });
  });

  it('selects exactly what the variant Deployment labels its pods with', () => {
    const deployment = variantDeployment(TEST1, SETTINGS, 'canary');
    const selector = canaryService(TEST1, 80).spec?.selector ?? {};
    const podLabels = deployment.spec?.template.metadata?.labels ?? {};
    expect(Object.keys(selector)).toEqual(['app']);
    expect(podLabels.app).toBe(selector.app);
  });
});

describe('mainService', () => {
  it('is {service}, role stable, selecting the stable variant pods', () => {
    const control: VariantIdentity = { ...TEST1, variantId: CONTROL_ID };
    expect(mainService(control, 80)).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'nginxservice', namespace: 'mumbai', labels: ownerLabels('stable', CONTROL_ID) },
      spec: {
        type: 'ClusterIP',
        selector: { app: 'nginxservice-dep-7350102648234549248-control' },
        ports: [{ name: 'http', port: 80, targetPort: 80, protocol: 'TCP' }],
      },
    });
  });

  it('uses a DNS-1035 name for a workspace that starts with a digit', () => {
    const service = mainService({ ...TEST1, service: '9lives' }, 3000);
    expect(service.metadata?.name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    expect(service.spec?.ports?.[0]).toEqual({ name: 'http', port: 80, targetPort: 3000, protocol: 'TCP' });
    expect(service.spec?.selector).toEqual({ app: '9lives-dep-7350102648234549248-test1' });
  });
});
