import { actionFor } from '../../kubernetes/object-diff';
import type { ExperimentPlan } from '../plan/experiment-plan';
import { rollbackEvents } from '../plan/transition-events';
import type { ChangeSet, Observed, TransitionRules } from './change-set';
import { isCanaryOf, routeScope } from './plan-objects';

/** DISCARDED, or CONTROL won: canary routes, Services and Deployments go; the main path stays as it is. */
export function rollback(plan: ExperimentPlan, observed: Observed, rules: TransitionRules): ChangeSet {
  const routes = rules.router.planFinalize(routeScope(plan, observed.mainService, undefined), observed.routes);
  const main = observed.mainService ? actionFor(observed.mainService, 'unchanged') : undefined;
  return {
    workloads: [],
    relabels: [],
    failures: [],
    routes,
    deletes: [...observed.services, ...observed.deployments].filter((object) => isCanaryOf(object, plan)),
    canaries: [],
    record: { phase: 'applied' },
    events: (written) => rollbackEvents(plan, main, written.actions),
  };
}
