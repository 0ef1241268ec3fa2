import { Controller, Get, NotFoundException, Param, Query, UseGuards } from '@nestjs/common';
import { BearerAuthGuard } from '../common/bearer-auth.guard';
import { ExperimentStatusService, type ExperimentStatusView } from './experiment-status.service';

/** What Mayday manages, read from the cluster. Needs the webhook's bearer token when WEBHOOK_TOKEN is set. */
@Controller('experiments')
@UseGuards(BearerAuthGuard)
export class ExperimentsController {
  constructor(private readonly status: ExperimentStatusService) {}

  @Get()
  async list(
    @Query('namespace') namespace?: string,
    @Query('workspace') workspace?: string,
    @Query('status') status?: string,
  ): Promise<{ experiments: ExperimentStatusView[] }> {
    return { experiments: await this.status.list({ namespace, workspace, status }) };
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<ExperimentStatusView> {
    const view = await this.status.get(id);
    if (!view) throw new NotFoundException(`Mayday has no record of experiment ${id}`);
    return view;
  }
}
