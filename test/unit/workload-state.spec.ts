import type { V1Deployment, V1DeploymentCondition, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FAILED_ANNOTATION, FAILED_SPEC_ANNOTATION } from '../../src/naming/labels';
import { failureMark, markedFailure, promotionState, workloadState } from '../../src/workloads/workload-state';
import { clone } from './fixtures';

const NAME = 'nginxservice-dep-7350102648234549248-test1';
const MAX_RESTARTS = 3;

/** A canary Deployment the controller has fully rolled out: generation 2 observed, 2 of 2 available. */
function deployment(): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: NAME, namespace: 'mumbai', generation: 2, annotations: { 'deployment.kubernetes.io/revision': '2' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: NAME } },
      template: {
        metadata: { labels: { app: NAME } },
        spec: { containers: [{ name: 'app', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] },
      },
    },
    status: { observedGeneration: 2, replicas: 2, readyReplicas: 2, availableReplicas: 2 },
  };
}

function withConditions(conditions: V1DeploymentCondition[]): V1Deployment {
  const result = deployment();
  result.status!.conditions = conditions;
  return result;
}

function pod(name: string, restartCount: number, waitingReason?: string, image = 'nginx:1.27'): V1Pod {
  return {
    metadata: { name, namespace: 'mumbai', labels: { app: NAME } },
    spec: { containers: [{ name: 'app', image }] },
    status: {
      containerStatuses: [
        {
          name: 'app',
          image: 'nginx:1.27',
          imageID: '',
          ready: restartCount === 0,
          restartCount,
          ...(waitingReason ? { state: { waiting: { reason: waitingReason } } } : {}),
        },
      ],
    },
  };
}

/** The Deployment with Mayday's failure mark made against its current spec. */
function marked(source: V1Deployment, reason: string): V1Deployment {
  const result = clone(source);
  result.metadata!.annotations = { ...result.metadata!.annotations, ...failureMark(source, reason) };
  return result;
}

describe('workloadState: waiting', () => {
  it('when the Deployment does not exist', () => {
    expect(workloadState(undefined, [], MAX_RESTARTS)).toEqual({ phase: 'waiting', reason: 'the Deployment does not exist yet' });
  });

  it('when the controller has not observed the current generation', () => {
    const dep = deployment();
    dep.metadata!.generation = 3;
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({
      phase: 'waiting',
      reason: 'generation 3 not yet observed by the controller',
    });
  });

  it('when the status has no observedGeneration yet', () => {
    const dep = deployment();
    dep.metadata!.generation = 1;
    dep.status = {};
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({
      phase: 'waiting',
      reason: 'generation 1 not yet observed by the controller',
    });
  });

  it('when 0 replicas are available', () => {
    const dep = deployment();
    dep.status!.availableReplicas = 0;
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({ phase: 'waiting', reason: '0 of 2 replicas available' });
  });

  it('when availableReplicas is absent (the API server omits 0), with the default of 1 desired replica', () => {
    const dep = deployment();
    delete dep.status!.availableReplicas;
    delete dep.spec!.replicas;
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({ phase: 'waiting', reason: '0 of 1 replicas available' });
  });
});

