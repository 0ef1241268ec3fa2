import type { MaydayConfig } from './mayday-config';

/** Namespaces Mayday never acts in unless ALLOWED_NAMESPACES names them (Mayday's own is added to these). */
export const PROTECTED_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

/**
 * The namespaces and workspaces this Mayday may act on (ALLOWED_NAMESPACES, ALLOWED_WORKSPACES):
 * the one rule behind every scope check, for events (a 403 naming the reason), records, the
 * status API, retention, the closed loop and what the cluster cache watches.
 */
export class Scope {
  /** The entries of ALLOWED_NAMESPACES that apply in this cluster, without their cluster part. */
  readonly allowedNamespaces: readonly string[];

  constructor(
    /** ALLOWED_NAMESPACES as written; empty allows every namespace that is not protected. */
    readonly allowedNamespaceEntries: readonly string[],
    /** ALLOWED_WORKSPACES; empty allows every workspace. */
    readonly allowedWorkspaces: readonly string[],
    /** Mayday's own namespace, protected like kube-system. */
    readonly maydayNamespace: string,
    /** The cluster (CLUSTERS) this scope is for; undefined with one cluster. */
    readonly cluster?: string,
  ) {
    this.allowedNamespaces = namespacesAllowedIn(allowedNamespaceEntries, cluster);
  }

  static of(config: MaydayConfig): Scope {
    return new Scope(config.webhook.allowedNamespaces, config.webhook.allowedWorkspaces, config.maydayNamespace, config.clusters?.current);
  }

  /** Whether Mayday may act in this namespace for this workspace (and show what it did there). */
  allows(namespace: string, workspace: string): boolean {
    return this.namespaceRefusal(namespace) === undefined && this.workspaceRefusal(workspace) === undefined;
  }

  /** Why Mayday may not act in this namespace (a 403), or undefined when it may. */
  namespaceRefusal(namespace: string): string | undefined {
    if (this.allowedNamespaces.includes(namespace)) return undefined;
    if (this.allowedNamespaceEntries.length > 0) {
      return this.cluster === undefined
        ? `namespace "${namespace}" is not in ALLOWED_NAMESPACES`
        : `namespace "${namespace}" of cluster "${this.cluster}" is not in ALLOWED_NAMESPACES`;
    }
    if (namespace === this.maydayNamespace) {
      return `namespace "${namespace}" is Mayday's own namespace (its records live there); name it in ALLOWED_NAMESPACES to allow it`;
    }
    if (PROTECTED_NAMESPACES.includes(namespace)) {
      return `namespace "${namespace}" is protected; name it in ALLOWED_NAMESPACES to allow it`;
    }
    return undefined;
  }

  /** Why Mayday may not act for this workspace (a 403), or undefined when it may. */
  workspaceRefusal(workspace: string): string | undefined {
    if (this.allowedWorkspaces.length === 0 || this.allowedWorkspaces.includes(workspace)) return undefined;
    return `workspace "${workspace}" is not in ALLOWED_WORKSPACES`;
  }

  /** The namespaces whose objects Mayday needs to see: ALLOWED_NAMESPACES, or every namespace (undefined) when it is empty. */
  get namespaces(): readonly string[] | undefined {
    return this.allowedNamespaceEntries.length > 0 ? this.allowedNamespaces : undefined;
  }
}

/**
 * The namespaces ALLOWED_NAMESPACES allows in one cluster: its bare entries (every cluster) and its
 * `cluster/namespace` entries for that cluster (split at the last `/`: a namespace holds none, a context
 * name may). With one cluster (undefined) only bare entries exist.
 */
export function namespacesAllowedIn(entries: readonly string[], cluster: string | undefined): string[] {
  const allowed: string[] = [];
  for (const entry of entries) {
    const slash = entry.lastIndexOf('/');
    if (slash < 0) allowed.push(entry);
    else if (entry.slice(0, slash) === cluster) allowed.push(entry.slice(slash + 1));
  }
  return [...new Set(allowed)];
}
