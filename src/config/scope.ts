import type { MaydayConfig } from './mayday-config';

/** Namespaces Mayday never acts in unless ALLOWED_NAMESPACES names them (Mayday's own is added to these). */
export const PROTECTED_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

/** The namespaces and workspaces this Mayday may act on. */
export interface Scope {
  /** ALLOWED_NAMESPACES; empty allows every namespace that is not protected. */
  allowedNamespaces: readonly string[];
  /** ALLOWED_WORKSPACES; empty allows every workspace. */
  allowedWorkspaces: readonly string[];
  /** Mayday's own namespace, protected like kube-system. */
  maydayNamespace: string;
}

export function scopeOf(config: MaydayConfig): Scope {
  return {
    allowedNamespaces: config.webhook.allowedNamespaces,
    allowedWorkspaces: config.webhook.allowedWorkspaces,
    maydayNamespace: config.maydayNamespace,
  };
}

/** Why Mayday may not act in this namespace (a 403), or undefined when it may. */
export function namespaceRefusal(namespace: string, scope: Scope): string | undefined {
  if (scope.allowedNamespaces.includes(namespace)) return undefined;
  if (scope.allowedNamespaces.length > 0) return `namespace "${namespace}" is not in ALLOWED_NAMESPACES`;
  if (namespace === scope.maydayNamespace) {
    return `namespace "${namespace}" is Mayday's own namespace (its records live there); name it in ALLOWED_NAMESPACES to allow it`;
  }
  if (PROTECTED_NAMESPACES.includes(namespace)) {
    return `namespace "${namespace}" is protected; name it in ALLOWED_NAMESPACES to allow it`;
  }
  return undefined;
}

/** Why Mayday may not act for this workspace (a 403), or undefined when it may. */
export function workspaceRefusal(workspace: string, scope: Scope): string | undefined {
  if (scope.allowedWorkspaces.length === 0 || scope.allowedWorkspaces.includes(workspace)) return undefined;
  return `workspace "${workspace}" is not in ALLOWED_WORKSPACES`;
}

/** Whether an experiment in this namespace and workspace is one this Mayday may act on (and show). */
export function isInScope(target: { namespace: string; workspace: string }, scope: Scope): boolean {
  return namespaceRefusal(target.namespace, scope) === undefined && workspaceRefusal(target.workspace, scope) === undefined;
}
