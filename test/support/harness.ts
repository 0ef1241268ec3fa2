import { afterAll, beforeAll } from 'vitest';
import { startMayday, type Environment, type Reply, type RunningMayday } from './mayday';
import { experiment, webhook, type ExperimentSpec } from './payloads';
import { SuperpositionStandIn } from './superposition-stand-in';

export interface Harness {
  readonly standIn: SuperpositionStandIn;
  readonly mayday: RunningMayday;
  /**
   * Stores the experiment as Superposition would hold it, then delivers its webhook to Mayday, and, as
   * Superposition does, the ConfigChanged its context writes cause (which must be acknowledged: 2xx).
   */
  deliver(event: string, service: string, spec: ExperimentSpec, headers?: Record<string, string>): Promise<Reply>;
  /** Stops Mayday (the stand-in keeps running). */
  stop(): Promise<void>;
  /** Stops Mayday if it runs and starts a new instance with the same configuration. */
  restart(): Promise<void>;
}

/**
 * A Superposition stand-in and a Mayday pointed at it, started before the describe block's tests and
 * stopped after them. `env` is read when Mayday starts (so it may use values set in beforeAll).
 */
export function useMaydayWithSuperposition(env: () => Environment = () => ({})): Harness {
  const standIn = new SuperpositionStandIn();
  let mayday: RunningMayday | undefined;
  const start = async () => {
    mayday = await startMayday({ SUPERPOSITION_URL: standIn.url, ...env() });
  };
  beforeAll(async () => {
    await standIn.start();
    await start();
  });
  afterAll(async () => {
    await mayday?.close();
    await standIn.stop();
  });
  return {
    standIn,
    get mayday() {
      if (!mayday) throw new Error('Mayday is not running');
      return mayday;
    },
    async deliver(event, service, spec, headers) {
      const payload = experiment(spec);
      if (!standIn.hasWorkspace(service)) standIn.workspace(service, {});
      standIn.putExperiment(service, payload);
      const reply = await this.mayday.post('/webhooks/superposition', webhook(event, service, payload), headers);
      if (reply.status !== 200) return reply;
      for (const configChanged of standIn.configChangedWebhooks(event, service, payload)) {
        const answer = await this.mayday.post('/webhooks/superposition', configChanged, headers);
        if (answer.status !== 200) throw new Error(`ConfigChanged answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      }
      return reply;
    },
    async stop() {
      const running = mayday;
      mayday = undefined;
      await running?.close();
    },
    async restart() {
      await this.stop();
      await start();
    },
  };
}