describe('workloadState: available', () => {
  it('when the current generation is observed and at least one replica is available', () => {
    expect(workloadState(deployment(), [pod('p1', 0), pod('p2', 0)], MAX_RESTARTS)).toEqual({ phase: 'available' });
  });

  it('with 1 of 2 replicas available', () => {
    const dep = deployment();
    dep.status!.availableReplicas = 1;
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({ phase: 'available' });
  });

  it('when observedGeneration is ahead of a missing metadata.generation', () => {
    const dep = deployment();
    delete dep.metadata!.generation;
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({ phase: 'available' });
  });

  it('with healthy conditions (Progressing=True, ReplicaFailure=False, Available=True)', () => {
    const dep = withConditions([
      { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
      { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
      { type: 'ReplicaFailure', status: 'False', reason: 'FailedCreate' },
    ]);
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({ phase: 'available' });
  });

  it('with Progressing=False for a reason other than ProgressDeadlineExceeded', () => {
    const dep = withConditions([{ type: 'Progressing', status: 'False', reason: 'SomethingElse', message: 'm' }]);
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({ phase: 'available' });
  });
});

describe('workloadState: failed now', () => {
  it('on Progressing=False / ProgressDeadlineExceeded, with the condition message', () => {
    const dep = withConditions([
      {
        type: 'Progressing',
        status: 'False',
        reason: 'ProgressDeadlineExceeded',
        message: `ReplicaSet "${NAME}-5d9c" has timed out progressing.`,
      },
    ]);
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({
      phase: 'failed',
      reason: `ProgressDeadlineExceeded: ReplicaSet "${NAME}-5d9c" has timed out progressing.`,
    });
  });

  it('on ProgressDeadlineExceeded without a message', () => {
    const dep = withConditions([{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }]);
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({
      phase: 'failed',
      reason: 'ProgressDeadlineExceeded: the rollout made no progress within its deadline',
    });
  });

  it('on ReplicaFailure=True, with its message', () => {
    const dep = withConditions([
      { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'pods "x" is forbidden: exceeded quota' },
    ]);
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({
      phase: 'failed',
      reason: 'ReplicaFailure: pods "x" is forbidden: exceeded quota',
    });
  });

  it('on ReplicaFailure=True without a message: the reason, then a default', () => {
    expect(workloadState(withConditions([{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate' }]), [], 3)).toEqual({
      phase: 'failed',
      reason: 'ReplicaFailure: FailedCreate',
    });
    expect(workloadState(withConditions([{ type: 'ReplicaFailure', status: 'True' }]), [], 3)).toEqual({
      phase: 'failed',
      reason: 'ReplicaFailure: pods cannot be created',
    });
  });

  it('when a container restarted more than maxRestarts times, naming container, pod and waiting reason', () => {
    const pods = [pod('p1', 0), pod('p2', MAX_RESTARTS + 1, 'CrashLoopBackOff')];
    expect(workloadState(deployment(), pods, MAX_RESTARTS)).toEqual({
      phase: 'failed',
      reason: 'CrashLoop: container app of pod p2 restarted 4 times (CrashLoopBackOff), more than CANARY_MAX_RESTARTS=3',
    });
  });

  it('without a waiting reason when the container is not waiting', () => {
    expect(workloadState(deployment(), [pod('p1', 10)], MAX_RESTARTS)).toEqual({
      phase: 'failed',
      reason: 'CrashLoop: container app of pod p1 restarted 10 times, more than CANARY_MAX_RESTARTS=3',
    });
  });

  it('not when the restart count equals maxRestarts', () => {
    expect(workloadState(deployment(), [pod('p1', MAX_RESTARTS, 'CrashLoopBackOff')], MAX_RESTARTS)).toEqual({ phase: 'available' });
  });

  it('with maxRestarts 0, on the first restart', () => {
    expect(workloadState(deployment(), [pod('p1', 0)], 0)).toEqual({ phase: 'available' });
    expect(workloadState(deployment(), [pod('p1', 1)], 0)).toEqual({
      phase: 'failed',
      reason: 'CrashLoop: container app of pod p1 restarted 1 times, more than CANARY_MAX_RESTARTS=0',
    });
  });

  it('ignores pods without container statuses', () => {
    expect(workloadState(deployment(), [{ metadata: { name: 'pending' } }, { metadata: { name: 'p' }, status: {} }], 0)).toEqual({
      phase: 'available',
    });
  });
});

describe('failureMark / markedFailure', () => {
  it('is the reason and a 16-hex-digit hash of the spec', () => {
    const mark = failureMark(deployment(), 'CrashLoop: x');
    expect(Object.keys(mark).sort()).toEqual([FAILED_ANNOTATION, FAILED_SPEC_ANNOTATION].sort());
    expect(FAILED_ANNOTATION).toBe('mayday.superposition.io/failed');
    expect(FAILED_SPEC_ANNOTATION).toBe('mayday.superposition.io/failed-spec');
    expect(mark[FAILED_ANNOTATION]).toBe('CrashLoop: x');
    expect(mark[FAILED_SPEC_ANNOTATION]).toMatch(/^[0-9a-f]{16}$/);
  });

  it('is deterministic and independent of key order', () => {
    const reordered = deployment();
    reordered.spec = {
      template: {
        spec: { containers: [{ ports: [{ containerPort: 80 }], image: 'nginx:1.27', name: 'app' }] },
        metadata: { labels: { app: NAME } },
      },
      selector: { matchLabels: { app: NAME } },
      replicas: 2,
    };
    expect(failureMark(reordered, 'r')).toEqual(failureMark(deployment(), 'r'));
  });

  it('makes a healthy, available Deployment failed with the recorded reason', () => {
    const dep = marked(deployment(), 'CrashLoop: container app restarted 5 times');
    expect(markedFailure(dep)).toBe('CrashLoop: container app restarted 5 times');
    expect(workloadState(dep, [pod('p1', 0)], MAX_RESTARTS)).toEqual({
      phase: 'failed',
      reason: 'CrashLoop: container app restarted 5 times',
    });
  });

  it('wins over a failure happening now (the recorded reason is reported)', () => {
    const dep = marked(deployment(), 'recorded');
    expect(workloadState(dep, [pod('p1', 99)], MAX_RESTARTS)).toEqual({ phase: 'failed', reason: 'recorded' });
  });

  it('survives a change of metadata.generation, annotations and status alone', () => {
    const dep = marked(deployment(), 'ProgressDeadlineExceeded: slow');
    dep.metadata!.generation = 7;
    dep.metadata!.annotations = { ...dep.metadata!.annotations, 'deployment.kubernetes.io/revision': '9', 'team/owner': 'a' };
    dep.metadata!.labels = { extra: 'label' };
    dep.status = { observedGeneration: 7, availableReplicas: 2 };
    expect(markedFailure(dep)).toBe('ProgressDeadlineExceeded: slow');
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({ phase: 'failed', reason: 'ProgressDeadlineExceeded: slow' });
  });

  it('is cleared by a new image (a changed variant config)', () => {
    const dep = marked(deployment(), 'CrashLoop: x');
    dep.spec!.template.spec!.containers[0].image = 'nginx:1.28';
    expect(markedFailure(dep)).toBeUndefined();
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({ phase: 'available' });
  });

  it('is cleared by a new replica count', () => {
    const dep = marked(deployment(), 'CrashLoop: x');
    dep.spec!.replicas = 3;
    expect(markedFailure(dep)).toBeUndefined();
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({ phase: 'available' });
  });

  it('is cleared by a new environment variable in the pod template', () => {
    const dep = marked(deployment(), 'CrashLoop: x');
    dep.spec!.template.spec!.containers[0].env = [{ name: 'MODE', value: 'b' }];
    expect(markedFailure(dep)).toBeUndefined();
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({ phase: 'available' });
  });

  it('does not apply when the spec hash was made for another template', () => {
    const other = deployment();
    other.spec!.template.spec!.containers[0].image = 'nginx:broken';
    const dep = deployment();
    dep.metadata!.annotations = { ...dep.metadata!.annotations, ...failureMark(other, 'CrashLoop: old') };
    expect(markedFailure(dep)).toBeUndefined();
    expect(workloadState(dep, [], MAX_RESTARTS)).toEqual({ phase: 'available' });
  });

  it('does not apply without the spec annotation, or with an empty reason', () => {
    const noHash = deployment();
    noHash.metadata!.annotations = { [FAILED_ANNOTATION]: 'CrashLoop: x' };
    expect(markedFailure(noHash)).toBeUndefined();
    expect(workloadState(noHash, [], MAX_RESTARTS)).toEqual({ phase: 'available' });

    const emptyReason = marked(deployment(), '');
    expect(markedFailure(emptyReason)).toBeUndefined();
    expect(workloadState(emptyReason, [], MAX_RESTARTS)).toEqual({ phase: 'available' });
  });

  it('is undefined for a Deployment without annotations', () => {
    const dep = deployment();
    delete dep.metadata!.annotations;
    expect(markedFailure(dep)).toBeUndefined();
  });
});

describe('workloadState: signals of the previous spec', () => {
  it('waits, rather than fails, while the controller has not observed the current generation', () => {
    const updated = withConditions([
      { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'old RS timed out' },
    ]);
    updated.metadata!.generation = 3;
    updated.status!.observedGeneration = 2;
    expect(workloadState(updated, [], MAX_RESTARTS)).toEqual({
      phase: 'waiting',
      reason: 'generation 3 not yet observed by the controller',
    });
  });

  it('ignores crash-looping pods of an older pod template that differs only in env', () => {
    const current = deployment();
    current.spec!.template.spec!.containers[0].env = [{ name: 'MODE', value: 'new' }];
    current.status = { observedGeneration: current.metadata!.generation, availableReplicas: 1 };
    const old = pod('old', MAX_RESTARTS + 5, 'CrashLoopBackOff');
    old.spec!.containers[0].env = [{ name: 'MODE', value: 'old' }];
    expect(workloadState(current, [old], MAX_RESTARTS)).toEqual({ phase: 'available' });
    const crashing = pod('new', MAX_RESTARTS + 1, 'CrashLoopBackOff');
    crashing.spec!.containers[0].env = [
      { name: 'MODE', value: 'new' },
      { name: 'INJECTED', value: 'by-a-webhook' },
    ];
    expect(workloadState(current, [crashing], MAX_RESTARTS).phase).toBe('failed');
  });

  it('counts pods with an injected sidecar container as current', () => {
    const current = deployment();
    current.status = { observedGeneration: current.metadata!.generation, availableReplicas: 1 };
    const withSidecar = pod('meshed', MAX_RESTARTS + 1, 'CrashLoopBackOff');
    withSidecar.spec!.containers.unshift({ name: 'istio-proxy', image: 'proxyv2:1.20' });
    expect(workloadState(current, [withSidecar], MAX_RESTARTS)).toMatchObject({
      phase: 'failed',
      reason: expect.stringContaining('container app of pod meshed restarted 4 times'),
    });
  });

  it('ignores crash-looping pods of an older pod template (another image)', () => {
    const current = deployment();
    current.status = { observedGeneration: current.metadata!.generation, availableReplicas: 1 };
    expect(workloadState(current, [pod('old', MAX_RESTARTS + 5, 'CrashLoopBackOff', 'nginx:1.26')], MAX_RESTARTS)).toEqual({
      phase: 'available',
    });
    expect(workloadState(current, [pod('new', MAX_RESTARTS + 1, 'CrashLoopBackOff')], MAX_RESTARTS).phase).toBe('failed');
  });
});

describe('promotionState: may the winner take all the traffic', () => {
  function scaled(replicas: number, updated: number, available: number): V1Deployment {
    const result = deployment();
    result.spec!.replicas = replicas;
    result.status = { observedGeneration: 2, replicas, updatedReplicas: updated, readyReplicas: available, availableReplicas: available };
    return result;
  }

  it('waits with 1 of 5 available, though a canary with 1 is available', () => {
    const oneOfFive = scaled(5, 5, 1);
    expect(workloadState(oneOfFive, [], MAX_RESTARTS)).toEqual({ phase: 'available' });
    expect(promotionState(oneOfFive, [], MAX_RESTARTS, 100)).toEqual({
      phase: 'waiting',
      reason: 'the promotion needs 5 of 5 replicas of the current generation available',
    });
  });

  it('is available with every replica of the current generation available', () => {
    expect(promotionState(scaled(5, 5, 5), [], MAX_RESTARTS, 100)).toEqual({ phase: 'available' });
  });

  it('does not count available pods of the previous template', () => {
    const rolling = scaled(1, 1, 1);
    rolling.status!.replicas = 2; // the old pod (available) and the new one (not yet)
    expect(promotionState(rolling, [], MAX_RESTARTS, 100).phase).toBe('waiting');
    rolling.status!.replicas = 1;
    expect(promotionState(rolling, [], MAX_RESTARTS, 100).phase).toBe('available');
  });

  it('needs PROMOTION_MIN_AVAILABLE_PERCENT of the replicas, rounded up, and at least one', () => {
    expect(promotionState(scaled(5, 5, 4), [], MAX_RESTARTS, 80)).toEqual({ phase: 'available' });
    expect(promotionState(scaled(5, 5, 3), [], MAX_RESTARTS, 80)).toEqual({
      phase: 'waiting',
      reason: 'the promotion needs 4 of 5 replicas of the current generation available (PROMOTION_MIN_AVAILABLE_PERCENT=80)',
    });
    expect(promotionState(scaled(2, 2, 1), [], MAX_RESTARTS, 1)).toEqual({ phase: 'available' });
  });

  it('never promotes onto nothing, nor onto a generation the controller has not seen, nor onto a failing one', () => {
    expect(promotionState(scaled(0, 0, 0), [], MAX_RESTARTS, 100).phase).toBe('waiting');
    const unseen = scaled(5, 5, 5);
    unseen.metadata!.generation = 3;
    expect(promotionState(unseen, [], MAX_RESTARTS, 100)).toEqual({
      phase: 'waiting',
      reason: 'generation 3 not yet observed by the controller',
    });
    expect(promotionState(undefined, [], MAX_RESTARTS, 100).phase).toBe('waiting');
    expect(promotionState(marked(scaled(5, 5, 5), 'CrashLoop: x'), [], MAX_RESTARTS, 100)).toEqual({
      phase: 'failed',
      reason: 'CrashLoop: x',
    });
  });
});
