// Mayday's rollout page: reads the status API (GET ../experiments) with the bearer token a person
// signs in with, and draws every experiment from it, again every POLL_MS. Plain DOM, no framework:
// everything is built with createElement and textContent (no HTML from data), so the strict
// Content-Security-Policy Mayday serves it with holds.
'use strict';

(function () {
  const TOKEN_KEY = 'mayday.token';
  const POLL_MS = 2000;
  const COLORS = ['#3b6fd8', '#d9480f', '#2b8a3e', '#ae3ec9', '#e67700', '#0b7285', '#c2255c', '#5c940d'];
  const CONTROL_COLOR = '#8a94a6';
  const RUNNING = new Set(['INPROGRESS', 'PAUSED']);

  const $ = (id) => document.getElementById(id);
  const seen = { namespace: new Set(), workspace: new Set() };
  let pollTimer;
  let refreshes = 0;
  let focusedOnce = false;

  class SignInNeeded extends Error {}

  /** An element with attributes and children (strings become text nodes). */
  function h(tag, attributes, ...children) {
    const element = document.createElement(tag);
    setAttributes(element, attributes);
    for (const child of children.flat()) if (child !== undefined && child !== null && child !== false) element.append(child);
    return element;
  }

  function s(tag, attributes, ...children) {
    const element = document.createElementNS('http://www.w3.org/2000/svg', tag);
    setAttributes(element, attributes);
    for (const child of children.flat()) if (child !== undefined && child !== null && child !== false) element.append(child);
    return element;
  }

  function setAttributes(element, attributes) {
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'class') element.setAttribute('class', value);
      else element.setAttribute(name, String(value));
    }
  }

  async function api(path) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const response = await fetch(new URL(path, location.href), {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      cache: 'no-store',
    });
    if (response.status === 401) throw new SignInNeeded('the token was refused');
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(`${path}: HTTP ${response.status} ${body.message || ''}`);
    }
    return response.json();
  }

  function filters() {
    const form = $('filters');
    const query = new URLSearchParams();
    for (const name of ['namespace', 'workspace', 'status']) {
      const value = form.elements[name].value;
      if (value) query.set(name, value);
    }
    return query;
  }

  /** Reads and draws; only the latest call (a poll, a filter change, a sign-in) draws and schedules the next poll. */
  async function refresh() {
    clearTimeout(pollTimer);
    const call = ++refreshes;
    let outcome;
    try {
      const query = filters().toString();
      outcome = { experiments: (await api(`../experiments${query ? `?${query}` : ''}`)).experiments };
    } catch (error) {
      outcome = { error };
    }
    if (call !== refreshes) return;
    if (outcome.error instanceof SignInNeeded) return showSignIn(sessionStorage.getItem(TOKEN_KEY) ? 'The token was refused (401).' : '');
    if (outcome.error) {
      $('error').textContent = `Could not read the status API: ${outcome.error.message}`;
    } else {
      showBoard();
      $('error').textContent = '';
      render(outcome.experiments);
      $('refreshed').textContent = `updated ${new Date().toLocaleTimeString()} · every ${POLL_MS / 1000} s`;
    }
    pollTimer = setTimeout(refresh, POLL_MS);
  }

  function showBoard() {
    $('sign-in').hidden = true;
    $('board').hidden = false;
    $('sign-out').hidden = !sessionStorage.getItem(TOKEN_KEY);
  }

  function showSignIn(message) {
    clearTimeout(pollTimer);
    refreshes++; // a read still in flight draws nothing

    sessionStorage.removeItem(TOKEN_KEY);
    $('board').hidden = true;
    $('sign-out').hidden = true;
    $('sign-in').hidden = false;
    $('sign-in-error').textContent = message;
    $('token').focus();
  }

  function render(experiments) {
    for (const experiment of experiments) {
      seen.namespace.add(experiment.namespace);
      seen.workspace.add(experiment.workspace);
    }
    for (const name of ['namespace', 'workspace']) fillOptions($('filters').elements[name], seen[name]);
    $('empty').hidden = experiments.length > 0;
    const focus = new URLSearchParams(location.hash.slice(1)).get('experiment');
    $('experiments').replaceChildren(...experiments.map((experiment) => card(experiment, experiment.experimentId === focus)));
    if (focus && !focusedOnce) {
      const focused = document.querySelector('.experiment.focused');
      if (focused) {
        focused.scrollIntoView();
        focusedOnce = true;
      }
    }
  }

  function fillOptions(select, values) {
    const have = new Set([...select.options].map((option) => option.value));
    for (const value of [...values].sort()) if (!have.has(value)) select.append(h('option', { value }, value));
  }

  function card(experiment, focused) {
    const view = experiment;
    const running = RUNNING.has(view.status) || view.phase === 'promotion-pending';
    const experimental = view.variants.filter((variant) => variant.type === 'EXPERIMENTAL');
    const colors = new Map(view.variants.map((variant) => [variant.variantId, CONTROL_COLOR]));
    experimental.forEach((variant, index) => colors.set(variant.variantId, COLORS[index % COLORS.length]));
    return h(
      'section',
      { class: `experiment${focused ? ' focused' : ''}`, 'data-testid': 'experiment', 'data-experiment-id': view.experimentId },
      h(
        'h2',
        {},
        h('span', {}, `Experiment ${view.experimentId}`),
        h('span', { class: `badge ${view.status}`, 'data-testid': 'status' }, view.status),
        view.phase !== 'applied' && h('span', { class: 'badge', 'data-testid': 'phase' }, view.phase),
      ),
      h(
        'div',
        { class: 'meta' },
        // With several clusters (CLUSTERS) an experiment has one card per cluster it runs in.
        view.cluster !== undefined && h('span', { 'data-testid': 'cluster' }, `cluster ${view.cluster}`),
        h('span', {}, `workspace ${view.workspace}`),
        h('span', {}, `namespace ${view.namespace}`),
        h('span', {}, `last event ${view.lastEvent} at ${when(view.appliedAt)}`),
        view.trafficPercentage !== undefined &&
          h(
            'span',
            {},
            `traffic ${view.trafficPercentage} % per variant` +
              (view.effectiveTrafficPercentage !== view.trafficPercentage ? ` (${view.effectiveTrafficPercentage} % in its group)` : ''),
          ),
        safeLink(view.metricsUrl) &&
          h(
            'a',
            { href: safeLink(view.metricsUrl), target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'metrics-link' },
            'metrics',
          ),
      ),
      view.pendingReason && h('p', { class: 'pending', 'data-testid': 'pending-reason' }, `Promotion pending: ${view.pendingReason}`),
      view.scaleDownAt &&
        h('p', { class: 'pending', 'data-testid': 'scale-down-at' }, `Switched; what it retires is deleted at ${when(view.scaleDownAt)}`),
      h('p', { class: 'meta', 'data-testid': 'main-selector' }, mainText(view.main)),
      variantsTable(view, running, experimental, colors),
      h(
        'div',
        { class: 'columns' },
        h('div', {}, h('h3', {}, 'Weight over time'), chart(view, colors), legend(view, colors)),
        h('div', {}, h('h3', {}, 'Transitions (newest first)'), timeline(view)),
      ),
    );
  }

  function mainText(main) {
    if (!main.exists) return `Main Service ${main.service}: not there`;
    const selector = Object.entries(main.selector || {})
      .map(([key, value]) => `${key}=${value}`)
      .join(', ');
    return `Main Service ${main.service} selects ${selector || '(nothing)'}${main.managedByMayday ? '' : " (the Service is not Mayday's: it only switches its selector)"}`;
  }

  /** Each variant's share of traffic: the canaries' weights; the main Service has the rest. */
  function shareOf(variant, view, running, experimental) {
    const selected = variant.deployment && view.main.selects === variant.deployment.name;
    if (variant.type === 'EXPERIMENTAL') return variant.weight !== undefined ? variant.weight : selected ? 100 : 0;
    if (!running) return selected ? 100 : 0;
    return Math.max(0, 100 - experimental.reduce((sum, other) => sum + (other.weight || 0), 0));
  }

  function variantsTable(view, running, experimental, colors) {
    return h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['variant', 'share of traffic', 'ready / desired', 'state', 'Service'].map((title) => h('th', {}, title)),
        ),
      ),
      h(
        'tbody',
        {},
        view.variants.map((variant) => {
          const share = shareOf(variant, view, running, experimental);
          const deployment = variant.deployment;
          return h(
            'tr',
            { 'data-testid': 'variant', 'data-variant-id': variant.variantId },
            h(
              'td',
              {},
              h('div', {}, variant.variantId),
              h('div', { class: 'hint' }, variant.type, deployment && deployment.role ? ` · ${deployment.role}` : ''),
            ),
            h(
              'td',
              { class: 'share' },
              h(
                'span',
                { class: 'bar', 'data-testid': 'share-bar', 'data-share': share },
                h('span', { 'data-color': colors.get(variant.variantId) }),
              ),
              h('span', { 'data-testid': 'share' }, `${share} %`),
            ),
            h(
              'td',
              { 'data-testid': 'replicas' },
              deployment ? `${deployment.readyReplicas} / ${deployment.desiredReplicas}` : 'no Deployment',
            ),
            h(
              'td',
              {},
              variant.state && h('span', { class: `state-${variant.state}`, 'data-testid': 'state' }, variant.state),
              variant.reason && h('div', { class: 'hint', 'data-testid': 'state-reason' }, variant.reason),
            ),
            h('td', {}, variant.service || ''),
          );
        }),
      ),
    );
  }

  /** Only http(s) links: a metrics_url is whatever Superposition holds. */
  function safeLink(url) {
    try {
      const parsed = new URL(url);
      return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : undefined;
    } catch {
      return undefined;
    }
  }

  function when(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso || '' : date.toLocaleString();
  }

  /** The time alone for today's transitions, the date too for older ones. */
  function timeOf(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return iso || '';
    return date.toDateString() === new Date().toDateString() ? date.toLocaleTimeString() : date.toLocaleString();
  }

  function timeline(view) {
    const entries = [...view.history].reverse();
    if (entries.length === 0) return h('p', { class: 'hint' }, 'No transitions recorded yet.');
    return h(
      'ol',
      { class: 'timeline', 'data-testid': 'timeline' },
      entries.map((entry) =>
        h(
          'li',
          { class: entry.reason, 'data-testid': 'transition', 'data-reason': entry.reason },
          h('time', { datetime: entry.at, title: entry.at }, timeOf(entry.at)),
          h('span', { class: 'reason' }, entry.reason),
          entry.variantId && h('span', { class: 'hint' }, `${entry.variantId} `),
          h('span', {}, entry.note),
        ),
      ),
    );
  }

  /** Each experimental variant's weight as a step line over the recorded transitions, up to now. */
  function weightSeries(view) {
    const series = new Map();
    const experimental = view.variants.filter((variant) => variant.type === 'EXPERIMENTAL').map((variant) => variant.variantId);
    const point = (variantId, at, weight) => {
      if (!series.has(variantId)) series.set(variantId, []);
      series.get(variantId).push({ t: Date.parse(at), weight });
    };
    for (const entry of view.history) {
      if (entry.weight !== undefined && entry.variantId) point(entry.variantId, entry.at, entry.weight);
      else if (entry.reason === 'CanaryCreated' && entry.variantId && !series.has(entry.variantId)) point(entry.variantId, entry.at, 0);
      else if (entry.reason === 'Promoted') for (const id of experimental) point(id, entry.at, id === entry.variantId ? 100 : 0);
      else if (entry.reason === 'RolledBack') for (const id of series.keys()) point(id, entry.at, 0);
    }
    return series;
  }

  function chart(view, colors) {
    const width = 600;
    const height = 160;
    const pad = { left: 34, right: 8, top: 8, bottom: 20 };
    const series = weightSeries(view);
    const times = [...series.values()].flat().map((p) => p.t);
    const running = RUNNING.has(view.status) || view.phase !== 'applied';
    const end = running ? Date.now() : Math.max(...times, Date.parse(view.appliedAt) || 0);
    const start = times.length ? Math.min(...times) : end - 60_000;
    const span = Math.max(end - start, 1000);
    const x = (t) => pad.left + ((t - start) / span) * (width - pad.left - pad.right);
    const y = (weight) => pad.top + (1 - weight / 100) * (height - pad.top - pad.bottom);
    const grid = [0, 25, 50, 75, 100].map((weight) =>
      s(
        'g',
        {},
        s('line', { class: 'axis', x1: pad.left, x2: width - pad.right, y1: y(weight), y2: y(weight) }),
        s('text', { x: 2, y: y(weight) + 3 }, `${weight} %`),
      ),
    );
    const paths = [...series.entries()].map(([variantId, points]) => {
      let d = `M ${x(points[0].t).toFixed(1)} ${y(points[0].weight).toFixed(1)}`;
      for (const p of points.slice(1)) d += ` H ${x(p.t).toFixed(1)} V ${y(p.weight).toFixed(1)}`;
      d += ` H ${x(end).toFixed(1)}`;
      const last = points[points.length - 1].weight;
      return s('path', {
        d,
        stroke: colors.get(variantId) || COLORS[0],
        'data-testid': 'weight-line',
        'data-variant-id': variantId,
        'data-last-weight': last,
        'data-steps': points.length,
      });
    });
    return s(
      'svg',
      {
        class: 'chart',
        viewBox: `0 0 ${width} ${height}`,
        role: 'img',
        'aria-label': 'canary weight over time',
        'data-testid': 'weight-chart',
      },
      grid,
      s('text', { x: pad.left, y: height - 4 }, new Date(start).toLocaleTimeString()),
      s('text', { x: width - pad.right, y: height - 4, 'text-anchor': 'end' }, running ? 'now' : new Date(end).toLocaleTimeString()),
      paths,
    );
  }

  function legend(view, colors) {
    const experimental = view.variants.filter((variant) => variant.type === 'EXPERIMENTAL');
    return h(
      'div',
      { class: 'legend' },
      experimental.map((variant) => h('span', {}, h('i', { style: null, 'data-color': colors.get(variant.variantId) }), variant.variantId)),
    );
  }

  function paintBars() {
    // Widths and colours go through the CSSOM (allowed by the CSP), not inline style attributes (which are not).
    for (const bar of document.querySelectorAll('[data-share]')) bar.firstChild.style.width = `${bar.dataset.share}%`;
    for (const swatch of document.querySelectorAll('[data-color]')) swatch.style.background = swatch.dataset.color;
  }

  const observer = new MutationObserver(paintBars);

  function start() {
    observer.observe($('experiments'), { childList: true });
    $('sign-in').addEventListener('submit', (event) => {
      event.preventDefault();
      const token = $('token').value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      $('token').value = '';
      $('sign-in-error').textContent = '';
      refresh();
    });
    $('sign-out').addEventListener('click', () => showSignIn(''));
    $('filters').addEventListener('change', () => refresh());
    window.addEventListener('hashchange', () => {
      focusedOnce = false;
      refresh();
    });
    refresh();
  }

  start();
})();
