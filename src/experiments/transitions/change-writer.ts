import { Logger } from '@nestjs/common';
import type { KubernetesObject } from '@kubernetes/client-node';
import { UnprocessableEventError } from '../../common/errors';
import type { KubeResourcesService, ObjectRef } from '../../kubernetes/kube-resources.service';
import { actionFor, isAsApplied, withAppliedHash, type ObjectAction } from '../../kubernetes/object-diff';
import type { MetricsService } from '../../metrics/metrics.service';
import { APP_LABEL } from '../../naming/labels';
import type { Apply, ChangeSet, FailureMark, Relabel, SelectorSwitch, Written } from './change-set';
import { sameSelector } from './plan-objects';

/**
 * The one place a transition's ChangeSet is written, in the order that never leaves a route
 * pointing at nothing: the workloads (in parallel), their labels and failure marks, then the main
 * Service, then the routes (in order), then the deletions. Says what it did.
 */
export class ChangeWriter {
  private readonly logger = new Logger(ChangeWriter.name);

  constructor(
    private readonly kube: KubeResourcesService,
    private readonly metrics: MetricsService,
  ) {}

  async write(changes: ChangeSet): Promise<Written> {
    const actions = await Promise.all(changes.workloads.map((change) => this.apply(change)));
    await Promise.all(changes.failures.map((failure) => this.markFailed(failure)));
    actions.push(...(await Promise.all(changes.relabels.map((relabel) => this.relabel(relabel)))));
    if (changes.mainService) {
      actions.push(await ('desired' in changes.mainService ? this.apply(changes.mainService) : this.switchSelector(changes.mainService)));
    }
    for (const write of changes.routes?.writes ?? []) actions.push(await this.apply(write, { fenced: true }));
    actions.push(...(await this.removeAll(changes.routes?.deletes ?? [])));
    const deleted = await this.removeAll(changes.deletes);
    actions.push(...deleted);
    return { actions, deleted };
  }

  /**
   * What `write` will report, when all it has to write is updates of live route objects (every other
   * object as applied, nothing to label, mark or delete): known before writing, so the record can be
   * written at the same time (transitions/route-fence.ts). Undefined otherwise.
   */
  expected(changes: ChangeSet): Written | undefined {
    const main = changes.mainService;
    const mainUnchanged =
      !main ||
      ('desired' in main
        ? main.live !== undefined && isAsApplied(main.desired, main.live)
        : sameSelector(main.service.spec?.selector, { [APP_LABEL]: main.deploymentName }));
    const routeWrites = changes.routes?.writes ?? [];
    if (
      !mainUnchanged ||
      changes.failures.length > 0 ||
      changes.relabels.length > 0 ||
      changes.deletes.length > 0 ||
      (changes.routes?.deletes.length ?? 0) > 0 ||
      !changes.workloads.every(({ desired, live }) => live !== undefined && isAsApplied(desired, live)) ||
      !routeWrites.every(({ live }) => live !== undefined)
    ) {
      return undefined;
    }
    const unchanged = (object: KubernetesObject) => actionFor(object, 'unchanged');
    const actions = [
      ...changes.workloads.map(({ live }) => unchanged(live!)),
      ...(main ? [unchanged('desired' in main ? main.live! : main.service)] : []),
      ...routeWrites.map(({ desired, live }) => actionFor(live!, isAsApplied(desired, live) ? 'unchanged' : 'updated')),
    ];
    return { actions, deleted: [] };
  }

  /**
   * Applies the desired object unless the live one is what Mayday applied for it last (see
   * APPLIED_HASH_ANNOTATION). `fenced` (the routes): an update names the uid and resourceVersion it
   * was planned from, so it fails (KubeVersionConflictError) if anyone wrote or deleted the object
   * since (with the resourceVersion alone, an apply would create a deleted object again).
   */
  private async apply({ desired, live }: Apply, { fenced = false } = {}): Promise<ObjectAction> {
    if (live && isAsApplied(desired, live)) return actionFor(live, 'unchanged');
    const hashed = withAppliedHash(desired);
    const { uid, resourceVersion } = live?.metadata ?? {};
    const precondition = fenced && uid && resourceVersion ? { uid, resourceVersion } : undefined;
    const applied = await this.kube.apply(precondition ? { ...hashed, metadata: { ...hashed.metadata, ...precondition } } : hashed);
    return actionFor(applied, live ? 'updated' : 'created');
  }

  private async relabel({ object, labels }: Relabel): Promise<ObjectAction> {
    await this.kube.mergeMetadata(refOf(object), { labels });
    return actionFor(object, 'updated');
  }

  /** Records on the Deployment that it was taken out of traffic, and why (kept until its spec changes). */
  private async markFailed({ deployment, annotations, reason }: FailureMark): Promise<void> {
    await this.kube.mergeMetadata(refOf(deployment), { annotations });
    this.metrics.canaryFailures.inc({ reason: reason.split(':')[0] });
    this.logger.warn(`canary ${deployment.metadata?.namespace}/${deployment.metadata?.name} taken out of traffic: ${reason}`);
  }

  /** Replaces the Service's selector, then checks that it took: another manager may own it. */
  private async switchSelector({ service, deploymentName }: SelectorSwitch): Promise<ObjectAction> {
    const selector = { [APP_LABEL]: deploymentName };
    if (sameSelector(service.spec?.selector, selector)) return actionFor(service, 'unchanged');
    const { namespace, name } = service.metadata as { namespace: string; name: string };
    const patched = await this.kube.replaceServiceSelector(namespace, name, selector);
    if (!sameSelector(patched.spec?.selector, selector)) {
      throw new UnprocessableEventError(
        `Service ${namespace}/${name} still selects ${JSON.stringify(patched.spec?.selector)} after the switch to ${deploymentName}`,
      );
    }
    return actionFor(service, 'updated');
  }

  /** Deletes the listed objects (all Mayday's own, each guarded by its uid); already-gone ones are skipped. */
  private async removeAll(objects: KubernetesObject[]): Promise<ObjectAction[]> {
    const deleted = await Promise.all(
      objects.map(async (object) => ((await this.kube.delete(refOf(object), { uid: object.metadata?.uid })) ? object : undefined)),
    );
    return deleted.filter((object) => object !== undefined).map((object) => actionFor(object, 'deleted'));
  }
}

export function refOf(object: KubernetesObject): ObjectRef {
  return {
    apiVersion: object.apiVersion!,
    kind: object.kind!,
    namespace: object.metadata!.namespace!,
    name: object.metadata!.name!,
  };
}
