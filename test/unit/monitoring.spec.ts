import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetricsService } from '../../src/metrics/metrics.service';
import { testTools } from '../support/test-tools';

const ROOT = resolve(__dirname, '../..');
const MONITORING = join(ROOT, 'deploy', 'monitoring');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
}
interface RuleGroups {
  groups: { name: string; rules: Rule[] }[];
}
interface PrometheusRule {
  kind: string;
  spec: RuleGroups;
}
interface DashboardPanel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}
interface Dashboard {
  panels: DashboardPanel[];
  templating: { list: { name: string; query: unknown }[] };
}
interface AlertTests {
  rule_files: string[];
  tests: {
    alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[];
    promql_expr_test?: { expr: string; exp_samples: unknown[] }[];
  }[];
}

const prometheusRule = loadYaml<PrometheusRule>(readFileSync(join(MONITORING, 'prometheusrule.yaml'), 'utf8'));
const alertRules = prometheusRule.spec.groups.flatMap((group) => group.rules);
const alertTests = loadYaml<AlertTests>(readFileSync(join(MONITORING, 'tests', 'alerts.test.yaml'), 'utf8'));
const dashboard = JSON.parse(readFileSync(join(MONITORING, 'grafana-dashboard.json'), 'utf8')) as Dashboard;

/** Every series name Mayday's /metrics can show: its registry (histograms with their suffixes) and the gauges read when scraped. */
async function exportedMetricNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const metric of await new MetricsService().registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
  }
  // Registered by the services that own them (MetricsService.scrapedGauge): found where they are declared.
  for (const file of sourceFiles(join(ROOT, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(/scrapedGauge\(\s*'([a-z_:]+)'/g)) names.add(match[1]);
  }
  return names;
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(folder, entry.name)) : entry.name.endsWith('.ts') ? [join(folder, entry.name)] : [],
  );
}

/** The `mayday_*` names an expression uses (outside its string literals, which hold label values). */
function maydayMetricsIn(expr: string): string[] {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...code.matchAll(/\bmayday_[a-zA-Z0-9_:]*/g)].map((match) => match[0]);
}

/** A panel's expression as Prometheus sees it once Grafana has put in its variables. */
function withGrafanaVariables(expr: string): string {
  return expr.replace(/\$__(rate_)?interval|\$__range/g, '5m').replace(/\$\{?\w+\}?/g, 'all');
}

const dashboardExpressions = dashboard.panels.flatMap((panel) =>
  (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })),
);

