import { UnprocessableEventError } from '../../common/errors';
import type { ClusterSettings } from '../../config/mayday-config';
import { dimensionValues, narrowedContext } from '../../contract/context';
import type { ExperimentEvent } from '../../contract/experiment-event';

/**
 * The clusters an experiment event is for (CLUSTERS order), from the experiment alone: the clusters its
 * context names in CLUSTER_DIMENSION (a value, `==`, or `in` a list); without one, every cluster for a
 * workspace in GLOBAL_WORKSPACES, else DEFAULT_CLUSTER. A name that is not in CLUSTERS refuses the whole
 * event (422) before anything is written anywhere. Nothing in any cluster has a say: the experiment comes
 * from Superposition, through the webhook token.
 */
export function targetClusters(event: ExperimentEvent, clusters: ClusterSettings): string[] {
  const named = dimensionValues(event.experiment.context, clusters.dimension);
  if (named === undefined) {
    return clusters.globalWorkspaces.includes(event.workspace) ? [...clusters.names] : [clusters.defaultCluster];
  }
  const unknown = [...new Set(named.filter((name) => !clusters.names.includes(name)))];
  if (unknown.length > 0 || named.length === 0) {
    const what = unknown.length > 0 ? unknown.map((name) => JSON.stringify(name)).join(', ') : 'no cluster';
    throw new UnprocessableEventError(
      `context dimension "${clusters.dimension}" names ${what}; the clusters Mayday knows (CLUSTERS) are ${clusters.names.join(', ')}`,
    );
  }
  return clusters.names.filter((name) => named.includes(name));
}

/**
 * The event as `cluster`'s rooms handle it (its context narrowed to that cluster), or undefined when the
 * experiment is not for that cluster.
 */
export function eventForCluster(event: ExperimentEvent, clusters: ClusterSettings, cluster: string): ExperimentEvent | undefined {
  if (!targetClusters(event, clusters).includes(cluster)) return undefined;
  const context = narrowedContext(event.experiment.context, clusters.dimension, cluster);
  return context === event.experiment.context ? event : { ...event, experiment: { ...event.experiment, context } };
}
