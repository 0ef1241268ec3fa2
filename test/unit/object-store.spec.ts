import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ObjectStore } from '../../src/kubernetes/object-store';

function object(name: string, resourceVersion: string, labels: Record<string, string> = {}, namespace = 'ns'): KubernetesObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, resourceVersion, labels } };
}

const names = (store: ObjectStore) =>
  store
    .list(undefined)
    .map((item) => `${item.metadata?.name}@${item.metadata?.resourceVersion}`)
    .sort();

/** A store on a clock the test moves. */
function storeAt(limits = { ttlMs: 1000, max: 100 }) {
  const clock = { now: 0 };
  return { store: new ObjectStore(limits, () => clock.now), clock };
}

describe('ObjectStore', () => {
  it('keeps the newest version and ignores an older one arriving late', () => {
    const { store } = storeAt();
    store.upsert(object('a', '10'));
    store.upsert(object('a', '12'));
    store.upsert(object('a', '11'));
    expect(names(store)).toEqual(['a@12']);
  });

  it('ignores versions up to the deleted one, but takes a newer one (the object was made again)', () => {
    const { store } = storeAt();
    store.upsert(object('a', '10'));
    store.remove('ns', 'a', '11');
    store.upsert(object('a', '10'));
    store.upsert(object('a', '11'));
    expect(names(store)).toEqual([]);
    store.upsert(object('a', '12'));
    expect(names(store)).toEqual(['a@12']);
  });

  it('lists by namespace and labels', () => {
    const { store } = storeAt();
    store.upsert(object('a', '1', { app: 'x' }));
    store.upsert(object('b', '2', { app: 'y' }));
    store.upsert(object('c', '3', { app: 'x' }, 'other'));
    expect(store.list('ns', { app: 'x' }).map((item) => item.metadata?.name)).toEqual(['a']);
    expect(store.list(undefined, { app: 'x' }).map((item) => item.metadata?.name)).toEqual(['a', 'c']);
  });
});

describe('ObjectStore tombstones are bounded', () => {
  it('forgets a deletion after its time to live', () => {
    const { store, clock } = storeAt({ ttlMs: 1000, max: 100 });
    store.upsert(object('a', '10'));
    store.remove('ns', 'a');
    clock.now = 999;
    store.upsert(object('a', '10'));
    expect(names(store)).toEqual([]);
    clock.now = 1001;
    store.upsert(object('a', '10'));
    expect(names(store)).toEqual(['a@10']);
  });

  it('drops expired tombstones as new deletions come, so they do not pile up', () => {
    const { store, clock } = storeAt({ ttlMs: 1000, max: 100 });
    for (let index = 0; index < 50; index++) store.remove('ns', `old-${index}`, String(index + 1));
    expect(store.tombstoneCount).toBe(50);
    clock.now = 5000;
    store.remove('ns', 'new', '100');
    expect(store.tombstoneCount).toBe(1);
  });

  it('keeps at most `max` tombstones, dropping the oldest', () => {
    const { store } = storeAt({ ttlMs: 60_000, max: 3 });
    for (let index = 1; index <= 5; index++) store.remove('ns', `gone-${index}`, String(index * 10));
    expect(store.tombstoneCount).toBe(3);
    // The two oldest deletions are forgotten; the newest still stop their late versions.
    store.upsert(object('gone-1', '10'));
    store.upsert(object('gone-5', '50'));
    expect(names(store)).toEqual(['gone-1@10']);
  });
});

describe('ObjectStore.replace (a relist after the watch broke)', () => {
  it('holds exactly the listed objects: one deleted during the outage goes, and is reported', () => {
    const { store } = storeAt();
    store.upsert(object('kept', '10'));
    store.upsert(object('deleted-meanwhile', '11'));
    store.upsert(object('changed', '12'));
    const removed = store.replace([object('kept', '10'), object('changed', '20'), object('new', '21')], '25');
    expect(names(store)).toEqual(['changed@20', 'kept@10', 'new@21']);
    expect(removed.map((item) => item.metadata?.name)).toEqual(['deleted-meanwhile']);
  });

  it('keeps what Mayday wrote after the list was taken (read-your-writes), newer than the listed version', () => {
    const { store } = storeAt();
    store.upsert(object('written-after', '30'));
    store.upsert(object('updated-after', '31'));
    const removed = store.replace([object('updated-after', '20')], '25');
    expect(names(store)).toEqual(['updated-after@31', 'written-after@30']);
    expect(removed).toEqual([]);
  });

  it('keeps a deletion Mayday made after the list was taken, and forgets older ones', () => {
    const { store } = storeAt();
    store.remove('ns', 'deleted-after', '30');
    store.remove('ns', 'deleted-before', '10');
    store.replace([object('deleted-after', '20'), object('deleted-before', '5')], '25');
    expect(names(store)).toEqual(['deleted-before@5']);
    expect(store.tombstoneCount).toBe(1);
  });

  it('with an unreadable list version, takes the list as it is and forgets every deletion', () => {
    const { store } = storeAt();
    store.upsert(object('held', '30'));
    store.remove('ns', 'gone', '40');
    store.replace([object('gone', '20')], 'opaque');
    expect(names(store)).toEqual(['gone@20']);
    expect(store.tombstoneCount).toBe(0);
  });
});