function promtool(args: string[], cwd: string): { ok: boolean; output: string } {
  try {
    return { ok: true, output: execFileSync(testTools().promtool, args, { cwd, encoding: 'utf8', stdio: 'pipe' }) };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` || failure.message };
  }
}

describe('deploy/monitoring', () => {
  let work: string;

  beforeAll(() => {
    testTools();
    work = mkdtempSync(join(tmpdir(), 'mayday-monitoring-'));
  }, 15 * 60_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('ships the five alerts the issue asks for, as a PrometheusRule', () => {
    expect(prometheusRule.kind).toBe('PrometheusRule');
    expect(alertRules.map((rule) => rule.alert).sort()).toEqual([
      'MaydayAbsent',
      'MaydayCanaryFailed',
      'MaydayPromotionPending',
      'MaydayResyncFailing',
      'MaydayWebhookFailures',
    ]);
  });

  it('fires and stays quiet exactly as tests/alerts.test.yaml says (promtool test rules)', { timeout: 60_000 }, () => {
    // promtool reads Prometheus rule files, not the operator's resource: its spec is one.
    writeFileSync(join(work, alertTests.rule_files[0]), JSON.stringify(prometheusRule.spec, null, 2));
    copyFileSync(join(MONITORING, 'tests', 'alerts.test.yaml'), join(work, 'alerts.test.yaml'));
    const checked = promtool(['check', 'rules', alertTests.rule_files[0]], work);
    expect(checked.ok, checked.output).toBe(true);
    const tested = promtool(['test', 'rules', 'alerts.test.yaml'], work);
    expect(tested.ok, tested.output).toBe(true);
    expect(tested.output).toContain('SUCCESS');
  });

  it('tests every alert both firing and not firing', () => {
    for (const { alert } of alertRules) {
      const quiet = alertTests.tests.some((test) =>
        (test.alert_rule_test ?? []).some((check) => check.alertname === alert && check.exp_alerts.length === 0),
      );
      const firing = alertTests.tests.some((test) =>
        (test.promql_expr_test ?? []).some(
          (check) =>
            check.expr.includes(`alertname="${alert}"`) && check.expr.includes('alertstate="firing"') && check.exp_samples.length > 0,
        ),
      );
      expect({ alert, quiet, firing }).toEqual({ alert, quiet: true, firing: true });
    }
  });

  it('parses every dashboard panel expression (promtool check rules on them as recording rules)', { timeout: 60_000 }, () => {
    expect(dashboardExpressions.length).toBeGreaterThanOrEqual(10);
    const groups: RuleGroups = {
      groups: [
        {
          name: 'dashboard',
          rules: dashboardExpressions.map(({ expr }, index) => ({ record: `dashboard:panel_${index}`, expr: withGrafanaVariables(expr) })),
        },
      ],
    };
    writeFileSync(join(work, 'dashboard-rules.yaml'), JSON.stringify(groups, null, 2));
    const checked = promtool(['check', 'rules', 'dashboard-rules.yaml'], work);
    expect(checked.ok, checked.output).toBe(true);
    expect(checked.output).toContain(`SUCCESS: ${dashboardExpressions.length} rules found`);
  });

  it('a broken panel expression is caught by that check', { timeout: 60_000 }, () => {
    const groups: RuleGroups = {
      groups: [
        { name: 'broken', rules: [{ record: 'dashboard:broken', expr: 'sum by (le (rate(mayday_event_duration_seconds_bucket[5m]))' }] },
      ],
    };
    writeFileSync(join(work, 'broken-rules.yaml'), JSON.stringify(groups));
    expect(promtool(['check', 'rules', 'broken-rules.yaml'], work).ok).toBe(false);
  });

  it('names only metrics Mayday exports, in the dashboard, its variables and the alerts', async () => {
    const exported = await exportedMetricNames();
    expect(exported).toContain('mayday_experiments');
    const expressions = [
      ...dashboardExpressions,
      ...dashboard.templating.list
        .filter((variable) => typeof variable.query === 'object')
        .map((variable) => ({
          panel: `variable ${variable.name}`,
          expr: (variable.query as { query: string }).query,
        })),
      ...alertRules.map((rule) => ({ panel: `alert ${rule.alert}`, expr: rule.expr })),
    ];
    for (const { panel, expr } of expressions) {
      const used = maydayMetricsIn(expr);
      if (!panel.startsWith('alert MaydayAbsent')) expect(used.length, `${panel} uses a Mayday metric`).toBeGreaterThan(0);
      for (const name of used) expect(exported.has(name), `${panel}: ${name} is not a metric Mayday exports`).toBe(true);
    }
    expect(maydayMetricsIn('rate(mayday_invented_total{x="mayday_in_a_label"}[5m])')).toEqual(['mayday_invented_total']);
    expect(exported.has('mayday_invented_total')).toBe(false);
    expect(exported.has('mayday_event_duration_seconds_bucket')).toBe(true);
  });

  it('shows what the issue asks for: events by outcome, latency by transition, canary weights, failures, Kubernetes API errors', () => {
    const uses = (pattern: RegExp) => dashboardExpressions.some(({ expr }) => pattern.test(expr));
    expect(uses(/sum by \(outcome\) \(rate\(mayday_webhook_events_total/)).toBe(true);
    expect(uses(/histogram_quantile\(0\.95, sum by \(le, event\) \(rate\(mayday_event_duration_seconds_bucket/)).toBe(true);
    expect(uses(/by \(namespace, workspace, experiment, variant\) \(mayday_canary_weight/)).toBe(true);
    expect(uses(/mayday_canary_failures_total/)).toBe(true);
    expect(uses(/mayday_kube_api_calls_total\{outcome!="ok"\}/)).toBe(true);
  });
});
