import { BadRequestException, Controller, Get, NotFoundException, Param, Query, UseGuards } from '@nestjs/common';
import { BearerAuthGuard } from '../../common/bearer-auth.guard';
import { ExperimentStatusService, type ExperimentStatusView } from './experiment-status.service';

/** What Mayday manages, read from the cluster, within its scope. Needs the webhook's bearer token. */
@Controller('experiments')
@UseGuards(BearerAuthGuard)
export class ExperimentsController {
  constructor(private readonly status: ExperimentStatusService) {}

  @Get()
  async list(
    @Query('namespace') namespace?: unknown,
    @Query('workspace') workspace?: unknown,
    @Query('status') status?: unknown,
  ): Promise<{ experiments: ExperimentStatusView[] }> {
    const filter = {
      namespace: single('namespace', namespace),
      workspace: single('workspace', workspace),
      status: single('status', status),
    };
    return { experiments: await this.status.list(filter) };
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<ExperimentStatusView> {
    const view = await this.status.get(id);
    if (!view) throw new NotFoundException(`Mayday has no record of experiment ${id}`);
    return view;
  }
}

/** A filter is one plain value: `?status=a&status=b` or `?status[x]=a` is a 400, not a crash. */
function single(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequestException(`query parameter "${name}" must be given once, as a plain value`);
  return value;
}
