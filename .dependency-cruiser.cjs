/**
 * The layering of src/ (docs/architecture.md, "Rooms"), checked by `npm run lint`. Feature modules are
 * the rooms with Nest providers or I/O; contract/, naming/, common/ and config/ sit below them all.
 */
const FEATURES =
  '^src/(clusters|experiments|webhooks|kubernetes|traffic|workloads|superposition|metrics|health|logging|notifications|analysis|ui)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle makes two files one: neither can be read, tested or moved without the other.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'contract-and-naming-are-leaves',
      comment: "Superposition's contract and Kubernetes' names are pure rules: they import no feature module.",
      severity: 'error',
      from: { path: '^src/(contract|naming)/' },
      to: { path: FEATURES },
    },
    {
      name: 'common-and-config-import-no-feature',
      comment: 'common/ (errors, deadlines, validation, the exception filter) and config/ serve every module and know none.',
      severity: 'error',
      from: { path: '^src/(common|config)/' },
      to: { path: FEATURES },
    },
    {
      name: 'kubernetes-knows-no-experiments',
      comment: 'The Kubernetes layer reads and writes objects; what an experiment is, is decided above it.',
      severity: 'error',
      from: { path: '^src/kubernetes/' },
      to: { path: '^src/experiments/' },
    },
    {
      name: 'plan-is-pure',
      comment: 'experiments/plan/ decides from its inputs: it reaches no service that reads or writes.',
      severity: 'error',
      from: { path: '^src/experiments/plan/' },
      to: {
        path: ['^src/experiments/(pipeline|transitions|records|status|closed-loop)/', '\\.service\\.ts$', '\\.client\\.ts$'],
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'no-unresolvable',
      comment: 'An import that resolves to nothing is a typo or a file that moved.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/ui/public/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
