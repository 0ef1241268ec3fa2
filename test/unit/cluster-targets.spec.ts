import { describe, expect, it } from 'vitest';
import { UnprocessableEventError } from '../../src/common/errors';
import type { ClusterSettings } from '../../src/config/mayday-config';
import { ContextError, contextDimensions, dimensionValues, narrowedContext } from '../../src/contract/context';
import type { ExperimentEvent } from '../../src/contract/experiment-event';
import { eventForCluster, targetClusters } from '../../src/experiments/plan/cluster-targets';
import { experimentDto, WORKSPACE } from './fixtures';

const CLUSTERS: ClusterSettings = {
  names: ['ap-south-1a', 'ap-south-1b', 'eu-west-1a'],
  dimension: 'cluster',
  defaultCluster: 'ap-south-1a',
  globalWorkspaces: ['edge'],
  current: 'ap-south-1a',
};

const eq = (name: string, value: unknown) => ({ '==': [{ var: name }, value] });
const within = (name: string, values: unknown) => ({ in: [{ var: name }, values] });

function event(context: Record<string, unknown>, workspace = WORKSPACE): ExperimentEvent {
  return { event: 'ExperimentStarted', workspace, experiment: { ...experimentDto(), context } };
}

describe('targetClusters: which clusters an experiment is for, from its context alone', () => {
  it('reads the flat map, JSON-logic == and in (also inside and), in CLUSTERS order', () => {
    expect(targetClusters(event({ cluster: 'ap-south-1b', namespace: 'payments' }), CLUSTERS)).toEqual(['ap-south-1b']);
    expect(targetClusters(event({ and: [eq('namespace', 'payments'), eq('cluster', 'eu-west-1a')] }), CLUSTERS)).toEqual(['eu-west-1a']);
    expect(targetClusters(event(eq('cluster', 'ap-south-1b')), CLUSTERS)).toEqual(['ap-south-1b']);
    expect(targetClusters(event(within('cluster', ['eu-west-1a', 'ap-south-1a'])), CLUSTERS)).toEqual(['ap-south-1a', 'eu-west-1a']);
    expect(
      targetClusters(event({ and: [eq('namespace', 'payments'), within('cluster', ['ap-south-1b', 'ap-south-1b'])] }), CLUSTERS),
    ).toEqual(['ap-south-1b']);
  });

  it('sends an experiment naming no cluster to DEFAULT_CLUSTER, or to every cluster for a workspace of GLOBAL_WORKSPACES', () => {
    expect(targetClusters(event({ namespace: 'payments' }), CLUSTERS)).toEqual(['ap-south-1a']);
    expect(targetClusters(event({ namespace: 'payments', cluster: '' }), CLUSTERS)).toEqual(['ap-south-1a']);
    expect(targetClusters(event({ namespace: 'payments' }, 'edge'), CLUSTERS)).toEqual(CLUSTERS.names);
    // A global workspace's experiment that names clusters goes where it says.
    expect(targetClusters(event({ cluster: 'eu-west-1a' }, 'edge'), CLUSTERS)).toEqual(['eu-west-1a']);
  });

  it('refuses a cluster it does not know with a 422 naming the dimension and the known clusters', () => {
    for (const context of [{ cluster: 'us-east-1' }, within('cluster', ['ap-south-1a', 'us-east-1']), eq('cluster', 'us-east-1')]) {
      const refusal = (() => {
        try {
          targetClusters(event(context), CLUSTERS);
        } catch (error) {
          return error;
        }
        throw new Error(`no refusal for ${JSON.stringify(context)}`);
      })();
      expect(refusal).toBeInstanceOf(UnprocessableEventError);
      expect((refusal as UnprocessableEventError).answer().statusCode).toBe(422);
      expect((refusal as Error).message).toBe(
        'context dimension "cluster" names "us-east-1"; the clusters Mayday knows (CLUSTERS) are ap-south-1a, ap-south-1b, eu-west-1a',
      );
    }
    expect(() => targetClusters(event(within('cluster', [])), CLUSTERS)).toThrow(/names no cluster/);
  });

  it('refuses a cluster value that is not a string, and a list that is not of strings', () => {
    expect(() => targetClusters(event({ cluster: ['ap-south-1a'] }), CLUSTERS)).toThrow(ContextError);
    expect(() => targetClusters(event(within('cluster', 'ap-south-1a')), CLUSTERS)).toThrow(ContextError);
    expect(() => targetClusters(event(within('cluster', [1])), CLUSTERS)).toThrow(ContextError);
    expect(() => targetClusters(event({ and: [eq('cluster', 'ap-south-1a'), eq('cluster', 'ap-south-1b')] }), CLUSTERS)).toThrow(
      /more than once/,
    );
  });

  it('honours CLUSTER_DIMENSION', () => {
    const byRegion = { ...CLUSTERS, dimension: 'region' };
    expect(targetClusters(event({ region: 'eu-west-1a', cluster: 'nowhere' }), byRegion)).toEqual(['eu-west-1a']);
  });
});

describe('eventForCluster: the event as one cluster handles it', () => {
  it('narrows an "in" to that cluster, so resolving and recording speak of one cluster', () => {
    const spanning = event({ and: [eq('namespace', 'payments'), within('cluster', ['ap-south-1a', 'ap-south-1b'])] });
    const inB = eventForCluster(spanning, CLUSTERS, 'ap-south-1b')!;
    expect(inB.experiment.context).toEqual({ and: [eq('namespace', 'payments'), eq('cluster', 'ap-south-1b')] });
    expect(contextDimensions(inB.experiment.context)).toEqual({ namespace: 'payments', cluster: 'ap-south-1b' });
    expect(spanning.experiment.context).toEqual({ and: [eq('namespace', 'payments'), within('cluster', ['ap-south-1a', 'ap-south-1b'])] });
  });

  it('is undefined for a cluster the experiment is not for, and leaves other contexts as they are', () => {
    expect(eventForCluster(event({ cluster: 'ap-south-1b' }), CLUSTERS, 'ap-south-1a')).toBeUndefined();
    expect(eventForCluster(event(within('cluster', ['ap-south-1b'])), CLUSTERS, 'eu-west-1a')).toBeUndefined();
    const flat = event({ cluster: 'ap-south-1b', namespace: 'payments' });
    expect(eventForCluster(flat, CLUSTERS, 'ap-south-1b')).toBe(flat);
    const global = event({ namespace: 'payments' }, 'edge');
    expect(eventForCluster(global, CLUSTERS, 'eu-west-1a')).toBe(global);
  });
});

describe('dimensionValues and narrowedContext', () => {
  it('say nothing about a context that does not name the dimension', () => {
    expect(dimensionValues({ namespace: 'x' }, 'cluster')).toBeUndefined();
    expect(dimensionValues({ and: [eq('namespace', 'x')] }, 'cluster')).toBeUndefined();
    expect(narrowedContext({ cluster: 'a' }, 'cluster', 'a')).toEqual({ cluster: 'a' });
  });

  it('leave an "in" on another dimension to the plan (which does not understand it)', () => {
    const context = { and: [within('namespace', ['x', 'y']), eq('cluster', 'a')] };
    expect(dimensionValues(context, 'cluster')).toEqual(['a']);
    expect(narrowedContext(context, 'cluster', 'a')).toEqual(context);
    expect(() => contextDimensions(context)).toThrow(ContextError);
  });
});
